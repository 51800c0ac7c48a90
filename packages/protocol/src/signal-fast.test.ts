import { validSignal } from '@sigpost/test-support/fixtures';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isValidSignalFast, SignalCandidateSchema, validateSignal } from './signal.js';
import { formatTimestamp } from './time.js';

const SIGNAL = validSignal();
/** The zod schema alone: the authority the fast path must never be looser than. */
const schemaAccepts = (value: unknown) => SignalCandidateSchema.safeParse(value).success;

const timestamp = fc
  .integer({ min: Date.UTC(1970, 0, 1), max: Date.UTC(2999, 11, 31) })
  .map((ms) => formatTimestamp(ms));

/** Signals the protocol accepts, over its whole domain. */
const anyValidSignal = fc
  .record({
    instrument: fc.stringMatching(/^[A-Za-z0-9._/-]{1,32}$/),
    side: fc.constantFrom('buy', 'sell'),
    entry: fc.double({ min: 1, max: 1e6, noNaN: true }),
    below: fc.double({ min: 0.01, max: 0.99, noNaN: true }),
    above: fc.double({ min: 1.01, max: 10, noNaN: true }),
    confidence: fc.double({ min: 0, max: 1, noNaN: true }),
    reason: fc.string({ minLength: 1, maxLength: 500 }),
    timestamp,
    payload: fc.option(fc.dictionary(fc.string(), fc.jsonValue()), { nil: undefined }),
  })
  .map(({ entry, below, above, side, payload, ...rest }) => ({
    ...rest,
    side,
    entry_price: entry,
    stop_loss: side === 'buy' ? entry * below : entry * above,
    take_profit: side === 'buy' ? entry * above : entry * below,
    ...(payload === undefined ? {} : { payload }),
  }));

/** The valid fixture with one field replaced by anything, or one field added. */
const mutatedSignal = fc.oneof(
  fc
    .tuple(
      fc.constantFrom(...Object.keys(SIGNAL)),
      fc.anything({ withNullPrototype: true, withObjectString: true }),
    )
    .map(([key, value]) => ({ ...SIGNAL, [key]: value })),
  fc.tuple(fc.string(), fc.anything()).map(([key, value]) => ({ ...SIGNAL, [key]: value })),
  fc.anything(),
);

describe('isValidSignalFast', () => {
  it('accepts the valid fixture', () => {
    expect(isValidSignalFast(SIGNAL)).toBe(true);
  });

  it('accepts every signal the schema accepts, across its domain', () => {
    fc.assert(
      fc.property(anyValidSignal, (signal) => {
        expect(schemaAccepts(signal)).toBe(true);
        expect(isValidSignalFast(signal)).toBe(true);
      }),
    );
  });

  it('never accepts a signal the schema refuses', () => {
    fc.assert(
      fc.property(mutatedSignal, (value) => {
        if (isValidSignalFast(value)) expect(schemaAccepts(value)).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it.each<[string, Record<string, unknown>]>([
    ['a crossed stop loss', { stop_loss: 1990 }],
    ['a crossed take profit of a sell', { side: 'sell', stop_loss: 1960, take_profit: 1990 }],
    ['an infinite price', { entry_price: Number.POSITIVE_INFINITY }],
    ['a confidence over 1', { confidence: 1.01 }],
    ['an empty reason', { reason: '' }],
    ['a reason of 501 characters', { reason: 'r'.repeat(501) }],
    ['an impossible date', { timestamp: '2025-02-30T00:00:00Z' }],
    ['an array payload', { payload: [1] }],
    ['a Map payload', { payload: new Map() }],
    ['an unknown field', { extra: 1 }],
  ])('refuses %s', (_name, change) => {
    expect(isValidSignalFast({ ...SIGNAL, ...change })).toBe(false);
  });
});

describe('validateSignal with the fast path', () => {
  it('returns the input itself when the fast path accepts it', () => {
    const result = validateSignal(SIGNAL);
    expect(result.ok && result.value).toBe(SIGNAL);
  });

  it('falls back to the schema for its error messages when the fast path says no', () => {
    expect(validateSignal({ ...SIGNAL, reason: '' })).toEqual({
      ok: false,
      errors: ['reason: expected 1–500 characters'],
    });
  });
});
