// Property-based fuzzing of the ingest endpoint's headers and bodies: whatever arrives, the server
// answers with a 201 or a problem+json 4xx, never a 5xx, and keeps serving.
import { buildSignature, HEADERS, INGEST_PATH, parseIngestResponse, problemCode } from '@sigpost/protocol';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PRODUCER, SECRET, SIGNAL, type TestEnv, testEnv, timestampAt } from './test-helpers/fixtures.js';

let env: TestEnv;
let token: string;
beforeAll(async () => {
  env = await testEnv({ config: { rateLimit: { perSecond: 1e6, burst: 1e6 }, maxBodyBytes: 4096 } });
  token = (await env.admin.createToken('fuzz')).token;
});
afterAll(async () => {
  await env?.close();
});

const printable = (max: number) =>
  fc.string({
    unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
    maxLength: max,
  });

const signalLike = fc.record(
  {
    instrument: fc.oneof(fc.constant(SIGNAL.instrument), fc.string(), fc.integer()),
    side: fc.oneof(fc.constantFrom('buy', 'sell'), fc.string(), fc.constant(null)),
    entry_price: fc.oneof(fc.constant(SIGNAL.entry_price), fc.double(), fc.string()),
    stop_loss: fc.oneof(fc.constant(SIGNAL.stop_loss), fc.double()),
    take_profit: fc.oneof(fc.constant(SIGNAL.take_profit), fc.double()),
    confidence: fc.oneof(fc.double({ min: 0, max: 1 }), fc.double(), fc.boolean()),
    reason: fc.oneof(fc.string({ maxLength: 600 }), fc.constant('')),
    timestamp: fc.oneof(
      fc.constant(SIGNAL.timestamp),
      fc.string(),
      fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
    ),
    payload: fc.oneof(fc.jsonValue(), fc.dictionary(fc.string(), fc.jsonValue())),
    __proto__: fc.jsonValue(),
    constructor: fc.jsonValue(),
  },
  { requiredKeys: [] },
);

const body = fc.oneof(
  {
    weight: 3,
    arbitrary: fc
      .string({ minLength: 1, maxLength: 60 })
      .map((reason) => JSON.stringify({ ...SIGNAL, reason })),
  },
  signalLike.map((s) => JSON.stringify(s) ?? ''),
  fc.json(),
  fc.string({ maxLength: 200 }),
  fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
  fc.integer({ min: 4000, max: 5000 }).map((n) => 'x'.repeat(n)),
);

const request = fc.record({
  body,
  producerId: fc.oneof({ weight: 3, arbitrary: fc.constant(PRODUCER) }, fc.constant('nobody'), printable(80)),
  timestamp: fc.oneof(
    { weight: 4, arbitrary: fc.integer({ min: -400_000, max: 400_000 }).map(timestampAt) },
    printable(45),
    fc.constant('2025-02-30T00:00:00Z'),
  ),
  signatureMode: fc.constantFrom('valid', 'valid', 'valid', 'random', 'none'),
  randomSignature: printable(60),
  key: fc.option(fc.oneof(fc.uuid(), printable(300)), { nil: undefined }),
  contentType: fc.option(fc.oneof({ weight: 4, arbitrary: fc.constant('application/json') }, printable(60)), {
    nil: undefined,
    freq: 5,
  }),
});

describe('fuzzing the ingest endpoint', () => {
  it('never answers 5xx, and every refusal is a problem+json with a known type', async () => {
    const seen = new Set<number>();
    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        const headers: Record<string, string> = {
          [HEADERS.producerId]: r.producerId,
          [HEADERS.timestamp]: r.timestamp,
        };
        if (r.signatureMode === 'valid') {
          headers[HEADERS.signature] = buildSignature({
            secret: SECRET,
            body: r.body,
            timestamp: r.timestamp,
            producerId: r.producerId,
          });
        } else if (r.signatureMode === 'random') headers[HEADERS.signature] = r.randomSignature;
        if (r.key !== undefined) headers[HEADERS.idempotencyKey] = r.key;
        if (r.contentType !== undefined) headers['content-type'] = r.contentType;
        const res = await env.app.inject({ method: 'POST', url: INGEST_PATH, headers, payload: r.body });
        seen.add(res.statusCode);
        expect(res.statusCode).toBeLessThan(500);
        if (res.statusCode === 201) {
          expect(parseIngestResponse(res.json()).ok).toBe(true);
        } else {
          expect(res.headers['content-type']).toBe('application/problem+json; charset=utf-8');
          const code = problemCode(res.json().type);
          expect(code).toBeDefined();
          expect(res.json().status).toBe(res.statusCode);
        }
      }),
      { numRuns: 400 },
    );
    // The generators reach every stage of the pipeline, acceptance included.
    expect([...seen].sort()).toEqual(expect.arrayContaining([201, 400, 401, 413, 415]));
    expect((await env.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
  });

  it('never answers 5xx to any operator query string', async () => {
    const query = fc.dictionary(
      fc.constantFrom('status', 'producer', 'instrument', 'from', 'to', 'limit', 'cursor', 'x'),
      fc.oneof(printable(40), fc.array(printable(10), { maxLength: 3 })),
    );
    await fc.assert(
      fc.asyncProperty(query, async (q) => {
        const res = await env.app.inject({
          method: 'GET',
          url: '/api/v1/operator/signals',
          query: q,
          headers: { authorization: `Bearer ${token}` },
        });
        expect(res.statusCode === 200 || res.statusCode === 400).toBe(true);
      }),
      { numRuns: 200 },
    );
  });
});
