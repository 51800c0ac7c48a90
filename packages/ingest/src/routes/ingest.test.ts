import { buildSignature, HEADERS, INGEST_PATH } from '@sigpost/protocol';
import { hasDuplicate, parseFirstWins, tree, write } from '@sigpost/test-support/duplicate-keys';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { Admin } from '../admin.js';
import type { AcceptRequest, Store } from '../store/store.js';
import {
  BODY,
  deferred,
  ingestRequest,
  NOW,
  PRODUCER,
  SECRET,
  SIGNAL,
  signed,
  type TestEnv,
  testEnv,
  timestampAt,
  withOverride,
} from '../test-helpers/fixtures.js';

const PROBLEM_JSON = 'application/problem+json; charset=utf-8';
const JSON_UTF8 = 'application/json; charset=utf-8';

let env: TestEnv;
afterEach(async () => {
  await env?.close();
});

describe('POST /api/v1/signals/ingest: accepted', () => {
  it('stores a validly signed signal and answers 201 with a SignalIngestResponse', async () => {
    env = await testEnv();
    const res = await env.app.inject(ingestRequest({ idempotencyKey: 'key-1' }));
    expect(res.statusCode).toBe(201);
    expect(res.headers['content-type']).toBe(JSON_UTF8);
    const body = res.json();
    expect(body).toEqual({
      signal_id: expect.stringMatching(/^sig_[0-9A-HJKMNP-TV-Z]{26}$/),
      status: 'received',
      server_timestamp: '2025-10-25T14:30:45.123000Z',
      message: null,
      errors: null,
    });
    const stored = await env.store.getSignal(body.signal_id);
    expect(stored).toMatchObject({
      producerId: PRODUCER,
      idempotencyKey: 'key-1',
      instrument: 'GOLD',
      side: 'buy',
      status: 'received',
      body: BODY,
      receivedAt: NOW,
    });
  });

  it('verifies the signature over the raw bytes: odd spacing and key order are kept as sent', async () => {
    env = await testEnv();
    const raw = `{ "side":"buy",   "instrument" : "GOLD","entry_price":1950.50,"stop_loss":1945,\n"take_profit":1960,"confidence":0.85,"reason":"test_signal","timestamp":"${SIGNAL.timestamp}"}`;
    const res = await env.app.inject(ingestRequest({ body: raw }));
    expect(res.statusCode).toBe(201);
    expect((await env.store.getSignal(res.json().signal_id))?.body).toBe(raw);
  });

  it('accepts application/json with parameters', async () => {
    env = await testEnv();
    const res = await env.app.inject(ingestRequest({ contentType: 'Application/JSON; charset=UTF-8' }));
    expect(res.statusCode).toBe(201);
  });

  it('accepts a timestamp exactly at the edge of the window (300 s behind)', async () => {
    env = await testEnv();
    const res = await env.app.inject(ingestRequest({ timestamp: '2025-10-25T14:25:45.123Z' }));
    expect(res.statusCode).toBe(201);
  });

  it('accepts a request without an idempotency key', async () => {
    env = await testEnv();
    const res = await env.app.inject(ingestRequest({ idempotencyKey: null }));
    expect(res.statusCode).toBe(201);
    expect((await env.store.getSignal(res.json().signal_id))?.idempotencyKey).toBeNull();
  });

  it('queues a signal from a manual-approval producer as pending_approval', async () => {
    env = await testEnv({ producer: { approval: 'manual' } });
    const res = await env.app.inject(ingestRequest());
    expect(res.statusCode).toBe(201);
    expect(res.json()).toMatchObject({ status: 'pending_approval', message: 'queued for operator approval' });
    expect((await env.store.getSignal(res.json().signal_id))?.status).toBe('pending_approval');
  });

  it('stores a signal for an instrument outside the allow-list as rejected, with a message', async () => {
    env = await testEnv({ producer: { instruments: ['EURUSD', 'XAGUSD'] } });
    const res = await env.app.inject(ingestRequest());
    expect(res.statusCode).toBe(201);
    expect(res.json()).toMatchObject({
      status: 'rejected',
      message: 'instrument GOLD is not in the allow-list of producer test-producer',
    });
    const stored = await env.store.getSignal(res.json().signal_id);
    expect(stored).toMatchObject({
      status: 'rejected',
      decidedBy: 'policy:instrument-allow-list',
      decidedAt: NOW,
    });
  });

  it('accepts an instrument inside the allow-list as received', async () => {
    env = await testEnv({ producer: { instruments: ['GOLD'] } });
    const res = await env.app.inject(ingestRequest());
    expect(res.json()).toMatchObject({ status: 'received' });
  });
});

