// Check 5: the per-producer rate limit, a token bucket, right after authentication so that refused
// abusers cost little (and unauthenticated requests are never charged to the producer they name).
// The console's sign-in limit (console/routes.ts) uses the same buckets, keyed by address.
import { HEADERS } from '@sigpost/protocol';
import type { RateLimitConfig } from '../config.js';
import { refusal } from './refusal.js';

interface Bucket {
  tokens: number;
  updatedAt: number;
}

export type RateDecision =
  | { readonly allowed: true }
  | { readonly allowed: false; readonly retryAfterSeconds: number };

/**
 * Per-key token bucket. Keys are authenticated producer ids, so the map is bounded by the number of
 * producers; buckets that have refilled completely are dropped on the next sweep anyway.
 */
export class TokenBuckets {
  readonly #buckets = new Map<string, Bucket>();
  readonly #perMs: number;
  readonly #burst: number;
  #lastSweep = 0;

  constructor(limit: RateLimitConfig) {
    this.#perMs = limit.perSecond / 1000;
    this.#burst = limit.burst;
  }

  /** Takes one token for `key` at time `now` (ms), or says how many whole seconds until one is available. */
  take(key: string, now: number): RateDecision {
    this.#sweep(now);
    let bucket = this.#buckets.get(key);
    if (!bucket) {
      bucket = { tokens: this.#burst, updatedAt: now };
      this.#buckets.set(key, bucket);
    } else if (now > bucket.updatedAt) {
      bucket.tokens = Math.min(this.#burst, bucket.tokens + (now - bucket.updatedAt) * this.#perMs);
      bucket.updatedAt = now;
    }
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { allowed: true };
    }
    const waitMs = (1 - bucket.tokens) / this.#perMs;
    return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil(waitMs / 1000)) };
  }

  get size(): number {
    return this.#buckets.size;
  }

  #sweep(now: number): void {
    if (now - this.#lastSweep < 60_000) return;
    this.#lastSweep = now;
    const fullAfterMs = this.#burst / this.#perMs;
    for (const [key, bucket] of this.#buckets) {
      if (now - bucket.updatedAt >= fullAfterMs) this.#buckets.delete(key);
    }
  }
}

/** Takes one token of `producerId`'s bucket, or 429 `rate-limited` with `Retry-After`. */
export function checkRateLimit(
  buckets: TokenBuckets,
  producerId: string,
  nowMs: number,
  limit: RateLimitConfig,
): void {
  const rate = buckets.take(producerId, nowMs);
  if (rate.allowed) return;
  throw refusal(
    'rate-limited',
    `producer is over its rate limit of ${limit.perSecond} signals/s (burst ${limit.burst}); retry after ${rate.retryAfterSeconds} s`,
    { headers: { [HEADERS.retryAfter]: String(rate.retryAfterSeconds) } },
  );
}
