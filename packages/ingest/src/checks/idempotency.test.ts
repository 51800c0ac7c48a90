import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { InFlightKeys, idempotencyKeyHash, readIdempotencyKey, requestHash } from './idempotency.js';

describe('idempotency', () => {
  it('hashes the body bytes as hex SHA-256', () => {
    const body = Buffer.from('{"instrument":"GOLD","side":"buy"}');
    expect(requestHash(body)).toBe(createHash('sha256').update(body).digest('hex'));
  });

  it("keys a SQLite record by SHA-256 of the producer id's length, the id and the key (stored keys depend on these bytes)", () => {
    const expected = createHash('sha256').update('10:producer-akey-1', 'utf8').digest();
    expect(idempotencyKeyHash('producer-a', 'key-1').equals(expected)).toBe(true);
    // The length prefix keeps ("ab", "c") and ("a", "bc") apart.
    expect(idempotencyKeyHash('ab', 'c').equals(idempotencyKeyHash('a', 'bc'))).toBe(false);
  });

  it('reads X-Idempotency-Key: absent, malformed, or the key', () => {
    expect(readIdempotencyKey({})).toBeNull();
    expect(readIdempotencyKey({ 'x-idempotency-key': 'has space' })).toBe('invalid');
    expect(readIdempotencyKey({ 'x-idempotency-key': 'k-1' })).toBe('k-1');
  });

  it('refuses a second claim of the same producer and key until the first is released', () => {
    const keys = new InFlightKeys();
    const claimed = keys.claim('p', 'k');
    expect(() => keys.claim('p', 'k')).toThrow(expect.objectContaining({ code: 'request-in-flight' }));
    expect(keys.claim('q', 'k')).not.toBe(claimed); // another producer's key is its own
    keys.release(claimed);
    expect(() => keys.claim('p', 'k')).not.toThrow();
  });
});