describe('POST /api/v1/signals/ingest: idempotency and replays', () => {
  it('answers a repeat with the same key and body with the stored response, byte for byte, and Idempotent-Replayed', async () => {
    env = await testEnv();
    const first = await env.app.inject(ingestRequest({ idempotencyKey: 'retry-me' }));
    // A retry re-signs with a fresh timestamp: a new signature, the same key and body.
    env.clock.advance(2_000);
    const second = await env.app.inject(
      ingestRequest({ idempotencyKey: 'retry-me', timestamp: '2025-10-25T14:30:47.000001Z' }),
    );
    expect(first.statusCode).toBe(201);
    expect(first.headers[HEADERS.idempotentReplayed.toLowerCase()]).toBeUndefined();
    expect(second.statusCode).toBe(201);
    expect(second.headers[HEADERS.idempotentReplayed.toLowerCase()]).toBe('true');
    expect(second.headers['content-type']).toBe(JSON_UTF8);
    expect(second.rawPayload.equals(first.rawPayload)).toBe(true);
    expect((await env.store.listSignals({})).items).toHaveLength(1);
  });

  it('answers the exact same request sent twice with the stored response (not a replay refusal)', async () => {
    env = await testEnv();
    const request = ingestRequest({ idempotencyKey: 'same-bytes' });
    const first = await env.app.inject(request);
    const second = await env.app.inject(request);
    expect(second.statusCode).toBe(201);
    expect(second.headers['idempotent-replayed']).toBe('true');
    expect(second.payload).toBe(first.payload);
  });

  it('refuses a key reused with a different body with 422', async () => {
    env = await testEnv();
    await env.app.inject(ingestRequest({ idempotencyKey: 'k-422' }));
    const res = await env.app.inject(
      ingestRequest({ idempotencyKey: 'k-422', body: JSON.stringify({ ...SIGNAL, reason: 'another' }) }),
    );
    expect(res.statusCode).toBe(422);
    expect(res.headers['content-type']).toBe(PROBLEM_JSON);
    expect(res.json()).toEqual({
      type: 'urn:sigpost:problem:idempotency-key-reused',
      title: 'Idempotency key reused with a different body',
      status: 422,
      detail:
        'this idempotency key was already used with a different body, which differs in: reason; use a new key for a new signal, or send the first body again, byte for byte, to get its answer',
      differing_fields: ['reason'],
    });
  });

  it('names every top-level field that differs, and the first timestamp when it is one of them', async () => {
    env = await testEnv();
    await env.app.inject(ingestRequest({ idempotencyKey: 'k-fields' }));
    const { payload: _, ...withoutPayload } = SIGNAL;
    const body = JSON.stringify({ ...withoutPayload, timestamp: '2025-10-25T14:31:00Z', confidence: 0.5 });
    const res = await env.app.inject(ingestRequest({ idempotencyKey: 'k-fields', body }));
    expect(res.statusCode).toBe(422);
    expect(res.json()).toMatchObject({
      detail: expect.stringContaining('differs in: confidence, payload, timestamp;'),
      differing_fields: ['confidence', 'payload', 'timestamp'],
      first_timestamp: SIGNAL.timestamp,
    });
  });

  it('still refuses with 422, saying less, when the first body cannot be read (and logs why)', async () => {
    env = await testEnv({
      wrapStore: (store) =>
        withOverride(store, {
          getSignal: async () => {
            throw new Error('disk on fire');
          },
        }),
    });
    await env.app.inject(ingestRequest({ idempotencyKey: 'k-unread' }));
    const body = JSON.stringify({ ...SIGNAL, reason: 'another' });
    const res = await env.app.inject(ingestRequest({ idempotencyKey: 'k-unread', body }));
    expect(res.statusCode).toBe(422);
    expect(res.json()).toEqual({
      type: 'urn:sigpost:problem:idempotency-key-reused',
      title: 'Idempotency key reused with a different body',
      status: 422,
      detail: 'this idempotency key was already used with a different body; use a new key for a new signal',
    });
    expect(
      env.logs.some((line) => line.includes('could not read the first body of a reused idempotency key')),
    ).toBe(true);
  });

  it('says when the bodies differ only in how they are written (spacing, key order, number format)', async () => {
    env = await testEnv();
    await env.app.inject(ingestRequest({ idempotencyKey: 'k-format' }));
    const { instrument, ...rest } = SIGNAL;
    const body = JSON.stringify({ ...rest, instrument }, null, 1).replace('1950.5', '1950.50');
    const res = await env.app.inject(ingestRequest({ idempotencyKey: 'k-format', body }));
    expect(res.statusCode).toBe(422);
    expect(res.json().differing_fields).toEqual([]);
    expect(res.json().detail).toContain('the same fields and values, written differently');
    expect(res.json()).not.toHaveProperty('first_timestamp');
  });

  it('forgets a key after idempotencyTtlSeconds: the key then names a new signal', async () => {
    env = await testEnv({ config: { idempotencyTtlSeconds: 60 } });
    const first = await env.app.inject(ingestRequest({ idempotencyKey: 'short-lived' }));
    env.clock.advance(59_000);
    const other = JSON.stringify({ ...SIGNAL, reason: 'another' });
    const early = await env.app.inject(
      ingestRequest({ idempotencyKey: 'short-lived', body: other, timestamp: timestampAt(59_000) }),
    );
    expect(early.statusCode).toBe(422);
    env.clock.advance(2_000);
    const late = await env.app.inject(
      ingestRequest({ idempotencyKey: 'short-lived', body: other, timestamp: timestampAt(61_000) }),
    );
    expect(late.statusCode).toBe(201);
    expect(late.json().signal_id).not.toBe(first.json().signal_id);
  });

  it('refuses a request whose key is still in flight with 409 and Retry-After', async () => {
    const entered = deferred();
    const release = deferred();
    env = await testEnv({
      wrapStore: (store) => holdAcceptBatch(store, entered.resolve, release.promise),
    });
    const first = env.app.inject(ingestRequest({ idempotencyKey: 'busy' }));
    await entered.promise;
    const second = await env.app.inject(
      ingestRequest({ idempotencyKey: 'busy', timestamp: '2025-10-25T14:30:46Z' }),
    );
    release.resolve();
    expect(second.statusCode).toBe(409);
    expect(second.headers['retry-after']).toBe('1');
    expect(second.json()).toEqual({
      type: 'urn:sigpost:problem:request-in-flight',
      title: 'A request with this idempotency key is in flight',
      status: 409,
      detail: 'a request with this idempotency key is still being processed; retry shortly with the same key',
    });
    expect((await first).statusCode).toBe(201);
  });

  it('frees an idempotency key whose commit failed: the retry with the same key is stored', async () => {
    let failures = 1;
    env = await testEnv({
      wrapStore: (store) =>
        withOverride(store, {
          acceptBatch: async (batch: readonly AcceptRequest[]) => {
            if (failures-- > 0) throw new Error('disk I/O error');
            return store.acceptBatch(batch);
          },
        }),
    });
    const first = await env.app.inject(ingestRequest({ idempotencyKey: 'after-failure' }));
    expect(first.statusCode).toBe(503);
    expect(env.app.sigpost.inFlight.size).toBe(0);
    const retry = await env.app.inject(
      ingestRequest({ idempotencyKey: 'after-failure', timestamp: timestampAt(1_000) }),
    );
    expect(retry.statusCode).toBe(201);
    expect(retry.headers['idempotent-replayed']).toBeUndefined();
  });

  it('refuses an accepted signature sent again under a new key with 409 replayed-signature', async () => {
    env = await testEnv();
    const original = signed({ idempotencyKey: 'original' });
    await env.app.inject({
      method: 'POST',
      url: INGEST_PATH,
      headers: original.headers,
      payload: original.body,
    });
    const replay = { ...original.headers, [HEADERS.idempotencyKey]: 'attacker-chosen' };
    const res = await env.app.inject({
      method: 'POST',
      url: INGEST_PATH,
      headers: replay,
      payload: original.body,
    });
    expect(res.statusCode).toBe(409);
    expect(res.json()).toEqual({
      type: 'urn:sigpost:problem:replayed-signature',
      title: 'Signature already accepted',
      status: 409,
      detail: 'this signature was already accepted; sign every new attempt with a fresh X-Timestamp',
    });
    expect((await env.store.listSignals({})).items).toHaveLength(1);
  });

  it('refuses an accepted signature sent again without a key with 409 replayed-signature', async () => {
    env = await testEnv();
    const request = ingestRequest({ idempotencyKey: null });
    expect((await env.app.inject(request)).statusCode).toBe(201);
    const res = await env.app.inject(request);
    expect(res.statusCode).toBe(409);
    expect(res.json().type).toBe('urn:sigpost:problem:replayed-signature');
  });

  it('refuses a malformed idempotency key with 400 invalid-idempotency-key', async () => {
    env = await testEnv();
    const res = await env.app.inject(ingestRequest({ idempotencyKey: 'has space' }));
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({
      type: 'urn:sigpost:problem:invalid-idempotency-key',
      title: 'Malformed idempotency key',
      status: 400,
      detail: 'X-Idempotency-Key must be 1–255 visible ASCII characters (0x21–0x7E)',
    });
  });
});

