// Check 4: the producer is known and the signature is valid over the raw body bytes, against any of
// its active secrets. Unknown producer and wrong signature get one answer (401 `invalid-signature`)
// and cost the same HMAC work, so neither the answer nor its timing tells them apart.
import { HEADERS, verifySignature } from '@sigpost/protocol';
import type { FastifyBaseLogger, FastifyRequest } from 'fastify';
import type { Clock } from '../clock.js';
import type { IngestMetrics } from '../metrics.js';
import type { Producer, Store } from '../store/store.js';
import type { AuthHeaders } from './auth-headers.js';
import { refusal } from './refusal.js';
import { storeUnavailable } from './store-step.js';

/** What the verifier needs from a `SecretBox`: turning stored ciphertext back into the secret. */
export interface SecretOpener {
  open(ciphertext: string): string;
}

/** `verify` could not look the producer up: `maxConcurrentLookups` lookups are already running. */
export class LookupsBusyError extends Error {
  override readonly name = 'LookupsBusyError';
  constructor(limit: number) {
    super(`too many producer lookups in progress (${limit} at once); retry shortly`);
  }
}

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

  /**
   * Resolves to the producer when the signature is valid, `undefined` otherwise (unknown producer
   * included). Rejects with `LookupsBusyError` when the producer must be read and too many reads run,
   * and with the store's error when the read fails.
   */
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
      return Promise.reject(new LookupsBusyError(this.#maxLookups));
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

/**
 * The producer whose active secret signed the body, or 401 `invalid-signature` (one answer for an
 * unknown producer and a wrong signature). Too many lookups at once, or a failing store, is 503
 * `store-unavailable`: the producer retries with the same key.
 */
export async function checkSignature(
  request: FastifyRequest,
  verifier: SignatureVerifier,
  auth: AuthHeaders,
  body: Uint8Array,
  metrics: IngestMetrics,
): Promise<Producer> {
  let producer: Producer | undefined;
  try {
    producer = await verifier.verify(auth, body);
  } catch (error) {
    if (!(error instanceof LookupsBusyError)) throw storeUnavailable(request, error);
    throw refusal('store-unavailable', 'too many producer lookups in progress; retry shortly', {
      headers: { [HEADERS.retryAfter]: '1' },
    });
  }
  if (producer !== undefined) return producer;
  metrics.verificationFailures.inc({ reason: 'invalid-signature' });
  throw refusal(
    'invalid-signature',
    'unknown producer or invalid signature: check X-Producer-Id and the secret, and sign the exact body bytes sent',
  );
}
