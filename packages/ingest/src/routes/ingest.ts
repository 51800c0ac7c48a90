import { formatTimestamp, INGEST_PATH, type SignalIngestResponse } from '@sigpost/protocol';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { approvalPolicy } from '../checks/approval-policy.js';
import { type AuthHeaders, checkAuthHeaders } from '../checks/auth-headers.js';
import { bodyBytes, setContentTypeAside } from '../checks/body-limit.js';
import {
  checkIdempotencyKey,
  idempotencyExpiry,
  repeatedAnswer,
  requestHash,
} from '../checks/idempotency.js';
import { checkRateLimit } from '../checks/rate-limit.js';
import { replayedSignature, signatureExpiry } from '../checks/replay-guard.js';
import { checkSignature } from '../checks/signature.js';
import { storeStep } from '../checks/store-step.js';
import { checkTimestamp } from '../checks/timestamp-window.js';
import { checkBody, type ValidBody } from '../checks/validation.js';
import type { AppContext } from '../context.js';
import { newId } from '../ids.js';
import type { AcceptRequest, Producer } from '../store/store.js';

const JSON_TYPE = 'application/json; charset=utf-8';

/**
 * `POST /api/v1/signals/ingest`. The checks run in the order of the package README's table, each in
 * its own module under `src/checks/` and each refusing with its own problem type:
 *
 *  1. body limit (413)                                     checks/body-limit.ts
 *  2. auth headers present and well-formed (401)           checks/auth-headers.ts
 *  3. timestamp within ±tolerance (401)                    checks/timestamp-window.ts
 *  4. producer known, signature valid (401)                checks/signature.ts
 *  5. per-producer rate limit (429)                        checks/rate-limit.ts
 *  6. idempotency key well-formed (400)                    checks/idempotency.ts
 *  7–9. Content-Type, UTF-8/JSON and body limits, signal   checks/validation.ts
 *  10. same key in flight in this process (409)            checks/idempotency.ts
 *  11. approval policy                                     checks/approval-policy.ts
 *  12. the group commit, whose transaction decides: a committed key → the stored answer or 422
 *      (checks/idempotency.ts), a signature already accepted → 409 (checks/replay-guard.ts),
 *      otherwise stored → 201
 */
export function registerIngestRoute(app: FastifyInstance, ctx: AppContext): void {
  app.post(INGEST_PATH, { onRequest: setContentTypeAside }, (request, reply) => ingest(ctx, request, reply));
}

/** Resolves to the response body text; status and headers are set on `reply`. */
async function ingest(ctx: AppContext, request: FastifyRequest, reply: FastifyReply): Promise<string> {
  const { config, metrics, clock } = ctx;
  const body = bodyBytes(request); // 1
  const auth = checkAuthHeaders(request.headers, metrics); // 2
  checkTimestamp(auth, clock.now(), config.toleranceSeconds, metrics); // 3
  const producer = await checkSignature(request, ctx.verifier, auth, body, metrics); // 4
  request.sigpost.producerId = producer.id;
  checkRateLimit(ctx.buckets, producer.id, clock.now(), config.rateLimit); // 5
  const key = checkIdempotencyKey(request.headers); // 6
  const valid = checkBody(request.sigpost.contentType, body); // 7, 8, 9
  const claimed = key === null ? undefined : ctx.inFlight.claim(producer.id, key); // 10
  try {
    const hash = requestHash(body);
    const accept = buildAccept(ctx, producer, valid, key, hash, auth); // 11
    request.sigpost.signalId = accept.signal.id;
    const result = await storeStep(request, () => ctx.batcher.accept(accept)); // 12
    if (result.outcome === 'stored') {
      request.sigpost.outcome = 'accepted';
      reply.code(accept.response.status).type(JSON_TYPE);
      return accept.response.body;
    }
    request.sigpost.signalId = undefined;
    if (result.outcome === 'duplicate') {
      return await repeatedAnswer(ctx.store, request, reply, valid.json, hash, result);
    }
    throw replayedSignature();
  } finally {
    if (claimed !== undefined) ctx.inFlight.release(claimed);
  }
}

/** The signal as it will be stored (after the approval policy, check 11), with its records and its 201. */
function buildAccept(
  ctx: AppContext,
  producer: Producer,
  valid: ValidBody,
  key: string | null,
  hash: string,
  auth: AuthHeaders,
): AcceptRequest {
  const nowExact = ctx.clock.now();
  const now = Math.floor(nowExact);
  const { signal } = valid;
  const { status, message, decidedBy } = approvalPolicy(producer, signal);
  const id = newId('sig', now);
  const response: SignalIngestResponse = {
    signal_id: id,
    status,
    server_timestamp: formatTimestamp(nowExact),
    message,
    errors: null,
  };
  return {
    signal: {
      id,
      producerId: producer.id,
      idempotencyKey: key,
      instrument: signal.instrument,
      side: signal.side,
      status,
      message,
      body: valid.text,
      receivedAt: now,
      decidedAt: decidedBy === null ? null : now,
      decidedBy,
    },
    requestHash: hash,
    idempotencyExpiresAt: idempotencyExpiry(now, ctx.config.idempotencyTtlSeconds),
    signature: auth.signature,
    signedAt: Math.floor(auth.timestampMs),
    signatureExpiresAt: signatureExpiry(now, ctx.config.toleranceSeconds),
    response: { status: 201, body: JSON.stringify(response) },
  };
}