describe('POST /api/v1/signals/ingest: refusals', () => {
  it('refuses a body that is not JSON with 400 malformed-json', async () => {
    env = await testEnv();
    const res = await env.app.inject(ingestRequest({ body: '{"instrument": ' }));
    expect(res.statusCode).toBe(400);
    expect(res.headers['content-type']).toBe(PROBLEM_JSON);
    expect(res.json()).toEqual({
      type: 'urn:sigpost:problem:malformed-json',
      title: 'Body is not valid JSON',
      status: 400,
      detail:
        'request body is not valid UTF-8 JSON: instrument: expected a JSON value, found the end of the body',
    });
  });

  it('refuses a body that is not UTF-8 with 400 malformed-json', async () => {
    env = await testEnv();
    const res = await env.app.inject(ingestRequest({ body: Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x7d]) }));
    expect(res.statusCode).toBe(400);
    expect(res.json().type).toBe('urn:sigpost:problem:malformed-json');
  });

  it('refuses an invalid signal with 400 invalid-signal listing every field problem', async () => {
    env = await testEnv();
    const body = JSON.stringify({ ...SIGNAL, stop_loss: 1955, confidence: 2, extra: 1 });
    const res = await env.app.inject(ingestRequest({ body }));
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({
      type: 'urn:sigpost:problem:invalid-signal',
      title: 'Signal failed validation',
      status: 400,
      detail: 'the signal has 3 problems',
      errors: [
        'confidence: expected a number from 0 to 1',
        'extra: unknown field',
        'stop_loss: expected below entry_price for a buy',
      ],
    });
  });

  it.each([HEADERS.producerId, HEADERS.timestamp, HEADERS.signature])(
    'refuses a request without %s with 401 missing-auth-headers',
    async (header) => {
      env = await testEnv();
      const res = await env.app.inject(ingestRequest({ headers: { [header]: undefined } }));
      expect(res.statusCode).toBe(401);
      expect(res.json()).toEqual({
        type: 'urn:sigpost:problem:missing-auth-headers',
        title: 'Missing or malformed authentication headers',
        status: 401,
        detail: `missing ${header} header`,
      });
    },
  );

  it('names every missing auth header at once', async () => {
    env = await testEnv();
    const res = await env.app.inject({
      method: 'POST',
      url: INGEST_PATH,
      headers: { 'content-type': 'application/json' },
      payload: BODY,
    });
    expect(res.json().detail).toBe('missing X-Producer-Id, X-Timestamp, X-Signature headers');
  });

  it('refuses a malformed X-Timestamp with 401 missing-auth-headers', async () => {
    env = await testEnv();
    const res = await env.app.inject(ingestRequest({ timestamp: '2025-10-25 14:30:45' }));
    expect(res.statusCode).toBe(401);
    expect(res.json()).toMatchObject({
      type: 'urn:sigpost:problem:missing-auth-headers',
      detail: 'X-Timestamp must be an RFC 3339 date-time such as 2025-10-25T14:30:45.123456Z',
    });
  });

  it('refuses a malformed X-Producer-Id with 401 missing-auth-headers', async () => {
    env = await testEnv();
    const res = await env.app.inject(ingestRequest({ producerId: 'has space' }));
    expect(res.statusCode).toBe(401);
    expect(res.json().detail).toBe('X-Producer-Id must be 1–64 characters of A-Z a-z 0-9 . _ -');
  });

  it('refuses a timestamp too old with 401, saying how far behind and the server time', async () => {
    env = await testEnv();
    const res = await env.app.inject(ingestRequest({ timestamp: '2025-10-25T14:25:44.123456Z' }));
    expect(res.statusCode).toBe(401);
    expect(res.json()).toEqual({
      type: 'urn:sigpost:problem:timestamp-out-of-window',
      title: 'Timestamp outside the accepted window',
      status: 401,
      detail:
        'X-Timestamp is 301 s behind server time 2025-10-25T14:30:45.123000Z; the accepted window is ±300 s. ' +
        "Check the producer's clock (NTP) and sign each attempt afresh.",
      server_timestamp: '2025-10-25T14:30:45.123000Z',
      skew_seconds: -301,
    });
  });

  it('refuses a timestamp too new with 401, saying how far ahead', async () => {
    env = await testEnv();
    const res = await env.app.inject(ingestRequest({ timestamp: '2025-10-25T14:40:45.123Z' }));
    expect(res.statusCode).toBe(401);
    expect(res.json().detail).toBe(
      'X-Timestamp is 600 s ahead of server time 2025-10-25T14:30:45.123000Z; the accepted window is ±300 s. ' +
        "Check the producer's clock (NTP) and sign each attempt afresh.",
    );
    expect(res.json().skew_seconds).toBe(600);
  });

  it('answers an unknown producer and a bad signature with the identical 401', async () => {
    env = await testEnv();
    const unknown = await env.app.inject(ingestRequest({ producerId: 'nobody' }));
    const badSignature = await env.app.inject(ingestRequest({ secret: 'not-the-right-secret-at-all' }));
    expect(unknown.statusCode).toBe(401);
    expect(badSignature.statusCode).toBe(401);
    expect(unknown.payload).toBe(badSignature.payload);
    expect(unknown.headers['content-type']).toBe(badSignature.headers['content-type']);
    expect(unknown.json()).toEqual({
      type: 'urn:sigpost:problem:invalid-signature',
      title: 'Unknown producer or invalid signature',
      status: 401,
      detail:
        'unknown producer or invalid signature: check X-Producer-Id and the secret, and sign the exact body bytes sent',
    });
  });

  it('refuses a body changed after signing with 401 invalid-signature', async () => {
    env = await testEnv();
    const { headers } = signed();
    const res = await env.app.inject({ method: 'POST', url: INGEST_PATH, headers, payload: `${BODY} ` });
    expect(res.json().type).toBe('urn:sigpost:problem:invalid-signature');
  });

  it('refuses a Content-Type other than application/json with 415 (after authentication)', async () => {
    env = await testEnv();
    const res = await env.app.inject(ingestRequest({ contentType: 'text/plain' }));
    expect(res.statusCode).toBe(415);
    expect(res.json()).toEqual({
      type: 'urn:sigpost:problem:unsupported-media-type',
      title: 'Content-Type must be application/json',
      status: 415,
      detail: 'Content-Type must be application/json',
    });
  });

  it('refuses a missing Content-Type with 415', async () => {
    env = await testEnv();
    const res = await env.app.inject(ingestRequest({ contentType: null }));
    expect(res.statusCode).toBe(415);
    expect(res.json().detail).toBe('Content-Type must be application/json; the header is missing');
  });

  it('refuses a charset other than utf-8 with 415', async () => {
    env = await testEnv();
    const res = await env.app.inject(ingestRequest({ contentType: 'application/json; charset=iso-8859-1' }));
    expect(res.statusCode).toBe(415);
    expect(res.json().detail).toBe('Content-Type charset must be utf-8');
  });

  it('refuses a body over the limit by its Content-Length with 413, before anything else', async () => {
    env = await testEnv();
    // Wrong content type, no auth headers at all: the size is still the first check.
    const res = await env.app.inject({
      method: 'POST',
      url: INGEST_PATH,
      headers: { 'content-type': 'text/plain' },
      payload: 'x'.repeat(65_537),
    });
    expect(res.statusCode).toBe(413);
    expect(res.headers.connection).toBe('close');
    expect(res.json()).toEqual({
      type: 'urn:sigpost:problem:body-too-large',
      title: 'Request body too large',
      status: 413,
      detail: 'request body exceeds the limit of 65536 bytes',
    });
  });

  it('refuses an oversized body with a malformed Content-Type with 413, not 415', async () => {
    env = await testEnv();
    const res = await env.app.inject({
      method: 'POST',
      url: INGEST_PATH,
      headers: { 'content-type': 'not a media type' },
      payload: 'x'.repeat(70_000),
    });
    expect(res.statusCode).toBe(413);
  });

  it('authenticates before looking at a malformed Content-Type', async () => {
    env = await testEnv();
    const res = await env.app.inject(
      ingestRequest({ contentType: 'garbage', secret: 'wrong-secret-of-enough-bytes' }),
    );
    expect(res.statusCode).toBe(401);
  });

  it('accepts a body of exactly the limit size (then judges it as JSON)', async () => {
    env = await testEnv({ config: { maxBodyBytes: 2048 } });
    const padded = JSON.stringify({ ...SIGNAL, reason: 'r' })
      .replace(/}$/, `${' '.repeat(2048)}}`)
      .slice(0, 2047);
    const body = `${padded}}`;
    expect(Buffer.byteLength(body)).toBe(2048);
    const res = await env.app.inject(ingestRequest({ body }));
    expect(res.statusCode).toBe(201);
  });

  it('refuses a producer over its rate limit with 429 and Retry-After, after authentication', async () => {
    env = await testEnv({ config: { rateLimit: { perSecond: 0.5, burst: 2 } } });
    expect((await env.app.inject(ingestRequest({ timestamp: timestampAt(1) }))).statusCode).toBe(201);
    expect((await env.app.inject(ingestRequest({ timestamp: timestampAt(2) }))).statusCode).toBe(201);
    // Malformed JSON: the rate limit is checked before the body is parsed.
    const res = await env.app.inject(ingestRequest({ body: 'not json' }));
    expect(res.statusCode).toBe(429);
    expect(res.headers['retry-after']).toBe('2');
    expect(res.json()).toEqual({
      type: 'urn:sigpost:problem:rate-limited',
      title: 'Producer over its rate limit',
      status: 429,
      detail: 'producer is over its rate limit of 0.5 signals/s (burst 2); retry after 2 s',
    });
    env.clock.advance(2_000);
    expect((await env.app.inject(ingestRequest({ timestamp: timestampAt(3) }))).statusCode).toBe(201);
  });

  it('does not charge refused unauthenticated requests to the producer', async () => {
    env = await testEnv({ config: { rateLimit: { perSecond: 0.5, burst: 1 } } });
    for (let i = 0; i < 3; i++)
      await env.app.inject(ingestRequest({ secret: 'wrong-secret-of-enough-bytes' }));
    expect((await env.app.inject(ingestRequest())).statusCode).toBe(201);
  });

  it('answers 503 store-unavailable with Retry-After when the store fails to commit', async () => {
    env = await testEnv({
      wrapStore: (store) =>
        withOverride(store, {
          acceptBatch: async () => {
            throw new Error('disk I/O error');
          },
        }),
    });
    const res = await env.app.inject(ingestRequest());
    expect(res.statusCode).toBe(503);
    expect(res.headers['retry-after']).toBe('1');
    expect(res.json()).toEqual({
      type: 'urn:sigpost:problem:store-unavailable',
      title: 'Storage unavailable',
      status: 503,
      detail: 'the signal store is unavailable; retry with the same idempotency key',
    });
    expect(env.logs.join('')).toContain('disk I/O error');
  });
});

