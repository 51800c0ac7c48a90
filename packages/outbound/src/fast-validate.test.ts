import { formatTimestamp, parseIngestResponse, validateSignal } from '@sigpost/protocol';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { INGEST_RESPONSE, validSignal } from '../../../test-support/fixtures.js';
import { ingestResponseFast, isValidSignalFast } from './fast-validate.js';

const SIGNAL = validSignal();
const RESPONSE = INGEST_RESPONSE;

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

  it('accepts every signal the protocol accepts, across its domain', () => {
    fc.assert(
      fc.property(anyValidSignal, (signal) => {
        expect(validateSignal(signal).ok).toBe(true);
        expect(isValidSignalFast(signal)).toBe(true);
      }),
    );
  });

  it('never accepts a signal the protocol refuses', () => {
    fc.assert(
      fc.property(mutatedSignal, (value) => {
        if (isValidSignalFast(value)) expect(validateSignal(value).ok).toBe(true);
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

describe('ingestResponseFast', () => {
  it('returns the five fields of a valid response and drops extra members, as the protocol does', () => {
    const withExtra = { ...RESPONSE, errors: ['a'], extra: true };
    const parsed = parseIngestResponse(withExtra);
    expect(parsed.ok && parsed.value).toEqual({ ...RESPONSE, errors: ['a'] });
    expect(ingestResponseFast(withExtra)).toEqual({ ...RESPONSE, errors: ['a'] });
  });

  it('agrees with the protocol whenever it answers', () => {
    const mutated = fc.oneof(
      fc
        .tuple(fc.constantFrom(...Object.keys(RESPONSE)), fc.anything())
        .map(([key, value]) => ({ ...RESPONSE, [key]: value })),
      fc
        .constantFrom(...['received', 'pending_approval', 'rejected', 'accepted'])
        .map((status) => ({ ...RESPONSE, status })),
      fc.anything(),
    );
    fc.assert(
      fc.property(mutated, (value) => {
        const fast = ingestResponseFast(value);
        if (fast === undefined) return;
        const parsed = parseIngestResponse(value);
        expect(parsed.ok).toBe(true);
        if (parsed.ok) expect(fast).toEqual(parsed.value);
      }),
      { numRuns: 2000 },
    );
  });

  it.each<[string, Record<string, unknown>]>([
    ['an empty signal_id', { signal_id: '' }],
    ['an unknown status', { status: 'accepted' }],
    ['a server_timestamp that is not RFC 3339', { server_timestamp: 'yesterday' }],
    ['a missing message', { message: undefined }],
    ['errors with a number', { errors: ['ok', 1] }],
  ])('refuses %s', (_name, change) => {
    expect(ingestResponseFast({ ...RESPONSE, ...change })).toBeUndefined();
  });
});
