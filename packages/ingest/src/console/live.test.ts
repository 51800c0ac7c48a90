// The console's live.js is served to the browser without a build step, so it cannot import
// @sigpost/protocol: it keeps a copy of the signal fields, held equal to the protocol's here.
import { SIGNAL_FIELDS } from '@sigpost/protocol';
import { describe, expect, it } from 'vitest';

describe('web/live.js', () => {
  it('copies the signal fields of @sigpost/protocol, in the same order', async () => {
    const live = (await import(new URL('../../web/live.js', import.meta.url).href)) as {
      SIGNAL_FIELDS: readonly string[];
    };
    expect(live.SIGNAL_FIELDS).toEqual([...SIGNAL_FIELDS]);
  });

  it('turns a stream event into the operator view with every body field the producer sent', async () => {
    const live = (await import(new URL('../../web/live.js', import.meta.url).href)) as {
      eventView: (event: unknown) => { signal: Record<string, unknown> };
    };
    const view = live.eventView({
      type: 'signal.received',
      seq: 1,
      signal: {
        signal_id: 'sig_1',
        producer_id: 'desk-1',
        status: 'received',
        instrument: 'GOLD',
        side: 'buy',
        entry_price: 1950.5,
        stop_loss: 1945,
        take_profit: 1960,
        confidence: 0.85,
        reason: 'breakout',
        timestamp: '2025-10-25T14:30:45Z',
        payload: null,
        received_at: '2025-10-25T14:30:46Z',
      },
    });
    expect(view.signal).toEqual({
      instrument: 'GOLD',
      side: 'buy',
      entry_price: 1950.5,
      stop_loss: 1945,
      take_profit: 1960,
      confidence: 0.85,
      reason: 'breakout',
      timestamp: '2025-10-25T14:30:45Z',
    });
    expect(Object.keys(view.signal)).toEqual(SIGNAL_FIELDS.filter((f) => f !== 'payload'));
  });
});
