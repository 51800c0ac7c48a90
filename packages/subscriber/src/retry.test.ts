import { describe, expect, it } from 'vitest';
import { DEFAULT_RECONNECT, reconnectDelay, resolveReconnectOptions } from './retry.js';

describe('reconnectDelay (full jitter)', () => {
  it('is random() times the capped exponential ceiling', () => {
    const options = { baseDelayMs: 100, maxDelayMs: 1000 };
    expect(reconnectDelay(1, options, () => 0.5)).toBe(50);
    expect(reconnectDelay(3, options, () => 0.5)).toBe(200);
    expect(reconnectDelay(10, options, () => 0.999)).toBe(999);
    expect(reconnectDelay(5000, options, () => 0.5)).toBe(500);
    expect(reconnectDelay(2, options, () => 0)).toBe(0);
  });

  it('stays within [0, ceiling] for a misbehaving random source', () => {
    const options = { baseDelayMs: 100, maxDelayMs: 1000 };
    expect(reconnectDelay(1, options, () => 7)).toBe(100);
    expect(reconnectDelay(1, options, () => -1)).toBe(0);
    expect(reconnectDelay(1, options, () => Number.NaN)).toBe(0);
    expect(() => reconnectDelay(0, options, Math.random)).toThrow(RangeError);
  });

  it('resolves options over the defaults and names a bad one', () => {
    expect(resolveReconnectOptions()).toEqual(DEFAULT_RECONNECT);
    expect(resolveReconnectOptions({ maxDelayMs: 5 })).toEqual({ baseDelayMs: 250, maxDelayMs: 5 });
    expect(() => resolveReconnectOptions({ baseDelayMs: -1 })).toThrow(/reconnect.baseDelayMs/);
    expect(() => resolveReconnectOptions({ maxDelayMs: Number.NaN })).toThrow(/reconnect.maxDelayMs/);
  });
});
