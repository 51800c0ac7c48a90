import type { ServerResponse } from 'node:http';
import { parseTimestamp } from '@sigpost/protocol';
import { INGEST_RESPONSE, requestVerifiesIndependently, validSignal } from '@sigpost/test-support/fixtures';
import { goldenVectors } from '@sigpost/test-support/golden';
import {
  type IngestRequest,
  type IngestServer,
  type Respond,
  sendJson,
  sendProblem,
  startIngestServer,
} from '@sigpost/test-support/ingest-server';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { HmacClient, type HmacClientOptions, type SignalInput } from './client.js';
import { OutboundConfig, type OutboundConfigOptions } from './config.js';
import {
  OutboundClientError,
  OutboundDisabledError,
  OutboundTimeoutError,
  SignalValidationError,
} from './errors.js';
import type { OutboundLogger } from './logger.js';
import { recordingLogger } from './outbox/test-helpers/fixtures.js';
import { fakeTime } from './test-helpers/fake-time.js';

const SECRET = 'test-secret-key-min-16-bytes-long';
const PRODUCER = 'test-producer';
const SIGNAL: SignalInput = validSignal();
const SIGNAL_BODY = JSON.stringify(SIGNAL);

let servers: IngestServer[] = [];
let clients: HmacClient[] = [];

afterEach(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await Promise.all(servers.map((s) => s.close()));
  clients = [];
  servers = [];
});

async function serve(respond: Respond): Promise<IngestServer> {
  const server = await startIngestServer(respond);
  servers.push(server);
  return server;
}

function makeClient(
  baseUrl: string,
  options: HmacClientOptions = {},
  config: Partial<OutboundConfigOptions> = {},
  logger: OutboundLogger = recordingLogger(),
): HmacClient {
  const client = new HmacClient(
    new OutboundConfig({ producerId: PRODUCER, producerSecret: SECRET, serverBaseUrl: baseUrl, ...config }),
    logger,
    options,
  );
  clients.push(client);
  return client;
}

async function failure(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof Error) return error;
    throw new Error(`rejected with a non-Error: ${String(error)}`);
  }
  throw new Error('expected the promise to reject');
}

const created: Respond = (_req, res) => sendJson(res, 201, INGEST_RESPONSE);
const never: Respond = () => {};

