import { createHash } from 'node:crypto';
import {
  checkJson,
  formatTimestamp,
  HEADERS,
  INGEST_PATH,
  type SignalCandidate,
  type SignalIngestResponse,
  type SignalStatus,
  validateSignal,
} from '@sigpost/protocol';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AppContext } from '../context.js';
import { newId } from '../ids.js';
import { checkTimestampWindow, readAuthHeaders, readIdempotencyKey } from '../ingest/verify-signature.js';
import { HttpProblem } from '../problems.js';
import type { AcceptRequest, Producer, SignalRecord, StoredResponse } from '../store/store.js';

const JSON_TYPE = 'application/json; charset=utf-8';
const EMPTY = Buffer.alloc(0);
// fatal: a body that is not UTF-8 is malformed, not silently repaired. ignoreBOM: a BOM stays and
// JSON.parse refuses it, so the stored text is exactly what was signed.
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Policy name recorded as `decidedBy` for signals rejected by the instrument allow-list. */
export const POLICY_DECIDER = 'policy:instrument-allow-list';

/**
 * `POST /api/v1/signals/ingest`. The checks run in this order, each refusing with its own problem type
 * (the order is documented in the package README):
 *
 *  1. body limit (413, by fastify's raw body reader: from Content-Length before reading, and while
 *     streaming; the Content-Type is set aside first so that no body parser or media-type check runs
 *     before it)
 *  2. auth headers present and well-formed (401 missing-auth-headers)
 *  3. timestamp within ±tolerance (401 timestamp-out-of-window)
 *  4. producer known and signature valid over the raw bytes (401 invalid-signature, one answer for both)
 *  5. per-producer rate limit (429), right after authentication so refused abusers cost little
 *  6. X-Idempotency-Key well-formed when present (400 invalid-idempotency-key)
 *  7. Content-Type (415); UTF-8 and JSON grammar (400 malformed-json); the body limits of
 *     docs/protocol.md (nesting, counts, lengths) and duplicate keys (400 invalid-signal), checked by
 *     checkJson's linear scan BEFORE JSON.parse, so that nothing is stored that cannot be served back;
 *     then signal validation (400 invalid-signal)
 *  8. same key in flight in this process (409 request-in-flight)
 *  9. approval policy, then the group commit, whose transaction decides, per request and in this order:
 *     committed key → the stored response again with Idempotent-Replayed (same body) or 422 (other
 *     body); signature already accepted → 409 replayed-signature; otherwise stored → 201 with the
 *     SignalIngestResponse stored with the idempotency record
 */
export function registerIngestRoute(app: FastifyInstance, ctx: AppContext): void {
  app.post(
    INGEST_PATH,
    {
      // Set the Content-Type aside before fastify looks at it: fastify refuses a malformed media type
      // (415) without reading the body, which would answer 415 before 413 and before authentication.
      // Without the header every body goes to the catch-all raw parser, under the body limit.
      onRequest: (request, _reply, done) => {
        const contentType = request.raw.headers['content-type'];
        request.sigpost.contentType = contentType;
        if (contentType !== undefined) delete request.raw.headers['content-type'];
        done();
      },
    },
    (request, reply) => ingest(ctx, request, reply),
  );
}

