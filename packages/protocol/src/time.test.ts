import { afterEach, describe, expect, it, vi } from 'vitest';
import { currentTimestamp, formatTimestamp, nowMs, parseTimestamp } from './index.js';

describe('formatTimestamp', () => {
  it('writes UTC with six fraction digits and Z', () => {
    expect(formatTimestamp(Date.UTC(2025, 9, 25, 14, 30, 45, 123) + 0.456)).toBe(
      '2025-10-25T14:30:45.123456Z',
    );
    expect(formatTimestamp(new Date(Date.UTC(2025, 0, 1)))).toBe('2025-01-01T00:00:00.000000Z');
  });

  it('carries a rounded-up microsecond into the next millisecond', () => {
    expect(formatTimestamp(Date.UTC(2025, 0, 1) + 0.9999)).toBe('2025-01-01T00:00:00.001000Z');
  });

  it('refuses an invalid date with a RangeError', () => {
    expect(() => formatTimestamp(Number.NaN)).toThrow(RangeError);
  });

  it('currentTimestamp is now, parseable, within a second of Date.now()', () => {
    const ts = currentTimestamp();
    expect(ts).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/);
    expect(Math.abs(parseTimestamp(ts)! - Date.now())).toBeLessThan(1000);
  });
});

describe('nowMs', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('follows the wall clock after it steps, where the monotonic performance clock does not', () => {
    // Only Date is faked: performance.now() keeps running as a monotonic clock does across an NTP step.
    vi.useFakeTimers({ toFake: ['Date'] });
    const stepped = Date.now() + 3_600_000;
    vi.setSystemTime(stepped);
    expect(nowMs() - stepped).toBeGreaterThanOrEqual(0);
    expect(nowMs() - stepped).toBeLessThan(1);
    expect(parseTimestamp(currentTimestamp())! - stepped).toBeLessThanOrEqual(1);
  });

  it('keeps sub-millisecond digits', () => {
    const samples = Array.from({ length: 50 }, () => nowMs());
    expect(samples.some((ms) => !Number.isInteger(ms))).toBe(true);
  });
});

describe('parseTimestamp', () => {
  it.each([
    ['2025-10-25T14:30:45.123456Z', Date.UTC(2025, 9, 25, 14, 30, 45, 123) + 0.456],
    ['2025-10-25T14:30:45Z', Date.UTC(2025, 9, 25, 14, 30, 45)],
    ['2025-10-25t14:30:45z', Date.UTC(2025, 9, 25, 14, 30, 45)],
    ['2025-10-25T16:30:45+02:00', Date.UTC(2025, 9, 25, 14, 30, 45)],
    ['2025-10-25T09:00:45.5-05:30', Date.UTC(2025, 9, 25, 14, 30, 45, 500)],
    ['2024-02-29T00:00:00Z', Date.UTC(2024, 1, 29)],
    ['0050-01-01T00:30:00+01:00', new Date('0049-12-31T23:30:00Z').getTime()],
    ['0000-02-29T00:00:00Z', new Date('0000-02-29T00:00:00Z').getTime()],
  ])('parses %s', (text, expected) => {
    expect(parseTimestamp(text)).toBeCloseTo(expected, 3);
  });

  it.each([
    '',
    '2025-10-25',
    '2025-10-25 14:30:45Z',
    '2025-10-25T14:30:45',
    '2025-13-01T00:00:00Z',
    '2025-02-29T00:00:00Z',
    '2025-10-25T24:00:00Z',
    '2025-10-25T14:60:00Z',
    '2025-10-25T14:30:45+2:00',
    '2025-10-25T14:30:45.Z',
    '1761402645',
  ])('refuses %j', (text) => {
    expect(parseTimestamp(text)).toBeUndefined();
  });

  it('refuses non-strings', () => {
    expect(parseTimestamp(1761402645)).toBeUndefined();
    expect(parseTimestamp(null)).toBeUndefined();
  });
});