describe('HmacClient.postSignal on the wire', () => {
  it('posts the serialised signal with exactly the five protocol headers and returns the response', async () => {
    const server = await serve(created);
    const response = await makeClient(server.url).postSignal(SIGNAL, { idempotencyKey: 'sig-20251025-001' });

    expect(response).toEqual(INGEST_RESPONSE);
    expect(server.requests).toHaveLength(1);
    const [req] = server.requests as [IngestRequest];
    expect([req.method, req.url, req.body.toString('utf8')]).toEqual([
      'POST',
      '/api/v1/signals/ingest',
      SIGNAL_BODY,
    ]);
    expect(req.headerNames.filter((n) => !['host', 'connection', 'content-length'].includes(n))).toEqual([
      'Content-Type',
      'X-Producer-Id',
      'X-Timestamp',
      'X-Signature',
      'X-Idempotency-Key',
    ]);
    expect(req.headers['content-type']).toBe('application/json');
    expect(req.headers['x-producer-id']).toBe(PRODUCER);
    expect(req.headers['x-idempotency-key']).toBe('sig-20251025-001');
    expect(String(req.headers['x-timestamp'])).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/);
    expect(req.headers['content-length']).toBe(String(Buffer.byteLength(SIGNAL_BODY)));
  });

  it('signs each request so that an independent node:crypto computation verifies it', async () => {
    const server = await serve(created);
    await makeClient(server.url).postSignal(SIGNAL);
    expect(requestVerifiesIndependently(SECRET, server.requests[0]!)).toBe(true);
  });

  it('reproduces golden vector 1 byte for byte on the wire with a fixed clock', async () => {
    const vector = goldenVectors()[0]!;
    const server = await serve(created);
    const client = new HmacClient(
      new OutboundConfig({
        producerId: vector.producerId,
        producerSecret: vector.secret,
        serverBaseUrl: server.url,
      }),
      recordingLogger(),
      { clock: () => parseTimestamp(vector.timestamp)! },
    );
    clients.push(client);
    await client.postSignal(JSON.parse(vector.body) as SignalInput);
    const [req] = server.requests as [IngestRequest];
    expect(req.body.toString('utf8')).toBe(vector.body);
    expect(req.headers['x-timestamp']).toBe(vector.timestamp);
    expect(req.headers['x-signature']).toBe(vector.signature);
  });

  it('stamps X-Timestamp from the wall clock by default, also after the system clock steps', async () => {
    const server = await serve(created);
    const client = makeClient(server.url);
    // Only Date is faked: performance.now() runs on, as a monotonic clock does across an NTP step or a suspend.
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      const stepped = Date.now() + 3_600_000;
      vi.setSystemTime(stepped);
      await client.postSignal(SIGNAL);
      const sent = parseTimestamp(server.requests[0]!.headers['x-timestamp'])!;
      expect(sent - stepped).toBeGreaterThanOrEqual(0);
      expect(sent - stepped).toBeLessThanOrEqual(1);
    } finally {
      vi.useRealTimers();
    }
  });

  it('keeps the base URL path prefix but signs the bare route', async () => {
    const server = await serve(created);
    await makeClient(`${server.url}/gateway/sigpost/`).postSignal(SIGNAL);
    expect(server.requests[0]!.url).toBe('/gateway/sigpost/api/v1/signals/ingest');
    expect(requestVerifiesIndependently(SECRET, server.requests[0]!)).toBe(true);
  });

  it('sends a Date timestamp as UTC with microseconds', async () => {
    const server = await serve(created);
    await makeClient(server.url).postSignal({
      ...SIGNAL,
      timestamp: new Date(Date.UTC(2025, 9, 25, 14, 30, 45, 123)),
    });
    expect(JSON.parse(server.requests[0]!.body.toString('utf8')).timestamp).toBe(
      '2025-10-25T14:30:45.123000Z',
    );
  });

  it('sends a signal without payload without one', async () => {
    const server = await serve(created);
    const { payload: _payload, ...bare } = SIGNAL;
    await makeClient(server.url).postSignal(bare);
    expect(JSON.parse(server.requests[0]!.body.toString('utf8'))).not.toHaveProperty('payload');
  });

  it('generates a UUID idempotency key when none is given, a new one per signal', async () => {
    const server = await serve(created);
    const client = makeClient(server.url);
    await client.postSignal(SIGNAL);
    await client.postSignal(SIGNAL);
    const keys = server.requests.map((r) => String(r.headers['x-idempotency-key']));
    for (const key of keys)
      expect(key).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(keys[0]).not.toBe(keys[1]);
  });

  it('reuses kept-alive connections for consecutive signals', async () => {
    const server = await serve(created);
    const client = makeClient(server.url);
    for (let i = 0; i < 6; i++) await client.postSignal(SIGNAL);
    // undici may open a second socket while the first finishes its answer; never one per request.
    expect(new Set(server.requests.map((r) => r.remotePort)).size).toBeLessThanOrEqual(2);
  });
});

describe('HmacClient.postSignal error statuses', () => {
  const problems: [number, string, string, Record<string, string>][] = [
    [400, 'invalid-signal', 'Signal failed validation', {}],
    [401, 'invalid-signature', 'Unknown producer or invalid signature', {}],
    [409, 'request-in-flight', 'A request with this idempotency key is in flight', {}],
    [413, 'body-too-large', 'Request body too large', {}],
    [415, 'unsupported-media-type', 'Content-Type must be application/json', {}],
    [422, 'idempotency-key-reused', 'Idempotency key reused with a different body', {}],
    [429, 'rate-limited', 'Producer over its rate limit', { 'retry-after': '7' }],
    [500, 'internal', 'Internal server error', {}],
    [503, 'store-unavailable', 'Storage unavailable', {}],
  ];

  it.each(problems)(
    'maps %d %s to an OutboundClientError with the problem details',
    async (status, code, title, headers) => {
      const problem = { type: `urn:sigpost:problem:${code}`, title, detail: `detail of ${code}` };
      const server = await serve((_req, res) => sendProblem(res, status, problem, headers));
      const error = await failure(makeClient(server.url, { retry: false }).postSignal(SIGNAL));

      expect(error).toBeInstanceOf(OutboundClientError);
      const e = error as OutboundClientError;
      const statusText = {
        400: 'Bad Request',
        401: 'Unauthorized',
        409: 'Conflict',
        413: 'Payload Too Large',
        415: 'Unsupported Media Type',
        422: 'Unprocessable Entity',
        429: 'Too Many Requests',
        500: 'Internal Server Error',
        503: 'Service Unavailable',
      }[status];
      expect(e.message).toBe(
        `POST ${server.url}/api/v1/signals/ingest failed with ${status} ${statusText} (attempt 1/1): ${title} — detail of ${code}`,
      );
      expect({
        code: e.code,
        httpCode: e.httpCode,
        details: e.details,
        attempts: e.attempts,
        retryAfterMs: e.retryAfterMs,
      }).toEqual({
        code: 'OUTBOUND_HTTP_ERROR',
        httpCode: status,
        details: { ...problem, status },
        attempts: 1,
        retryAfterMs: status === 429 ? 7_000 : undefined,
      });
      expect([e.method, e.url]).toEqual(['POST', `${server.url}/api/v1/signals/ingest`]);
      expect(server.requests).toHaveLength(1);
    },
  );

  it.each([400, 401, 413, 415, 422])('never retries %d, whatever the retry limit', async (status) => {
    const server = await serve((_req, res) => sendProblem(res, status, { type: 'about:blank', title: 'No' }));
    const { clock, sleep, time } = fakeTime();
    const error = await failure(
      makeClient(server.url, { clock, sleep, retry: { limit: 5 } }).postSignal(SIGNAL),
    );
    expect((error as OutboundClientError).httpCode).toBe(status);
    expect(server.requests).toHaveLength(1);
    expect(time.delays).toEqual([]);
  });

  it('leaves details undefined when the error body is not problem+json', async () => {
    const server = await serve((_req, res) => sendJson(res, 500, { oops: true }));
    const error = (await failure(
      makeClient(server.url, { retry: false }).postSignal(SIGNAL),
    )) as OutboundClientError;
    expect(error.details).toBeUndefined();
    expect(error.message).toBe(
      `POST ${server.url}/api/v1/signals/ingest failed with 500 Internal Server Error (attempt 1/1)`,
    );
  });

  it('reads at most 1 MiB of an error body and still reports the status', async () => {
    const server = await serve((_req, res) => {
      res.writeHead(502, { 'content-type': 'application/problem+json' });
      res.end(`{"type":"about:blank","title":"${'x'.repeat(2 * 1_048_576)}"}`);
    });
    const error = (await failure(
      makeClient(server.url, { retry: false }).postSignal(SIGNAL),
    )) as OutboundClientError;
    expect([error.httpCode, error.details]).toEqual([502, undefined]);
  });
});