/** Resolves to the response body text; status and headers are set on `reply`. */
async function ingest(ctx: AppContext, request: FastifyRequest, reply: FastifyReply): Promise<string> {
  const state = request.sigpost;
  const body = Buffer.isBuffer(request.body) ? request.body : EMPTY;

  const auth = readAuthHeaders(request.headers);
  if (!auth.ok) {
    ctx.metrics.verificationFailures.inc({ reason: 'missing-auth-headers' });
    throw new HttpProblem('missing-auth-headers', auth.problems.join('; '));
  }
  const window = checkTimestampWindow(auth.value.timestampMs, ctx.clock.now(), ctx.config.toleranceSeconds);
  if (window) {
    ctx.metrics.verificationFailures.inc({ reason: 'timestamp-out-of-window' });
    throw new HttpProblem('timestamp-out-of-window', window.detail, { extensions: window.extensions });
  }
  const producer = await storeCall(request, () => ctx.verifier.verify(auth.value, body));
  if (!producer) {
    ctx.metrics.verificationFailures.inc({ reason: 'invalid-signature' });
    throw new HttpProblem(
      'invalid-signature',
      'unknown producer or invalid signature: check X-Producer-Id and the secret, and sign the exact body bytes sent',
    );
  }
  state.producerId = producer.id;

  const rate = ctx.buckets.take(producer.id, ctx.clock.now());
  if (!rate.allowed) {
    const { perSecond, burst } = ctx.config.rateLimit;
    throw new HttpProblem(
      'rate-limited',
      `producer is over its rate limit of ${perSecond} signals/s (burst ${burst}); retry after ${rate.retryAfterSeconds} s`,
      { headers: { [HEADERS.retryAfter]: String(rate.retryAfterSeconds) } },
    );
  }

  const key = readIdempotencyKey(request.headers);
  if (key === 'invalid') {
    throw new HttpProblem(
      'invalid-idempotency-key',
      `${HEADERS.idempotencyKey} must be 1–255 visible ASCII characters (0x21–0x7E)`,
    );
  }

  const mediaProblem = checkMediaType(state.contentType);
  if (mediaProblem) throw new HttpProblem('unsupported-media-type', mediaProblem);

  const text = parseBody(body);
  const json: unknown = JSON.parse(text); // checkJson passed: it parses, and serialises back
  const validation = validateSignal(json);
  if (!validation.ok) {
    const n = validation.errors.length;
    throw new HttpProblem('invalid-signal', `the signal has ${n} problem${n === 1 ? '' : 's'}`, {
      extensions: { errors: validation.errors },
    });
  }

  const inFlightKey = key === null ? undefined : `${producer.id}\n${key}`;
  if (inFlightKey !== undefined) {
    if (ctx.inFlight.has(inFlightKey)) {
      throw new HttpProblem(
        'request-in-flight',
        'a request with this idempotency key is still being processed; retry shortly with the same key',
        { headers: { [HEADERS.retryAfter]: '1' } },
      );
    }
    ctx.inFlight.add(inFlightKey);
  }
  try {
    const requestHash = createHash('sha256').update(body).digest('hex');
    // A key already committed (by this process or another sharing the database) is recognised inside
    // the group-commit transaction: acceptBatch answers `duplicate` with the stored response, atomically
    // with the insert. A separate findIdempotent lookup first would answer the same, at the cost of one
    // more read per request (about 6 % of the server's time in bench/ingest.bench.ts, and a round trip
    // on PostgreSQL).
    const accept = buildAccept(ctx, producer, validation.value, text, key, requestHash, auth.value);
    state.signalId = accept.signal.id;
    const result = await storeCall(request, () => ctx.batcher.accept(accept));
    if (result.outcome === 'stored') {
      state.outcome = 'accepted';
      reply.code(accept.response.status).type(JSON_TYPE);
      return accept.response.body;
    }
    state.signalId = undefined;
    if (result.outcome === 'duplicate') return await repeated(ctx, request, reply, json, requestHash, result);
    throw new HttpProblem(
      'replayed-signature',
      'this signature was already accepted; sign every new attempt with a fresh X-Timestamp',
    );
  } finally {
    if (inFlightKey !== undefined) ctx.inFlight.delete(inFlightKey);
  }
}

/**
 * Decodes the body and checks it with `checkJson` (grammar, limits, duplicate keys) before anything
 * parses it; returns the text, which `JSON.parse` then reads without fail.
 */
function parseBody(body: Buffer): string {
  let text: string;
  try {
    text = UTF8.decode(body);
  } catch (error) {
    throw new HttpProblem('malformed-json', 'request body is not valid UTF-8 JSON', { cause: error });
  }
  const check = checkJson(text);
  if (check.ok) return text;
  if (check.reason === 'syntax') {
    throw new HttpProblem('malformed-json', `request body is not valid UTF-8 JSON: ${check.message}`);
  }
  const detail =
    check.reason === 'duplicate-key'
      ? `the body has a duplicate key at ${check.path}; send each key once per object`
      : check.reason === 'number'
        ? `the body has a number out of the range of a double (docs/protocol.md, Body limits): ${check.message}`
        : `the body is over the ${check.limit} limit (docs/protocol.md, Body limits): ${check.message}`;
  throw new HttpProblem('invalid-signal', detail, { extensions: { errors: [check.message] } });
}

async function repeated(
  ctx: AppContext,
  request: FastifyRequest,
  reply: FastifyReply,
  json: unknown,
  requestHash: string,
  existing: { readonly requestHash: string; readonly response: StoredResponse },
): Promise<string> {
  const state = request.sigpost;
  if (existing.requestHash !== requestHash) {
    const first = await firstBody(ctx, request, existing.response);
    if (first === undefined) {
      throw new HttpProblem(
        'idempotency-key-reused',
        'this idempotency key was already used with a different body; use a new key for a new signal',
      );
    }
    const fields = differingFields(first, json);
    const how =
      'use a new key for a new signal, or send the first body again, byte for byte, to get its answer';
    const detail =
      fields.length === 0
        ? `this idempotency key was already used with a different body: the same fields and values, written differently (spacing, key order or number format); ${how}`
        : `this idempotency key was already used with a different body, which differs in: ${fields.join(', ')}; ${how}`;
    const timestamp = first.timestamp;
    throw new HttpProblem('idempotency-key-reused', detail, {
      extensions: {
        differing_fields: fields,
        ...(typeof timestamp === 'string' && fields.includes('timestamp')
          ? { first_timestamp: timestamp }
          : {}),
      },
    });
  }
  state.outcome = 'replayed';
  reply.code(existing.response.status).header(HEADERS.idempotentReplayed, 'true').type(JSON_TYPE);
  return existing.response.body;
}

