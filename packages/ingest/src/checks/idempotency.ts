// Idempotency: one key, one signal. Everything about `X-Idempotency-Key` is here, in the order the
// route meets it:
//   check 6   the key's form (400 `invalid-idempotency-key`)            readIdempotencyKey, checkIdempotencyKey
//   check 10  the same (producer, key) in flight in this process (409)  InFlightKeys
//   check 12  inside the commit transaction, a key already committed:   (the store: `acceptBatch` answers
//             the stored 201 again, or 422 for another body             `duplicate`) → repeatedAnswer
// and what the store keeps: the request's SHA-256 (`requestHash`), the record's expiry (`idempotencyExpiry`,
// SIGPOST_IDEMPOTENCY_TTL_SECONDS) and, in SQLite, the record's key (`idempotencyKeyHash`). Expired
// records are deleted by the purge timer (purge.ts). Deciding in the transaction makes the answer atomic
// with the insert, also across servers sharing PostgreSQL.
import { createHash } from 'node:crypto';
import { checkJson, HEADERS, isPlainObject, isValidIdempotencyKey } from '@sigpost/protocol';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Store, StoredResponse } from '../store/store.js';
import type { HeaderBag } from './auth-headers.js';
import { refusal } from './refusal.js';

const KEY_HEADER = HEADERS.idempotencyKey.toLowerCase();
const JSON_TYPE = 'application/json; charset=utf-8';

/** Reads `X-Idempotency-Key`: absent → null; present but malformed → 'invalid'. */
export function readIdempotencyKey(headers: HeaderBag): string | null | 'invalid' {
  const raw = headers[KEY_HEADER];
  if (raw === undefined) return null;
  return isValidIdempotencyKey(raw) ? raw : 'invalid';
}

/** Check 6: the key (null without one), or 400 `invalid-idempotency-key`. */
export function checkIdempotencyKey(headers: HeaderBag): string | null {
  const key = readIdempotencyKey(headers);
  if (key !== 'invalid') return key;
  throw refusal(
    'invalid-idempotency-key',
    `${HEADERS.idempotencyKey} must be 1–255 visible ASCII characters (0x21–0x7E)`,
  );
}

/**
 * Check 10: the keys of this process's requests between validation and their commit. A second
 * request with the same (producer, key) meanwhile gets 409 `request-in-flight` and retries: without
 * this, both would reach the same commit and the second would be answered from a record that the
 * first had not finished writing.
 */
export class InFlightKeys {
  readonly #keys = new Set<string>();

  /** Claims (producer, key) or refuses with 409; returns what `release` takes. */
  claim(producerId: string, key: string): string {
    const claimed = `${producerId}\n${key}`;
    if (this.#keys.has(claimed)) {
      throw refusal(
        'request-in-flight',
        'a request with this idempotency key is still being processed; retry shortly with the same key',
        { headers: { [HEADERS.retryAfter]: '1' } },
      );
    }
    this.#keys.add(claimed);
    return claimed;
  }

  release(claimed: string): void {
    this.#keys.delete(claimed);
  }

  get size(): number {
    return this.#keys.size;
  }
}

/** SHA-256 of the body bytes, hex: a repeat with another body under the same key is a 422. */
export function requestHash(body: Uint8Array): string {
  return createHash('sha256').update(body).digest('hex');
}

/** When a record written at `nowMs` expires: after `ttlSeconds` (SIGPOST_IDEMPOTENCY_TTL_SECONDS). */
export function idempotencyExpiry(nowMs: number, ttlSeconds: number): number {
  return nowMs + ttlSeconds * 1000;
}

/**
 * The SQLite store's key for an idempotency record: SHA-256 of the producer id and the key, with the
 * id's length first so that no two (producer, key) pairs give the same input. 32 bytes, whatever the
 * lengths of the two (the key may be 255 characters). Registered as the SQL function
 * `sigpost_key_hash` on the writer's connection, for migration 2.
 */
export function idempotencyKeyHash(producerId: string, key: string): Buffer {
  return createHash('sha256').update(`${producerId.length}:${producerId}${key}`, 'utf8').digest();
}

/**
 * Check 12, a key already committed: the same body (same SHA-256) gets the stored answer again, byte
 * for byte, with `Idempotent-Replayed: true`; another body gets 422 `idempotency-key-reused` naming
 * the top-level fields that differ from the first body (`differing_fields`, and `first_timestamp`
 * when the timestamp is one of them). Resolves to the body text; status and headers are set on `reply`.
 */
export async function repeatedAnswer(
  store: Store,
  request: FastifyRequest,
  reply: FastifyReply,
  json: unknown,
  hash: string,
  existing: { readonly requestHash: string; readonly response: StoredResponse },
): Promise<string> {
  if (existing.requestHash !== hash) throw await keyReused(store, request, existing.response, json);
  request.sigpost.outcome = 'replayed';
  reply.code(existing.response.status).header(HEADERS.idempotentReplayed, 'true').type(JSON_TYPE);
  return existing.response.body;
}

async function keyReused(
  store: Store,
  request: FastifyRequest,
  response: StoredResponse,
  json: unknown,
): Promise<Error> {
  const first = await firstBody(store, request, response);
  if (first === undefined) {
    return refusal(
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
  return refusal('idempotency-key-reused', detail, {
    extensions: {
      differing_fields: fields,
      ...(typeof timestamp === 'string' && fields.includes('timestamp')
        ? { first_timestamp: timestamp }
        : {}),
    },
  });
}

/**
 * The body first sent under a key (the stored response names its signal), as a JSON object; undefined
 * when it cannot be had (then the 422 says less, but still refuses).
 */
async function firstBody(
  store: Store,
  request: FastifyRequest,
  response: StoredResponse,
): Promise<Record<string, unknown> | undefined> {
  try {
    const { signal_id: id } = JSON.parse(response.body) as { signal_id?: unknown };
    if (typeof id !== 'string') return undefined;
    const record = await store.getSignal(id);
    // A row stored by an older release may be over the limits: compare only what can be read safely.
    if (record === undefined || !checkJson(record.body).ok) return undefined;
    const value: unknown = JSON.parse(record.body);
    return isPlainObject(value) ? value : undefined;
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