describe('HmacClient.postSignal retries', () => {
  it('retries 503, 503, 201: three requests, one idempotency key, fresh timestamps, every signature valid', async () => {
    const server = await serve((_req, res, i) =>
      i < 2
        ? sendProblem(res, 503, { type: 'about:blank', title: 'Busy' })
        : sendJson(res, 201, INGEST_RESPONSE),
    );
    const { clock, sleep, time } = fakeTime();
    const client = makeClient(server.url, { clock, sleep, random: () => 0.5, retry: { baseDelayMs: 100 } });

    await expect(client.postSignal(SIGNAL)).resolves.toEqual(INGEST_RESPONSE);

    expect(server.requests).toHaveLength(3);
    expect(new Set(server.requests.map((r) => r.headers['x-idempotency-key'])).size).toBe(1);
    expect(server.requests.map((r) => r.headers['x-timestamp'])).toEqual([
      '2025-10-25T14:30:45.000000Z',
      '2025-10-25T14:30:45.050000Z',
      '2025-10-25T14:30:45.150000Z',
    ]);
    expect(new Set(server.requests.map((r) => r.headers['x-signature'])).size).toBe(3);
    for (const req of server.requests) expect(requestVerifiesIndependently(SECRET, req)).toBe(true);
    expect(time.delays).toEqual([50, 100]);
  });

  it('retries with a fresh timestamp on the real clock too', async () => {
    const server = await serve((_req, res, i) =>
      i === 0 ? sendProblem(res, 500, { type: 'about:blank', title: 'x' }) : created(_req, res, i),
    );
    await makeClient(server.url, { sleep: async () => {} }).postSignal(SIGNAL);
    const [first, second] = server.requests.map((r) => String(r.headers['x-timestamp']));
    expect(parseTimestamp(second)!).toBeGreaterThan(parseTimestamp(first)!);
  });

  it('stops after `limit` attempts and reports them all', async () => {
    const server = await serve((_req, res) => sendProblem(res, 503, { type: 'about:blank', title: 'Busy' }));
    const { clock, sleep } = fakeTime();
    const error = (await failure(
      makeClient(server.url, { clock, sleep, retry: { limit: 3 } }).postSignal(SIGNAL),
    )) as OutboundClientError;
    expect(server.requests).toHaveLength(3);
    expect(error.attempts).toBe(3);
    expect(error.message).toBe(
      `POST ${server.url}/api/v1/signals/ingest failed with 503 Service Unavailable (attempt 3/3): Busy`,
    );
  });

  it('waits what Retry-After asks instead of the backoff', async () => {
    const server = await serve((_req, res, i) =>
      i === 0
        ? sendProblem(res, 429, { type: 'about:blank', title: 'Slow down' }, { 'retry-after': '3' })
        : created(_req, res, i),
    );
    const { clock, sleep, time } = fakeTime();
    await makeClient(server.url, { clock, sleep }).postSignal(SIGNAL);
    expect(time.delays).toEqual([3_000]);
  });

  it('reads a Retry-After HTTP date against the injected clock', async () => {
    const server = await serve((_req, res, i) =>
      i === 0
        ? sendProblem(
            res,
            503,
            { type: 'about:blank', title: 'x' },
            { 'retry-after': 'Sat, 25 Oct 2025 14:30:57 GMT' },
          )
        : created(_req, res, i),
    );
    const { clock, sleep, time } = fakeTime(Date.UTC(2025, 9, 25, 14, 30, 45));
    await makeClient(server.url, { clock, sleep }).postSignal(SIGNAL);
    expect(time.delays).toEqual([12_000]);
  });

  it('clamps a long Retry-After to maxRetryAfterMs', async () => {
    const server = await serve((_req, res, i) =>
      i === 0
        ? sendProblem(res, 429, { type: 'about:blank', title: 'x' }, { 'retry-after': '3600' })
        : created(_req, res, i),
    );
    const { clock, sleep, time } = fakeTime();
    await makeClient(server.url, { clock, sleep, retry: { maxRetryAfterMs: 5_000 } }).postSignal(SIGNAL);
    expect(time.delays).toEqual([5_000]);
  });

  it('gives up before a wait that would pass the deadline', async () => {
    const server = await serve((_req, res) => sendProblem(res, 503, { type: 'about:blank', title: 'Busy' }));
    const { clock, sleep, time } = fakeTime();
    const logger = recordingLogger();
    const client = makeClient(
      server.url,
      { clock, sleep, random: () => 0.99, retry: { limit: 10, baseDelayMs: 400, deadlineMs: 2_000 } },
      {},
      logger,
    );
    const error = (await failure(client.postSignal(SIGNAL))) as OutboundClientError;
    // Waits of 396 and 792 ms fit in 2 s; the next one (1584 ms) would end at 2772 ms.
    expect(time.delays).toEqual([396, 792]);
    expect(server.requests).toHaveLength(3);
    expect(error.attempts).toBe(3);
    expect(logger.lines.at(-1)).toMatchObject({ level: 'error', fields: { retry_stop_reason: 'deadline' } });
  });

  it('gives the first attempt its full timeout even when it is longer than the deadline', async () => {
    // Answers after 150 ms: past the 50 ms deadline, well within the 1 s timeout.
    const server = await serve((req, res, i) => {
      setTimeout(() => created(req, res, i), 150);
    });
    const { sleep, time } = fakeTime();
    const client = makeClient(server.url, { sleep, retry: { deadlineMs: 50 } });
    await expect(client.postSignal(SIGNAL, { timeoutSeconds: 1 })).resolves.toEqual(INGEST_RESPONSE);
    expect(server.requests).toHaveLength(1);
    expect(time.delays).toEqual([]);
  });

  it('cuts the timeout of a retry to what is left of the deadline', async () => {
    const server = await serve((req, res, i) =>
      i === 0 ? sendProblem(res, 503, { type: 'about:blank', title: 'Busy' }) : never(req, res, i),
    );
    const { clock, sleep, time } = fakeTime();
    const client = makeClient(server.url, {
      clock,
      sleep,
      random: () => 0.99,
      retry: { baseDelayMs: 400, deadlineMs: 450 },
    });
    const error = (await failure(client.postSignal(SIGNAL, { timeoutSeconds: 1 }))) as OutboundTimeoutError;
    // The wait of 396 ms leaves 54 ms of the deadline to the second attempt (instead of its 1000 ms).
    expect(time.delays).toEqual([396]);
    expect(error).toBeInstanceOf(OutboundTimeoutError);
    expect([error.timeoutMs, error.attempts]).toEqual([54, 2]);
    expect(error.message).toBe(
      `POST ${server.url}/api/v1/signals/ingest timed out after 54 ms (attempt 2/5)`,
    );
    expect(server.requests).toHaveLength(2);
  });

  it('overrides the client retry policy per call, and retry: false sends once', async () => {
    const server = await serve((_req, res) => sendProblem(res, 503, { type: 'about:blank', title: 'Busy' }));
    const { clock, sleep } = fakeTime();
    const logger = recordingLogger();
    const client = makeClient(server.url, { clock, sleep, retry: { limit: 4 } }, {}, logger);
    const once = await failure(client.postSignal(SIGNAL, { retry: false }));
    expect(server.requests).toHaveLength(1);
    // The caller runs the retries and counts the attempts: no "(attempt 1/1)", no attempt_limit of 1,
    // which would read as a final attempt.
    expect(once.message).toBe(
      `POST ${server.url}/api/v1/signals/ingest failed with 503 Service Unavailable: Busy`,
    );
    expect(logger.lines.at(-1)).toMatchObject({
      level: 'warn',
      msg: 'Signal delivery attempt failed; the caller decides on a retry',
      fields: { attempt: 1, error_message: once.message },
    });
    expect(logger.lines.at(-1)!.fields).not.toHaveProperty('attempt_limit');
    await failure(client.postSignal(SIGNAL, { retry: { limit: 2 } }));
    expect(server.requests).toHaveLength(3);
  });
});

