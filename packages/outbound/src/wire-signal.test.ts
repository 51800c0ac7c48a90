import { validSignal } from '@sigpost/test-support/fixtures';
import { describe, expect, it } from 'vitest';
import { toWireSignal } from './wire-signal.js';

describe('toWireSignal', () => {
  it('returns the validated signal and its JSON, a Date timestamp written in UTC with microseconds', () => {
    const signal = { ...validSignal(), timestamp: new Date(Date.UTC(2025, 9, 25, 14, 30, 45, 123)) };
    const wire = toWireSignal(signal);
    expect(wire.ok).toBe(true);
    if (!wire.ok) return;
    expect(wire.value.timestamp).toBe('2025-10-25T14:30:45.123000Z');
    expect(JSON.parse(wire.json)).toEqual({ ...signal, timestamp: '2025-10-25T14:30:45.123000Z' });
  });

  it.each<[string, unknown, string]>([
    ['an invalid Date', new Date(Number.NaN), 'timestamp: expected a valid Date, received Invalid Date'],
    [
      'a Date past 9999',
      new Date(Date.UTC(10_000, 0, 1)),
      'timestamp: expected a Date in the years 0000–9999',
    ],
  ])('refuses %s with one line naming the field', (_name, timestamp, line) => {
    expect(toWireSignal({ ...validSignal(), timestamp })).toMatchObject({ ok: false, errors: [line] });
  });

  it('refuses a payload JSON cannot hold, with the error behind it as the cause', () => {
    const payload: Record<string, unknown> = {};
    payload.self = payload;
    const wire = toWireSignal({ ...validSignal(), payload });
    expect(wire.ok).toBe(false);
    if (wire.ok) return;
    expect(wire.errors).toEqual([
      expect.stringMatching(/^payload: expected JSON-serialisable values \(.*circular/i),
    ]);
    expect(wire.cause).toBeInstanceOf(TypeError);
  });

  it("returns the protocol's errors for a signal that breaks its rules", () => {
    expect(toWireSignal({ ...validSignal(), confidence: 2 })).toEqual({
      ok: false,
      errors: ['confidence: expected a number from 0 to 1'],
    });
  });
});
