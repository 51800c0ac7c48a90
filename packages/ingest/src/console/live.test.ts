// The console's live.js is served to the browser without a build step, so it cannot import
// @sigpost/protocol: it keeps a copy of the signal fields, held equal to the protocol's here.
import { SIGNAL_FIELDS } from '@sigpost/protocol';
import { validSignal } from '@sigpost/test-support/fixtures';
import { describe, expect, it } from 'vitest';

interface LiveModule {
  readonly SIGNAL_FIELDS: readonly string[];
  readonly eventView: (event: unknown) => { signal: Record<string, unknown> };
}

const loadLive = async () => (await import(new URL('../../web/live.js', import.meta.url).href)) as LiveModule;

describe('web/live.js', () => {
  it('copies the signal fields of @sigpost/protocol, in the same order', async () => {
    expect((await loadLive()).SIGNAL_FIELDS).toEqual([...SIGNAL_FIELDS]);
  });

  it('turns a stream event into the operator view with every body field the producer sent', async () => {
    // A stream event's `signal` is flat: the record's fields and the body's, null where one was left out.
    const body = validSignal({ payload: undefined });
    const view = (await loadLive()).eventView({
      type: 'signal.received',
      seq: 1,
      signal: { signal_id: 'sig_1', producer_id: 'desk-1', status: 'received', ...body, payload: null },
    });
    expect(view.signal).toEqual(body);
    expect(Object.keys(view.signal)).toEqual(SIGNAL_FIELDS.filter((field) => field !== 'payload'));
  });
});