describe('HmacClient.postSignal timeouts, aborts and network errors', () => {
  it('times out an attempt that gets no answer', async () => {
    const server = await serve(never);
    const error = await failure(
      makeClient(server.url, { retry: false }).postSignal(SIGNAL, { timeoutSeconds: 0.05 }),
    );
    expect(error).toBeInstanceOf(OutboundTimeoutError);
    const e = error as OutboundTimeoutError;
    expect([e.code, e.timeoutMs, e.attempts, e.httpCode]).toEqual(['OUTBOUND_TIMEOUT', 50, 1, undefined]);
    expect(e.message).toBe(`POST ${server.url}/api/v1/signals/ingest timed out after 50 ms (attempt 1/1)`);
    expect(e.cause).toBeInstanceOf(DOMException);
  });

  it('retries a timed-out attempt with the same key', async () => {
    const server = await serve((req, res, i) => (i === 0 ? undefined : created(req, res, i)));
    const { sleep } = fakeTime();
    await expect(
      makeClient(server.url, { sleep }).postSignal(SIGNAL, { timeoutSeconds: 0.05 }),
    ).resolves.toEqual(INGEST_RESPONSE);
    expect(server.requests).toHaveLength(2);
    expect(server.requests[0]!.headers['x-idempotency-key']).toBe(
      server.requests[1]!.headers['x-idempotency-key'],
    );
  });

  it('aborts the attempt in flight when the caller aborts, and does not retry', async () => {
    const controller = new AbortController();
    const reason = new Error('shutting down');
    const server = await serve(() => controller.abort(reason));
    const error = (await failure(
      makeClient(server.url).postSignal(SIGNAL, { abortSignal: controller.signal }),
    )) as OutboundClientError;
    expect([error.code, error.attempts, error.cause]).toEqual(['OUTBOUND_ABORTED', 1, reason]);
    expect(error.message).toBe(
      `POST ${server.url}/api/v1/signals/ingest aborted by the caller (attempt 1/5)`,
    );
    expect(server.requests).toHaveLength(1);
  });

  it('ends the wait between attempts when the caller aborts', async () => {
    const controller = new AbortController();
    const server = await serve((_req, res) => sendProblem(res, 503, { type: 'about:blank', title: 'Busy' }));
    const sleep = (_ms: number, signal?: AbortSignal) =>
      new Promise<void>((_resolve, reject) => {
        signal?.addEventListener('abort', () => reject(new Error('sleep aborted')));
        controller.abort('stop');
      });
    const error = (await failure(
      makeClient(server.url, { sleep }).postSignal(SIGNAL, { abortSignal: controller.signal }),
    )) as OutboundClientError;
    expect([error.code, error.attempts, error.cause]).toEqual(['OUTBOUND_ABORTED', 1, 'stop']);
    expect(server.requests).toHaveLength(1);
  });

  it('sends nothing when the abort signal is already aborted', async () => {
    const server = await serve(created);
    const error = (await failure(
      makeClient(server.url).postSignal(SIGNAL, { abortSignal: AbortSignal.abort('early') }),
    )) as OutboundClientError;
    expect([error.code, error.attempts, error.cause]).toEqual(['OUTBOUND_ABORTED', 0, 'early']);
    expect(error.message).toBe(
      `POST ${server.url}/api/v1/signals/ingest aborted by the caller before the first attempt`,
    );
    expect(server.requests).toHaveLength(0);
  });

  it('reports a refused connection as a retryable network error with its cause', async () => {
    const closed = await startIngestServer(created);
    const { url, port } = closed;
    await closed.close();
    const { clock, sleep, time } = fakeTime();
    const error = (await failure(
      makeClient(url, { clock, sleep, random: () => 0, retry: { limit: 2 } }).postSignal(SIGNAL),
    )) as OutboundClientError;
    expect([error.code, error.httpCode, error.attempts]).toEqual(['OUTBOUND_NETWORK_ERROR', undefined, 2]);
    expect((error.cause as { code?: string }).code).toBe('ECONNREFUSED');
    expect(error.message).toBe(
      `POST ${url}/api/v1/signals/ingest failed with a network error: connect ECONNREFUSED 127.0.0.1:${port} (attempt 2/2)`,
    );
    expect(time.delays).toEqual([0]);
  });

  it('says that the server does not speak TLS when an https:// URL reaches a plain-HTTP port', async () => {
    const server = await serve(created);
    const url = server.url.replace(/^http:/, 'https:');
    const error = (await failure(
      makeClient(url, { retry: false }).postSignal(SIGNAL),
    )) as OutboundClientError;
    expect(error.code).toBe('OUTBOUND_NETWORK_ERROR');
    expect((error.cause as { code?: string }).code).toBe('ERR_SSL_WRONG_VERSION_NUMBER');
    expect(error.message).toBe(
      `POST ${url}/api/v1/signals/ingest failed with a network error: the server does not speak TLS on this port (use http:// ?) (attempt 1/1)`,
    );
  });

  it('reports a connection closed mid-answer as a network error', async () => {
    const server = await serve((req, res) => {
      res.writeHead(201, { 'content-type': 'application/json', 'content-length': '500' });
      res.write('{"signal_id":');
      setImmediate(() => res.destroy());
      void req;
    });
    const error = (await failure(
      makeClient(server.url, { retry: false }).postSignal(SIGNAL),
    )) as OutboundClientError;
    expect(error.code).toBe('OUTBOUND_NETWORK_ERROR');
    expect(error.cause).toBeInstanceOf(Error);
  });
});

