import { afterEach, describe, expect, it, vi } from 'vitest';
import { type CliIO, nodeIO, nowOf } from './io.js';

/** An IO without a clock; nothing here is written or read. */
const CLOCKLESS: CliIO = {
  stdout: { write: () => true },
  stderr: { write: () => true },
  stdin: (async function* () {})(),
  env: {},
  isTTY: false,
};

afterEach(() => {
  vi.useRealTimers();
});

describe('nodeIO clock', () => {
  it('follows the system clock after it steps (not a monotonic clock started at launch)', () => {
    // Only Date is faked: performance.now() runs on, as a monotonic clock does across an NTP step or a suspend.
    vi.useFakeTimers({ toFake: ['Date'] });
    const stepped = Date.now() + 3_600_000;
    vi.setSystemTime(stepped);
    const now = nowOf(nodeIO());
    expect(now - stepped).toBeGreaterThanOrEqual(0);
    expect(now - stepped).toBeLessThan(1);
  });

  it('uses the IO clock when one is given', () => {
    expect(nowOf({ ...CLOCKLESS, now: () => 42.5 })).toBe(42.5);
  });

  it('falls back to the system clock when the IO has none', () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const stepped = Date.now() - 86_400_000;
    vi.setSystemTime(stepped);
    const now = nowOf(CLOCKLESS);
    expect(now - stepped).toBeGreaterThanOrEqual(0);
    expect(now - stepped).toBeLessThan(1);
  });
});
