import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import * as protocol from '@sigpost/protocol';
import type { FastifyRequest } from 'fastify';
import pino from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Admin } from '../admin.js';
import { IngestMetrics } from '../metrics.js';
import { SecretBox } from '../secrets.js';
import { SqliteStore } from '../store/sqlite.js';
import type { Store } from '../store/store.js';
import { PRODUCER, SECRET, tempDir, testClock, withOverride } from '../test-helpers/fixtures.js';
import { type AuthHeaders, readAuthHeaders } from './auth-headers.js';
import { readIdempotencyKey } from './idempotency.js';
import { checkSignature, LookupsBusyError, SignatureVerifier } from './signature.js';
import { checkTimestamp } from './timestamp-window.js';

// The real verifySignature, wrapped so a test can count the HMAC computations the verifier makes.
vi.mock('@sigpost/protocol', async (importOriginal) => {
  const actual = await importOriginal<typeof import('@sigpost/protocol')>();
  return { ...actual, verifySignature: vi.fn(actual.verifySignature) };
});

const NOW = Date.parse('2025-10-25T14:30:45.000Z');

describe('checkTimestamp', () => {
  // The window's cases are in packages/protocol/src/signature.test.ts, with checkTimestampWindow.
  it("refuses with the protocol's window and message, so server and SDK share one window", async () => {
    const actual = await vi.importActual<typeof import('@sigpost/protocol')>('@sigpost/protocol');
    const timestampMs = NOW + 300_001;
    const auth = {
      producerId: PRODUCER,
      timestamp: new Date(timestampMs).toISOString(),
      timestampMs,
      signature: 'x',
    };
    const metrics = new IngestMetrics(Object.create(null) as Store);
    const refused = (() => {
      try {
        checkTimestamp(auth, NOW, 300, metrics);
      } catch (error) {
        return error;
      }
    })();
    const expected = actual.checkTimestampWindow(timestampMs, NOW, 300);
    expect(refused).toMatchObject({
      code: 'timestamp-out-of-window',
      detail: expected?.detail,
      extensions: expected?.extensions,
    });
    expect(expected?.detail).toMatch(
      /^X-Timestamp is 301 s ahead of server time 2025-10-25T14:30:45\.000000Z; the accepted window is ±300 s\./,
    );
    expect(() => checkTimestamp({ ...auth, timestampMs: NOW + 300_000 }, NOW, 300, metrics)).not.toThrow();
  });
});

describe('readAuthHeaders', () => {
  const valid = {
    'x-producer-id': 'p1',
    'x-timestamp': '2025-10-25T14:30:45.123456Z',
    'x-signature': 'AAAA',
  };

  it('parses well-formed headers', () => {
    expect(readAuthHeaders(valid)).toEqual({
      ok: true,
      value: {
        producerId: 'p1',
        timestamp: '2025-10-25T14:30:45.123456Z',
        timestampMs: Date.parse('2025-10-25T14:30:45.123Z') + 0.456,
        signature: 'AAAA',
      },
    });
  });

  it('treats an empty header as missing', () => {
    expect(readAuthHeaders({ ...valid, 'x-signature': '' })).toEqual({
      ok: false,
      problems: ['missing X-Signature header'],
    });
  });

  it('reports a missing header and a malformed one together', () => {
    expect(readAuthHeaders({ 'x-producer-id': 'p 1', 'x-timestamp': 'yesterday' })).toEqual({
      ok: false,
      problems: [
        'missing X-Signature header',
        'X-Producer-Id must be 1–64 characters of A-Z a-z 0-9 . _ -',
        'X-Timestamp must be an RFC 3339 date-time such as 2025-10-25T14:30:45.123456Z',
      ],
    });
  });
});

describe('readIdempotencyKey', () => {
  it.each([
    [undefined, null],
    ['abc-123', 'abc-123'],
    ['', 'invalid'],
    ['a b', 'invalid'],
    ['x'.repeat(256), 'invalid'],
    [['a', 'b'], 'invalid'],
  ])('%j → %j', (value, expected) => {
    expect(readIdempotencyKey({ 'x-idempotency-key': value })).toBe(expected);
  });
});

