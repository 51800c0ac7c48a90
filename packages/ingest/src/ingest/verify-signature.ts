import {
  HEADERS,
  isValidIdempotencyKey,
  isValidProducerId,
  parseTimestamp,
  verifySignature,
} from '@sigpost/protocol';
import type { FastifyBaseLogger } from 'fastify';
import type { Clock } from '../clock.js';
import { HttpProblem } from '../problems.js';
import type { Producer, Store } from '../store/store.js';

/** What the verifier needs from a `SecretBox`: turning stored ciphertext back into the secret. */
export interface SecretOpener {
  open(ciphertext: string): string;
}

/** The authentication headers of an ingest request, checked for presence and form. */
export interface AuthHeaders {
  readonly producerId: string;
  readonly timestamp: string;
  /** `timestamp` parsed, in epoch ms. */
  readonly timestampMs: number;
  readonly signature: string;
}

type HeaderBag = Readonly<Record<string, string | string[] | undefined>>;

function single(headers: HeaderBag, name: string): string | undefined {
  const value = headers[name.toLowerCase()];
  // Node joins repeated custom headers with ", "; an array only appears for a few standard names.
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

/**
 * Checks that `X-Producer-Id`, `X-Timestamp` and `X-Signature` are present and well-formed. The
 * signature is only checked for presence here: a malformed one fails verification like a wrong one.
 * Returns one detail line per problem, or the parsed headers.
 */
export function readAuthHeaders(
  headers: HeaderBag,
): { readonly ok: true; readonly value: AuthHeaders } | { readonly ok: false; readonly problems: string[] } {
  const problems: string[] = [];
  const producerId = single(headers, HEADERS.producerId);
  const timestamp = single(headers, HEADERS.timestamp);
  const signature = single(headers, HEADERS.signature);
  const missing = [
    producerId === undefined ? HEADERS.producerId : undefined,
    timestamp === undefined ? HEADERS.timestamp : undefined,
    signature === undefined ? HEADERS.signature : undefined,
  ].filter((n) => n !== undefined);
  if (missing.length > 0)
    problems.push(`missing ${missing.join(', ')} header${missing.length > 1 ? 's' : ''}`);
  if (producerId !== undefined && !isValidProducerId(producerId)) {
    problems.push(`${HEADERS.producerId} must be 1–64 characters of A-Z a-z 0-9 . _ -`);
  }
  const timestampMs = timestamp === undefined ? undefined : parseTimestamp(timestamp);
  if (timestamp !== undefined && timestampMs === undefined) {
    problems.push(`${HEADERS.timestamp} must be an RFC 3339 date-time such as 2025-10-25T14:30:45.123456Z`);
  }
  if (problems.length > 0 || producerId === undefined || timestamp === undefined || signature === undefined) {
    return { ok: false, problems };
  }
  return { ok: true, value: { producerId, timestamp, timestampMs: timestampMs as number, signature } };
}

/** Reads `X-Idempotency-Key`: absent → null; present but malformed → 'invalid'. */
export function readIdempotencyKey(headers: HeaderBag): string | null | 'invalid' {
  const raw = headers[HEADERS.idempotencyKey.toLowerCase()];
  if (raw === undefined) return null;
  return isValidIdempotencyKey(raw) ? raw : 'invalid';
}

/**
 * Checks `X-Timestamp` against the server clock: the protocol's pure check, shared with the SDK, the
 * CLI and partners (undefined within ±tolerance, otherwise the detail and problem extensions).
 */
export { checkTimestampWindow } from '@sigpost/protocol';

interface CacheEntry {
  readonly producer: Producer;
  /** The stored (sealed) form of each secret, in the order of `secrets`. */
  readonly ciphertexts: readonly string[];
  readonly secrets: readonly string[];
  readonly fetchedAt: number;
}

// Verified against when the producer is unknown, so that answer costs about as much as a wrong signature.
const DUMMY_SECRET = 'sigpost-unknown-producer-dummy-secret';

/**
 * At most this many producer lookups run at once. A cache miss (an unknown or random producer id, or a
 * wrong signature) costs a store read before any per-producer limit applies; without a bound, a flood
 * of such requests could take every database connection. Requests verified from the cache never wait.
 */
export const DEFAULT_MAX_CONCURRENT_LOOKUPS = 16;

/**
 * Verifies a request's signature against any active secret of its producer.
 *
 * Decrypted secrets are cached per producer for `cacheMs`. A failed verification (or an unknown
 * producer) always re-reads the producer from the store before answering, so a secret just added
 * by `producers rotate` in another process works on its first request. Concurrent re-reads of one
 * producer share one store query.
 */
export class SignatureVerifier {
  readonly #cache = new Map<string, CacheEntry>();
  readonly #loading = new Map<string, Promise<CacheEntry | undefined>>();
  readonly #store: Store;
  readonly #opener: SecretOpener;
  readonly #cacheMs: number;
  readonly #clock: Clock;
  readonly #log: FastifyBaseLogger;
  readonly #maxLookups: number;

  constructor(deps: {
    store: Store;
    opener: SecretOpener;
    cacheMs: number;
    clock: Clock;
    log: FastifyBaseLogger;
    /** @default DEFAULT_MAX_CONCURRENT_LOOKUPS */
    maxConcurrentLookups?: number;
  }) {
    this.#maxLookups = deps.maxConcurrentLookups ?? DEFAULT_MAX_CONCURRENT_LOOKUPS;
    this.#store = deps.store;
    this.#opener = deps.opener;
    this.#cacheMs = deps.cacheMs;
    this.#clock = deps.clock;
    this.#log = deps.log;
  }

  /** Resolves to the producer when the signature is valid, `undefined` otherwise (unknown producer included). */
  async verify(auth: AuthHeaders, body: Uint8Array): Promise<Producer | undefined> {
    const entry = this.#cache.get(auth.producerId);
    const cached = entry && this.#clock.now() - entry.fetchedAt < this.#cacheMs ? entry : undefined;
    if (cached && matches(cached.secrets, auth, body)) return cached.producer;
    const fresh = await this.#load(auth.producerId);
    if (!fresh) {
      matches([DUMMY_SECRET], auth, body);
      return undefined;
    }
    // The secrets just tried from the cache are still the producer's: trying them again would make a
    // known producer's wrong signature cost twice the HMAC work of an unknown producer, and tell them apart.
    if (cached && sameSecrets(cached, fresh)) return undefined;
    return matches(fresh.secrets, auth, body) ? fresh.producer : undefined;
  }

  /** Forgets a producer's cached secrets (after a local rotation or removal). */
  invalidate(producerId: string): void {
    this.#cache.delete(producerId);
  }

  #load(producerId: string): Promise<CacheEntry | undefined> {
    const pending = this.#loading.get(producerId);
    if (pending) return pending;
    if (this.#loading.size >= this.#maxLookups) {
      // Refused without a store read or a log line: this is the path a flood takes.
      return Promise.reject(
        new HttpProblem('store-unavailable', 'too many producer lookups in progress; retry shortly', {
          headers: { [HEADERS.retryAfter]: '1' },
        }),
      );
    }
    const load = (async () => {
      const producer = await this.#store.getProducer(producerId);
      if (!producer) {
        this.#cache.delete(producerId);
        return undefined;
      }
      const ciphertexts: string[] = [];
      const secrets: string[] = [];
      for (const secret of producer.secrets) {
        try {
          secrets.push(this.#opener.open(secret.ciphertext));
          ciphertexts.push(secret.ciphertext);
        } catch (error) {
          // A secret sealed under another key: the server's key file or SIGPOST_SECRET_KEY is wrong.
          this.#log.error(
            { err: error, producer_id: producerId, secret_id: secret.id },
            'cannot decrypt a stored producer secret; check the server secret key',
          );
        }
      }
      const entry: CacheEntry = { producer, ciphertexts, secrets, fetchedAt: this.#clock.now() };
      this.#cache.set(producerId, entry);
      return entry;
    })();
    // Removed once settled, and only after being set: a store that throws synchronously would
    // otherwise leave its rejected promise here, answering 503 for this producer for ever.
    this.#loading.set(producerId, load);
    const forget = () => {
      if (this.#loading.get(producerId) === load) this.#loading.delete(producerId);
    };
    load.then(forget, forget);
    return load;
  }
}

function sameSecrets(a: CacheEntry, b: CacheEntry): boolean {
  return (
    a.ciphertexts.length === b.ciphertexts.length && a.ciphertexts.every((c, i) => c === b.ciphertexts[i])
  );
}

function matches(secrets: readonly string[], auth: AuthHeaders, body: Uint8Array): boolean {
  let ok = false;
  for (const secret of secrets) {
    // No early exit: every active secret is tried, so timing does not tell which one matched.
    if (
      verifySignature({
        secret,
        body,
        timestamp: auth.timestamp,
        producerId: auth.producerId,
        providedSignature: auth.signature,
      })
    ) {
      ok = true;
    }
  }
  return ok;
}