describe('HmacClient.postSignal malformed answers', () => {
  const send =
    (status: number, body: string, headers: Record<string, string> = {}): Respond =>
    (_req: IngestRequest, res: ServerResponse) => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(body);
    };

  it('refuses a 201 whose body is not JSON, without retrying', async () => {
    const server = await serve(send(201, '<html>ok</html>'));
    const error = (await failure(makeClient(server.url).postSignal(SIGNAL))) as OutboundClientError;
    expect([error.code, error.httpCode, error.attempts]).toEqual(['OUTBOUND_INVALID_RESPONSE', 201, 1]);
    expect(error.message).toBe(
      `POST ${server.url}/api/v1/signals/ingest answered 201 Created with a body that is not JSON (attempt 1/5)`,
    );
    expect(error.cause).toBeInstanceOf(SyntaxError);
    expect(server.requests).toHaveLength(1);
  });

  it('refuses a 201 whose JSON lacks fields of a SignalIngestResponse, naming them', async () => {
    const server = await serve(send(201, JSON.stringify({ signal_id: 'sig_1', status: 'accepted' })));
    const error = (await failure(makeClient(server.url).postSignal(SIGNAL))) as OutboundClientError;
    expect(error.code).toBe('OUTBOUND_INVALID_RESPONSE');
    expect(error.message).toBe(
      `POST ${server.url}/api/v1/signals/ingest answered 201 Created with a body that is not a SignalIngestResponse ` +
        '(status: Invalid option: expected one of "received"|"pending_approval"|"rejected"; ' +
        'server_timestamp: Invalid input: expected string, received undefined; ' +
        'message: Invalid input: expected string, received undefined; ' +
        'errors: Invalid input: expected array, received undefined) (attempt 1/5)',
    );
  });

  it('reads at most 1 MiB of a chunked 201 body', async () => {
    const server = await serve((_req, res) => {
      res.writeHead(201, { 'content-type': 'application/json' });
      const chunk = 'x'.repeat(64 * 1024);
      for (let i = 0; i < 40; i++) res.write(chunk);
      res.end();
    });
    const error = (await failure(makeClient(server.url).postSignal(SIGNAL))) as OutboundClientError;
    expect(error.message).toBe(
      `POST ${server.url}/api/v1/signals/ingest answered 201 Created with a body over 1048576 bytes (attempt 1/5)`,
    );
  });

  it('refuses a 201 that declares a body over 1 MiB without reading it', async () => {
    const server = await serve((_req, res) => {
      res.writeHead(201, { 'content-type': 'application/json', 'content-length': String(2 * 1_048_576) });
      res.write('{');
    });
    const error = (await failure(makeClient(server.url).postSignal(SIGNAL))) as OutboundClientError;
    expect([error.code, error.message]).toEqual([
      'OUTBOUND_INVALID_RESPONSE',
      `POST ${server.url}/api/v1/signals/ingest answered 201 Created with a body over 1048576 bytes (attempt 1/5)`,
    ]);
  });
});