describe('SignatureVerifier', () => {
  const BODY = Buffer.from('{"instrument":"GOLD"}');
  const TIMESTAMP = '2025-10-25T14:30:45.123456Z';
  let cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
    cleanups = [];
  });

  async function setup(
    wrap: (store: Store) => Store = (s) => s,
    Verifier: typeof SignatureVerifier = SignatureVerifier,
  ) {
    const { dir, cleanup } = tempDir();
    const real = new SqliteStore({ path: join(dir, 'verify.db') });
    cleanups.push(cleanup, () => real.close());
    await real.migrate();
    const box = SecretBox.fromKey(randomBytes(32));
    await new Admin(real, box).addProducer({ id: PRODUCER, secret: SECRET });
    const verifier = new Verifier({
      store: wrap(real),
      opener: box,
      cacheMs: 5_000,
      clock: testClock(),
      log: pino({ level: 'silent' }),
    });
    return verifier;
  }

  function auth(producerId: string, secret: string): AuthHeaders {
    const signature = protocol.buildSignature({ secret, body: BODY, timestamp: TIMESTAMP, producerId });
    return { producerId, timestamp: TIMESTAMP, timestampMs: Date.parse(TIMESTAMP), signature };
  }

  it('spends as many HMAC computations on a wrong signature of a known producer as on an unknown producer', async () => {
    // The unit tests share a module cache (isolate: false): another file may have loaded
    // signature.js with the real verifySignature, so load it afresh, through the mock.
    vi.resetModules();
    const { SignatureVerifier: Counted } = await import('./signature.js');
    const hmacs = vi.mocked((await import('@sigpost/protocol')).verifySignature);
    const verifier = await setup(undefined, Counted);
    const wrong = auth(PRODUCER, 'wrong-secret-of-enough-bytes');
    expect(await verifier.verify(wrong, BODY)).toBeUndefined(); // caches the producer's secrets
    hmacs.mockClear();
    expect(await verifier.verify(wrong, BODY)).toBeUndefined();
    const known = hmacs.mock.calls.length;
    hmacs.mockClear();
    expect(await verifier.verify(auth('nobody', 'wrong-secret-of-enough-bytes'), BODY)).toBeUndefined();
    const unknown = hmacs.mock.calls.length;
    expect([known, unknown]).toEqual([1, 1]);
    expect((await verifier.verify(auth(PRODUCER, SECRET), BODY))?.id).toBe(PRODUCER);
  });

  it('bounds concurrent producer lookups: past the limit a cache miss gets 503 without a store read', async () => {
    let reads = 0;
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const { dir, cleanup } = tempDir();
    const real = new SqliteStore({ path: join(dir, 'bounded.db') });
    cleanups.push(cleanup, () => real.close());
    await real.migrate();
    const store = Object.create(real, {
      getProducer: {
        value: async (id: string) => {
          reads++;
          await gate;
          return real.getProducer(id);
        },
      },
    }) as Store;
    const verifier = new SignatureVerifier({
      store,
      opener: SecretBox.fromKey(randomBytes(32)),
      cacheMs: 5_000,
      clock: testClock(),
      log: pino({ level: 'silent' }),
      maxConcurrentLookups: 2,
    });
    const first = verifier.verify(auth('random-1', 'wrong-secret-of-enough-bytes'), BODY);
    const second = verifier.verify(auth('random-2', 'wrong-secret-of-enough-bytes'), BODY);
    await expect(verifier.verify(auth('random-3', 'wrong-secret-of-enough-bytes'), BODY)).rejects.toThrow(
      LookupsBusyError,
    );
    // The ingest check answers it as 503 store-unavailable with Retry-After, without a store read.
    const request = { log: pino({ level: 'silent' }) } as unknown as FastifyRequest;
    await expect(
      checkSignature(
        request,
        verifier,
        auth('random-4', 'wrong-secret-of-enough-bytes'),
        BODY,
        new IngestMetrics(real),
      ),
    ).rejects.toMatchObject({ code: 'store-unavailable', headers: { 'Retry-After': '1' } });
    expect(reads).toBe(2);
    release();
    expect(await first).toBeUndefined();
    expect(await second).toBeUndefined();
    // Once the lookups have finished, new ones run again.
    expect(await verifier.verify(auth('random-3', 'wrong-secret-of-enough-bytes'), BODY)).toBeUndefined();
    expect(reads).toBe(3);
  });

  it('recovers after a store that threw synchronously while loading a producer', async () => {
    let failures = 1;
    const verifier = await setup((store) =>
      withOverride(store, {
        getProducer: (id: string) => {
          if (failures-- > 0) throw new Error('database is locked');
          return store.getProducer(id);
        },
      }),
    );
    await expect(verifier.verify(auth(PRODUCER, SECRET), BODY)).rejects.toThrow('database is locked');
    expect((await verifier.verify(auth(PRODUCER, SECRET), BODY))?.id).toBe(PRODUCER);
  });
});
