import { validSignal } from '@sigpost/test-support/fixtures';
import { describe, expect, it } from 'vitest';
import { parseIngestResponse, problem, problemCode, SIGNAL_FIELDS, validateSignal } from './index.js';

const valid = validSignal();

describe('validateSignal', () => {
  it('accepts the valid fixture, a sell, and a signal without payload', () => {
    expect(validateSignal(valid)).toEqual({ ok: true, value: valid });
    const sell = { ...valid, side: 'sell', stop_loss: 1960, take_profit: 1945 };
    expect(validateSignal(sell).ok).toBe(true);
    const { payload: _omit, ...bare } = valid;
    expect(validateSignal(bare).ok).toBe(true);
  });

  it.each<[string, Record<string, unknown>, string[]]>([
    [
      'bad instrument',
      { instrument: 'GOLD!' },
      ['instrument: expected 1–32 characters of A-Z a-z 0-9 . _ / -'],
    ],
    [
      'long instrument',
      { instrument: 'X'.repeat(33) },
      ['instrument: expected 1–32 characters of A-Z a-z 0-9 . _ / -'],
    ],
    ['bad side', { side: 'long' }, ['side: expected "buy" or "sell"']],
    ['negative price', { entry_price: -1 }, ['entry_price: expected a finite number > 0']],
    ['string price', { stop_loss: '1945' }, ['stop_loss: expected a number']],
    ['zero take profit', { take_profit: 0 }, ['take_profit: expected a finite number > 0']],
    ['confidence > 1', { confidence: 1.01 }, ['confidence: expected a number from 0 to 1']],
    ['empty reason', { reason: '' }, ['reason: expected 1–500 characters']],
    ['long reason', { reason: 'r'.repeat(501) }, ['reason: expected 1–500 characters']],
    [
      'bad timestamp',
      { timestamp: 'yesterday' },
      ['timestamp: expected an RFC 3339 date-time such as 2025-10-25T14:30:45.123456Z'],
    ],
    ['array payload', { payload: [1] }, ['payload: expected a JSON object']],
    ['buy with stop above entry', { stop_loss: 1951 }, ['stop_loss: expected below entry_price for a buy']],
    [
      'buy with target below entry',
      { take_profit: 1950 },
      ['take_profit: expected above entry_price for a buy'],
    ],
    [
      'sell with buy-ordered prices',
      { side: 'sell' },
      [
        'stop_loss: expected above entry_price for a sell',
        'take_profit: expected below entry_price for a sell',
      ],
    ],
    ['unknown field', { quantity: 3 }, ['quantity: unknown field']],
  ])('%s', (_name, change, errors) => {
    expect(validateSignal({ ...valid, ...change })).toEqual({ ok: false, errors });
  });

  it('reports every problem at once, each naming its field', () => {
    const result = validateSignal({ side: 'up', entry_price: 'x', confidence: 2 });
    expect(result.ok).toBe(false);
    expect(!result.ok && result.errors).toEqual([
      'instrument: required',
      'side: expected "buy" or "sell"',
      'entry_price: expected a number',
      'stop_loss: required',
      'take_profit: required',
      'confidence: expected a number from 0 to 1',
      'reason: required',
      'timestamp: required',
    ]);
  });

  it('reports a non-object body as one line', () => {
    expect(validateSignal([1, 2])).toEqual({ ok: false, errors: ['(body): expected a JSON object'] });
    expect(validateSignal(null)).toEqual({ ok: false, errors: ['(body): expected a JSON object'] });
  });

  it('accepts exactly the fields of SIGNAL_FIELDS, and refuses any other', () => {
    // The valid signal has every field (its payload too), in the order of docs/protocol.md.
    expect(SIGNAL_FIELDS).toEqual(Object.keys(validSignal()));
    expect(Object.isFrozen(SIGNAL_FIELDS)).toBe(true);
    expect(validSignal()).toHaveProperty('payload');
    expect(validateSignal(validSignal()).ok).toBe(true);
    expect(validateSignal({ ...validSignal(), extra: 1 })).toEqual({
      ok: false,
      errors: ['extra: unknown field'],
    });
  });
});

describe('parseIngestResponse', () => {
  const ok = {
    signal_id: 'sig-abc-123',
    status: 'received',
    server_timestamp: '2025-10-25T14:30:46.123456Z',
    message: null,
    errors: null,
  };
  it('accepts the seed example', () => {
    expect(parseIngestResponse(ok)).toEqual({ ok: true, value: ok });
  });
  it('refuses an unknown status and a missing id', () => {
    const { signal_id: _omit, ...noId } = ok;
    const result = parseIngestResponse({ ...noId, status: 'queued' });
    expect(result.ok).toBe(false);
    expect(!result.ok && result.errors.map((e) => e.split(':')[0])).toEqual(['signal_id', 'status']);
  });
});

describe('problem', () => {
  it('builds RFC 9457 bodies with a stable type per code', () => {
    expect(problem('invalid-signal', 'bad', { errors: ['x: y'] })).toEqual({
      type: 'urn:sigpost:problem:invalid-signal',
      title: 'Signal failed validation',
      status: 400,
      detail: 'bad',
      errors: ['x: y'],
    });
    expect(problemCode('urn:sigpost:problem:rate-limited')).toBe('rate-limited');
    expect(problemCode('urn:sigpost:problem:toString')).toBeUndefined();
    expect(problemCode('about:blank')).toBeUndefined();
  });
});
