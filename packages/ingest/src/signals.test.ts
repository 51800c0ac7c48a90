// toSignalView on rows stored by releases before a body limit: they are shown as their text, with why.
import { describe, expect, it } from 'vitest';
import { signalViewJson, toSignalView } from './signals.js';
import type { SignalRecord } from './store/store.js';

const record = (body: string): SignalRecord => ({
  id: 'sig_01JC3M5W8QXG4K2N6Y7T9B1ZAD',
  producerId: 'desk-1',
  idempotencyKey: null,
  instrument: 'EURUSD',
  side: 'buy',
  status: 'received',
  message: null,
  body,
  receivedAt: 1_761_402_645_000,
  decidedAt: null,
  decidedBy: null,
});

describe('toSignalView', () => {
  it('shows a stored number out of the range of a double as the stored text, not as null', () => {
    const body = '{"side":"buy","payload":{"n":1e400}}';
    const view = toSignalView(record(body));
    expect(view.signal).toBe(body);
    expect(view.signal_issue).toBe(
      'the stored body cannot be shown as JSON (payload.n: number 1e400 out of the range of a double (±1.7976931348623157e+308); consumers would read Infinity or fail); signal holds its text as stored',
    );
    // Served back, the operator reads the stored bytes, not a null that was never sent.
    expect(JSON.parse(signalViewJson(view)).signal).toBe(body);
  });

  it('shows a stored integer beyond 2^53 − 1 as the stored text, not rounded', () => {
    const body = '{"payload":{"qty":12345678901234567890123}}';
    const view = toSignalView(record(body));
    expect(view.signal).toBe(body);
    expect(view.signal_issue).toMatch(/\(payload\.qty: integer 12345678901234567890123 over the limit/);
  });

  it('shows a body within the limits as its JSON value', () => {
    const view = toSignalView(record('{"payload":{"n":1e308,"qty":9007199254740991}}'));
    expect(view.signal).toEqual({ payload: { n: 1e308, qty: 9007199254740991 } });
    expect(view).not.toHaveProperty('signal_issue');
  });
});