describe('HmacClient.postSignal local refusals', () => {
  it('refuses a body over maxBodySize before sending, naming the size and the limit', async () => {
    const server = await serve(created);
    const client = makeClient(server.url, {}, { maxBodySize: 1024 });
    const big = { ...SIGNAL, payload: { notes: 'n'.repeat(1000) } };
    const size = Buffer.byteLength(JSON.stringify(big));
    const error = (await failure(client.postSignal(big))) as OutboundClientError;
    expect([error.code, error.attempts, error.httpCode]).toEqual(['OUTBOUND_BODY_TOO_LARGE', 0, undefined]);
    expect(error.message).toBe(
      `POST ${server.url}/api/v1/signals/ingest refused before sending: the body is ${size} bytes, over maxBodySize 1024 bytes`,
    );
    expect(server.requests).toHaveLength(0);
  });

  it('refuses an invalid signal with every problem, before sending', async () => {
    const server = await serve(created);
    const error = await failure(
      makeClient(server.url).postSignal({ ...SIGNAL, confidence: 2, extra: 1 } as SignalInput),
    );
    expect(error).toBeInstanceOf(SignalValidationError);
    expect((error as SignalValidationError).errors).toEqual([
      'confidence: expected a number from 0 to 1',
      'extra: unknown field',
    ]);
    expect(server.requests).toHaveLength(0);
  });

  it('refuses a crossed stop loss', async () => {
    const server = await serve(created);
    const error = (await failure(
      makeClient(server.url).postSignal({ ...SIGNAL, stop_loss: 1990 }),
    )) as SignalValidationError;
    expect(error.errors).toEqual(['stop_loss: expected below entry_price for a buy']);
  });

  it('refuses an invalid Date timestamp', async () => {
    const server = await serve(created);
    const error = (await failure(
      makeClient(server.url).postSignal({ ...SIGNAL, timestamp: new Date(Number.NaN) }),
    )) as SignalValidationError;
    expect(error.errors).toEqual(['timestamp: expected a valid Date, received Invalid Date']);
  });

  it('refuses a Date timestamp outside the years 0000–9999 as an invalid signal', async () => {
    const server = await serve(created);
    const error = (await failure(
      makeClient(server.url).postSignal({ ...SIGNAL, timestamp: new Date(Date.UTC(10_000, 0, 1)) }),
    )) as SignalValidationError;
    expect(error).toBeInstanceOf(SignalValidationError);
    expect(error.errors).toEqual(['timestamp: expected a Date in the years 0000–9999']);
    expect(error.cause).toBeInstanceOf(RangeError);
    expect(server.requests).toHaveLength(0);
  });

  it('refuses a payload that JSON cannot serialise', async () => {
    const server = await serve(created);
    const error = (await failure(
      makeClient(server.url).postSignal({ ...SIGNAL, payload: { volume: 10n } }),
    )) as SignalValidationError;
    expect(error.errors).toEqual([
      'payload: expected JSON-serialisable values (Do not know how to serialize a BigInt)',
    ]);
    expect(error.cause).toBeInstanceOf(TypeError);
  });

  it.each<[string, Record<string, unknown>, string]>([
    [
      'an empty key',
      { idempotencyKey: '' },
      'Expected `idempotencyKey` to be 1–255 visible ASCII characters (0x21–0x7E), received an empty string',
    ],
    [
      'a key with a space',
      { idempotencyKey: 'sig 1' },
      'Expected `idempotencyKey` to be 1–255 visible ASCII characters (0x21–0x7E), received " " at index 3',
    ],
    [
      'a key of 256 characters',
      { idempotencyKey: 'k'.repeat(256) },
      'Expected `idempotencyKey` to be 1–255 visible ASCII characters (0x21–0x7E), received 256 characters',
    ],
    [
      'a timeout of 0 s',
      { timeoutSeconds: 0 },
      'Expected `timeoutSeconds` to be a number from 0.001 to 300, received 0',
    ],
    [
      'a timeout of 301 s',
      { timeoutSeconds: 301 },
      'Expected `timeoutSeconds` to be a number from 0.001 to 300, received 301',
    ],
    [
      'a retry option of another library',
      { retry: { retries: 2 } },
      'Unknown retry option `retries`; use `limit`',
    ],
  ])('throws a programmer error for %s, sending nothing', async (_name, options, message) => {
    const server = await serve(created);
    const error = await failure(makeClient(server.url).postSignal(SIGNAL, options));
    expect(error).toBeInstanceOf(options.retry ? TypeError : RangeError);
    expect(error.message).toBe(message);
    expect(server.requests).toHaveLength(0);
  });
});