describe('POST /api/v1/signals/ingest: body limits and duplicate keys', () => {
  const withPayload = (payload: string) =>
    `${BODY.slice(0, -1).replace(/,"payload":.*$/, '')},"payload":${payload}}`;

  it('refuses a body nested 10,000 levels deep with 400 invalid-signal naming the limit, and stores nothing', async () => {
    env = await testEnv();
    const body = withPayload(`{"x":${'['.repeat(10_000)}${']'.repeat(10_000)}}`);
    const res = await env.app.inject(ingestRequest({ body }));
    expect(res.statusCode).toBe(400);
    expect(res.headers['content-type']).toBe(PROBLEM_JSON);
    const problem = res.json();
    expect(problem).toMatchObject({
      type: 'urn:sigpost:problem:invalid-signal',
      detail: expect.stringMatching(
        /^the body is over the maxDepth limit \(docs\/protocol\.md, Body limits\): payload\.x(\[0\]){30}: nested over the limit of 32 levels$/,
      ),
    });
    expect(problem.errors).toEqual([expect.stringMatching(/nested over the limit of 32 levels$/)]);
    expect((await env.store.listSignals({})).items).toHaveLength(0);
  });

  it('accepts 32 levels of nesting and refuses 33', async () => {
    env = await testEnv();
    const nested = (levels: number) => `${'{"a":'.repeat(levels - 1)}{}${'}'.repeat(levels - 1)}`;
    // The body is level 1 and payload level 2: a payload of 31 levels makes 32.
    const ok = await env.app.inject(ingestRequest({ body: withPayload(nested(31)) }));
    expect(ok.statusCode).toBe(201);
    const over = await env.app.inject(ingestRequest({ body: withPayload(nested(32)) }));
    expect(over.statusCode).toBe(400);
    expect(over.json().errors).toEqual([`payload${'.a'.repeat(31)}: nested over the limit of 32 levels`]);
  });

  it.each([
    [
      'keys in one object',
      `{${Array.from({ length: 257 }, (_, k) => `"k${k}":0`).join(',')}}`,
      'payload: object over the limit of 256 keys',
    ],
    [
      'array elements',
      `{"ids":[${Array(1025).fill(1).join(',')}]}`,
      'payload.ids: array over the limit of 1024 elements',
    ],
    [
      'string length',
      `{"note":"${'x'.repeat(4097)}"}`,
      'payload.note: string over the limit of 4096 characters',
    ],
  ])('refuses a body over the limit of %s with 400 invalid-signal', async (_, payload, error) => {
    env = await testEnv();
    const res = await env.app.inject(ingestRequest({ body: withPayload(payload) }));
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ type: 'urn:sigpost:problem:invalid-signal', errors: [error] });
  });

  it('refuses a number consumers cannot read back (1e400, an integer past 2^53 − 1) with 400 invalid-signal naming the path and the limit, and stores nothing', async () => {
    env = await testEnv();
    const infinite = await env.app.inject(ingestRequest({ body: withPayload('{"n":1e400}') }));
    expect(infinite.statusCode).toBe(400);
    expect(infinite.headers['content-type']).toBe(PROBLEM_JSON);
    const error =
      'payload.n: number 1e400 out of the range of a double (±1.7976931348623157e+308); consumers would read Infinity or fail';
    expect(infinite.json()).toEqual({
      type: 'urn:sigpost:problem:invalid-signal',
      title: 'Signal failed validation',
      status: 400,
      detail: `the body has a number out of the range of a double (docs/protocol.md, Body limits): ${error}`,
      errors: [error],
    });
    const rounded = await env.app.inject(
      ingestRequest({ body: withPayload('{"qty":[1,12345678901234567890123]}') }),
    );
    expect(rounded.statusCode).toBe(400);
    expect(rounded.json()).toMatchObject({
      type: 'urn:sigpost:problem:invalid-signal',
      detail:
        'the body is over the maxInteger limit (docs/protocol.md, Body limits): payload.qty[1]: integer 12345678901234567890123 over the limit of ±9007199254740991 (2^53 − 1), the largest that every consumer reads exactly; send a larger integer as a string',
    });
    expect((await env.store.listSignals({})).items).toHaveLength(0);
    const edge = await env.app.inject(
      ingestRequest({ body: withPayload('{"qty":-9007199254740991,"px":1.7976931348623157e308}') }),
    );
    expect(edge.statusCode).toBe(201);
  });

  it('refuses a duplicate key at the top level with 400 invalid-signal naming it (consumers would disagree on the side)', async () => {
    env = await testEnv();
    const body = BODY.replace('"side":"buy"', '"side":"sell","side":"buy"');
    const res = await env.app.inject(ingestRequest({ body }));
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({
      type: 'urn:sigpost:problem:invalid-signal',
      title: 'Signal failed validation',
      status: 400,
      detail: 'the body has a duplicate key at side; send each key once per object',
      errors: [
        'side: duplicate key; each key may appear once per object (consumers disagree on which value wins)',
      ],
    });
    expect((await env.store.listSignals({})).items).toHaveLength(0);
  });

  it('refuses a duplicate key at any depth, also when written with escapes, naming its path', async () => {
    env = await testEnv();
    const res = await env.app.inject(ingestRequest({ body: withPayload('{"a":{"b":1,"\\u0062":2}}') }));
    expect(res.statusCode).toBe(400);
    expect(res.json().detail).toBe(
      'the body has a duplicate key at payload.a.b; send each key once per object',
    );
  });

  it('stores only bodies that read the same under first-wins and last-wins parsers; refuses every duplicate (property)', async () => {
    env = await testEnv({ config: { rateLimit: { perSecond: 1000, burst: 1000 } } });
    let run = 0;
    await fc.assert(
      fc.asyncProperty(tree.node, async (node) => {
        run++;
        const body = withPayload(`{"run":${run},"data":${write(node)}}`);
        const res = await env.app.inject(ingestRequest({ body }));
        if (hasDuplicate(node)) {
          expect(res.statusCode).toBe(400);
          expect(res.json().detail).toMatch(/^the body has a duplicate key at payload\.data/);
          return;
        }
        expect(res.statusCode).toBe(201);
        const stored = (await env.store.getSignal(res.json().signal_id))?.body as string;
        expect(stored).toBe(body);
        expect(parseFirstWins(stored)).toEqual(JSON.parse(stored));
      }),
      { numRuns: 60 },
    );
  });
});

