import { describe, expect, it } from 'vitest';
import { TokenBuckets } from './rate-limit.js';

describe('TokenBuckets', () => {
  it('allows a burst, then refuses with the whole seconds until the next token', () => {
    const buckets = new TokenBuckets({ perSecond: 2, burst: 3 });
    expect([0, 0, 0].map((t) => buckets.take('p', t).allowed)).toEqual([true, true, true]);
    expect(buckets.take('p', 0)).toEqual({ allowed: false, retryAfterSeconds: 1 });
  });

  it('refills at perSecond, up to burst', () => {
    const buckets = new TokenBuckets({ perSecond: 2, burst: 2 });
    buckets.take('p', 0);
    buckets.take('p', 0);
    expect(buckets.take('p', 499).allowed).toBe(false);
    expect(buckets.take('p', 500).allowed).toBe(true);
    // A long pause refills to burst, not beyond.
    expect([1, 2, 3].map(() => buckets.take('p', 100_000).allowed)).toEqual([true, true, false]);
  });

  it('rounds Retry-After up for slow rates', () => {
    const buckets = new TokenBuckets({ perSecond: 0.1, burst: 1 });
    buckets.take('p', 0);
    expect(buckets.take('p', 1_000)).toEqual({ allowed: false, retryAfterSeconds: 9 });
  });

  it('keeps one bucket per producer', () => {
    const buckets = new TokenBuckets({ perSecond: 1, burst: 1 });
    expect(buckets.take('a', 0).allowed).toBe(true);
    expect(buckets.take('b', 0).allowed).toBe(true);
    expect(buckets.take('a', 0).allowed).toBe(false);
  });

  it('forgets buckets that have refilled, so the map stays bounded', () => {
    const buckets = new TokenBuckets({ perSecond: 1, burst: 1 });
    for (let i = 0; i < 100; i++) buckets.take(`p${i}`, 0);
    expect(buckets.size).toBe(100);
    buckets.take('late', 120_000);
    expect(buckets.size).toBe(1);
  });
});