describe('HmacClient lifecycle', () => {
  it('with enabled: false, throws OutboundDisabledError and opens no connection', async () => {
    const server = await serve(created);
    const error = await failure(makeClient(server.url, {}, { enabled: false }).postSignal(SIGNAL));
    expect(error).toBeInstanceOf(OutboundDisabledError);
    expect(server.requests).toHaveLength(0);
  });

  it('refuses postSignal after close, and close is idempotent', async () => {
    const server = await serve(created);
    const client = makeClient(server.url);
    await client.postSignal(SIGNAL);
    const closing = client.close();
    expect(client.close()).toBe(closing);
    await closing;
    expect(client.closed).toBe(true);
    const error = (await failure(client.postSignal(SIGNAL))) as OutboundClientError;
    expect([error.code, error.attempts]).toEqual(['OUTBOUND_CLIENT_CLOSED', 0]);
    expect(error.message).toBe(`POST ${server.url}/api/v1/signals/ingest refused: the client is closed`);
  });

  it('closes at the end of an `await using` block', async () => {
    const server = await serve(created);
    let escaped: HmacClient | undefined;
    {
      await using client = makeClient(server.url);
      await client.postSignal(SIGNAL);
      escaped = client;
    }
    expect(escaped.closed).toBe(true);
  });

  it('ends a wait between attempts when closed', async () => {
    const server = await serve((_req, res) => sendProblem(res, 503, { type: 'about:blank', title: 'Busy' }));
    let client: HmacClient | undefined;
    const sleep = (_ms: number, signal?: AbortSignal) =>
      new Promise<void>((_resolve, reject) => {
        signal?.addEventListener('abort', () => reject(new Error('sleep aborted')));
        void client?.close();
      });
    client = makeClient(server.url, { sleep });
    const error = (await failure(client.postSignal(SIGNAL))) as OutboundClientError;
    expect([error.code, error.attempts]).toEqual(['OUTBOUND_CLIENT_CLOSED', 1]);
    expect(server.requests).toHaveLength(1);
  });

  it('keeps the failure that led to the wait as the cause when closed during it', async () => {
    const server = await serve((_req, res) => sendProblem(res, 503, { type: 'about:blank', title: 'Busy' }));
    let client: HmacClient | undefined;
    const sleep = (_ms: number, signal?: AbortSignal) =>
      new Promise<void>((_resolve, reject) => {
        signal?.addEventListener('abort', () => reject(new Error('sleep aborted')));
        void client?.close();
      });
    client = makeClient(server.url, { sleep });
    const error = (await failure(client.postSignal(SIGNAL))) as OutboundClientError;
    expect(error.code).toBe('OUTBOUND_CLIENT_CLOSED');
    expect(error.cause).toBeInstanceOf(OutboundClientError);
    expect([
      (error.cause as OutboundClientError).code,
      (error.cause as OutboundClientError).httpCode,
    ]).toEqual(['OUTBOUND_HTTP_ERROR', 503]);
  });

  it('waits between attempts with real timers by default, ended at once by close()', async () => {
    const server = await serve((_req, res) => sendProblem(res, 503, { type: 'about:blank', title: 'Busy' }));
    // A 10-minute backoff that close() must cut short: the test would time out otherwise.
    const logger = recordingLogger();
    const retry = { baseDelayMs: 600_000, maxDelayMs: 600_000, deadlineMs: undefined };
    const client = makeClient(server.url, { random: () => 0.999, retry }, {}, logger);
    const pending = failure(client.postSignal(SIGNAL));
    // The warning is logged just before the wait starts.
    while (!logger.lines.some((l) => l.level === 'warn')) await new Promise((r) => setImmediate(r));
    await client.close();
    expect(((await pending) as OutboundClientError).code).toBe('OUTBOUND_CLIENT_CLOSED');
  });

  // Never contacted: each of these clients fails at construction, before it opens a pool.
  const UNUSED_URL = 'http://127.0.0.1:9';
  it.each<[string, () => HmacClient, string]>([
    [
      'a logger without fatal()',
      () =>
        new HmacClient(
          new OutboundConfig({ producerId: 'p', producerSecret: SECRET, serverBaseUrl: UNUSED_URL }),
          {
            debug() {},
            info() {},
            warn() {},
            error() {},
          } as unknown as OutboundLogger,
        ),
      'Expected `logger` to be a pino-compatible logger, missing fatal()',
    ],
    [
      '0 connections',
      () =>
        new HmacClient(
          new OutboundConfig({ producerId: 'p', producerSecret: SECRET, serverBaseUrl: UNUSED_URL }),
          recordingLogger(),
          {
            connections: 0,
          },
        ),
      'Expected `connections` to be an integer ≥ 1, received 0',
    ],
    [
      'a retry limit of 0',
      () =>
        new HmacClient(
          new OutboundConfig({ producerId: 'p', producerSecret: SECRET, serverBaseUrl: UNUSED_URL }),
          recordingLogger(),
          {
            retry: { limit: 0 },
          },
        ),
      'Expected `limit` to be ≥ 1',
    ],
  ])('refuses %s at construction', (_name, build, message) => {
    expect(build).toThrow(message);
  });
});