/**
 * The body first sent under a key (the stored response names its signal), as a JSON object; undefined
 * when it cannot be had (then the 422 says less, but still refuses).
 */
async function firstBody(
  ctx: AppContext,
  request: FastifyRequest,
  response: StoredResponse,
): Promise<Record<string, unknown> | undefined> {
  try {
    const { signal_id: id } = JSON.parse(response.body) as { signal_id?: unknown };
    if (typeof id !== 'string') return undefined;
    const record = await ctx.store.getSignal(id);
    // A row stored by an older release may be over the limits: compare only what can be read safely.
    if (record === undefined || !checkJson(record.body).ok) return undefined;
    const value: unknown = JSON.parse(record.body);
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch (error) {
    request.log.warn({ err: error }, 'could not read the first body of a reused idempotency key');
    return undefined;
  }
}

/** The top-level fields whose values differ between two bodies (present in one only counts), sorted. */
function differingFields(first: Record<string, unknown>, second: unknown): string[] {
  const other = second as Record<string, unknown>;
  const names = new Set([...Object.keys(first), ...Object.keys(other)]);
  return [...names]
    .filter(
      (name) =>
        !Object.hasOwn(first, name) || !Object.hasOwn(other, name) || !sameJson(first[name], other[name]),
    )
    .sort();
}

/**
 * Deep equality of two parsed JSON values (object key order ignored). Both passed checkJson, so the
 * recursion is at most JSON_LIMITS.maxDepth deep.
 */
function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  return ka.every((k) => Object.hasOwn(y, k) && sameJson(x[k], y[k]));
}

/** Returns why a Content-Type is refused, or undefined for `application/json` (parameters allowed; charset utf-8). */
function checkMediaType(contentType: string | undefined): string | undefined {
  if (contentType === undefined) return 'Content-Type must be application/json; the header is missing';
  const [type = '', ...params] = contentType.split(';');
  if (type.trim().toLowerCase() !== 'application/json') return 'Content-Type must be application/json';
  for (const param of params) {
    const [name = '', value = ''] = param.split('=');
    if (
      name.trim().toLowerCase() === 'charset' &&
      value.trim().replace(/^"|"$/g, '').toLowerCase() !== 'utf-8'
    ) {
      return 'Content-Type charset must be utf-8';
    }
  }
  return undefined;
}

function decide(
  producer: Producer,
  signal: SignalCandidate,
): { status: SignalStatus; message: string | null } {
  if (producer.instruments !== null && !producer.instruments.includes(signal.instrument)) {
    return {
      status: 'rejected',
      message: `instrument ${signal.instrument} is not in the allow-list of producer ${producer.id}`,
    };
  }
  return producer.approval === 'manual'
    ? { status: 'pending_approval', message: 'queued for operator approval' }
    : { status: 'received', message: null };
}

function buildAccept(
  ctx: AppContext,
  producer: Producer,
  signal: SignalCandidate,
  text: string,
  key: string | null,
  requestHash: string,
  auth: { readonly signature: string; readonly timestampMs: number },
): AcceptRequest {
  const nowExact = ctx.clock.now();
  const now = Math.floor(nowExact);
  const { status, message } = decide(producer, signal);
  const id = newId('sig', now);
  const response: SignalIngestResponse = {
    signal_id: id,
    status,
    server_timestamp: formatTimestamp(nowExact),
    message,
    errors: null,
  };
  const record: SignalRecord = {
    id,
    producerId: producer.id,
    idempotencyKey: key,
    instrument: signal.instrument,
    side: signal.side,
    status,
    message,
    body: text,
    receivedAt: now,
    decidedAt: status === 'rejected' ? now : null,
    decidedBy: status === 'rejected' ? POLICY_DECIDER : null,
  };
  const toleranceMs = ctx.config.toleranceSeconds * 1000;
  return {
    signal: record,
    requestHash,
    idempotencyExpiresAt: now + ctx.config.idempotencyTtlSeconds * 1000,
    signature: auth.signature,
    signedAt: Math.floor(auth.timestampMs),
    // A timestamp is accepted until it is `tolerance` behind the clock, and it can be at most
    // `tolerance` ahead of it now: remembering the signature for 2 × tolerance covers its whole life
    // (with room for another server's clock being a little behind ours).
    signatureExpiresAt: now + 2 * toleranceMs,
    response: { status: 201, body: JSON.stringify(response) },
  };
}

/**
 * Runs a store-backed step; a store failure becomes 503 store-unavailable (the producer retries with
 * the same key) and is logged with its cause.
 */
async function storeCall<T>(request: FastifyRequest, step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (error) {
    if (error instanceof HttpProblem) throw error;
    request.log.error({ err: error }, 'signal store call failed');
    throw new HttpProblem(
      'store-unavailable',
      'the signal store is unavailable; retry with the same idempotency key',
      {
        headers: { [HEADERS.retryAfter]: '1' },
        cause: error,
      },
    );
  }
}