describe('POST /api/v1/signals/ingest: secrets', () => {
  it('accepts a secret rotated by another process on its first request, and the old one until retired', async () => {
    env = await testEnv();
    expect((await env.app.inject(ingestRequest())).statusCode).toBe(201); // caches the old secret
    const otherProcess = new Admin(env.store, env.box);
    const rotated = await otherProcess.rotateSecret(PRODUCER);
    expect((await env.app.inject(ingestRequest({ secret: rotated.secret }))).statusCode).toBe(201);
    expect(
      (await env.app.inject(ingestRequest({ secret: SECRET, timestamp: timestampAt(1) }))).statusCode,
    ).toBe(201);
    const [old] = (await otherProcess.getProducer(PRODUCER)).secrets;
    await otherProcess.retireSecret(PRODUCER, old?.id ?? '');
    env.clock.advance(5_000); // past the secret cache
    expect(
      (await env.app.inject(ingestRequest({ secret: SECRET, timestamp: '2025-10-25T14:30:50Z' }))).statusCode,
    ).toBe(401);
    expect(
      (await env.app.inject(ingestRequest({ secret: rotated.secret, timestamp: '2025-10-25T14:30:50Z' })))
        .statusCode,
    ).toBe(201);
  });

  it('accepts a producer added after the server started on its first request', async () => {
    env = await testEnv({ producer: false });
    expect((await env.app.inject(ingestRequest())).statusCode).toBe(401);
    await new Admin(env.store, env.box).addProducer({ id: PRODUCER, secret: SECRET });
    expect((await env.app.inject(ingestRequest())).statusCode).toBe(201);
  });

  it('never writes the secret or the signature to the logs', async () => {
    env = await testEnv();
    const request = ingestRequest();
    await env.app.inject(request);
    await env.app.inject(ingestRequest({ secret: 'wrong-secret-of-enough-bytes' }));
    const logs = env.logs.join('');
    const signature = request.headers[HEADERS.signature] ?? '';
    expect(signature).toHaveLength(44);
    expect(logs).not.toContain(SECRET);
    expect(logs).not.toContain(signature);
    expect(logs).not.toContain(
      buildSignature({
        secret: 'wrong-secret-of-enough-bytes',
        body: BODY,
        timestamp: request.headers[HEADERS.timestamp] ?? '',
        producerId: PRODUCER,
      }),
    );
    const line = JSON.parse(env.logs.find((l) => l.includes('"http_code":201')) ?? '{}');
    expect(line).toMatchObject({ producer_id: PRODUCER, http_code: 201, route: INGEST_PATH });
    expect(line.signal_id).toMatch(/^sig_/);
    expect(typeof line.duration_ms).toBe('number');
  });
});

/** The real store, whose commits wait for `release` (to keep a request in flight). */
function holdAcceptBatch(store: Store, entered: () => void, release: Promise<void>): Store {
  return withOverride(store, {
    acceptBatch: async (batch: readonly AcceptRequest[]) => {
      entered();
      await release;
      return store.acceptBatch(batch);
    },
  });
}
