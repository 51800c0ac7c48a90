// The TelegramStore contract (telegram.ts), run against both stores by telegram-store.test.ts.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Store } from './store.js';
import { T0 } from './test-helpers/fixtures.js';

export interface TelegramHarness {
  /** A new store on the database of this test (its own connection or pool), migrated. */
  open(): Promise<Store>;
  /** A fresh database for the next test. */
  reset(): Promise<void>;
}

const LEASE = 'telegram';
const TTL = 30_000; // ms

export function telegramStoreContract(name: string, harness: () => TelegramHarness): void {
  describe(`${name}: TelegramStore contract`, () => {
    let h: TelegramHarness;
    const opened: Store[] = [];
    const open = async () => {
      const store = await h.open();
      opened.push(store);
      return store;
    };

    beforeEach(async () => {
      h = harness();
      await h.reset();
    });
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((s) => s.close()));
    });

    it('gives a free lease to the first holder and refuses it to another until it expires', async () => {
      const a = (await open()).telegram;
      const b = (await open()).telegram;
      expect(await a.leaseHolder(LEASE, T0)).toBeUndefined();
      expect(await a.acquireLease(LEASE, 'server-a', T0, TTL)).toBe(true);
      expect(await b.acquireLease(LEASE, 'server-b', T0 + 1, TTL)).toBe(false);
      expect(await b.leaseHolder(LEASE, T0 + 1)).toBe('server-a');
      // A renewal moves the expiry: b still cannot take it where the first term would have ended.
      expect(await a.acquireLease(LEASE, 'server-a', T0 + 20_000, TTL)).toBe(true);
      expect(await b.acquireLease(LEASE, 'server-b', T0 + TTL, TTL)).toBe(false);
      // Expired (a stopped renewing): b takes it over, and a cannot renew any more.
      expect(await b.acquireLease(LEASE, 'server-b', T0 + 20_000 + TTL, TTL)).toBe(true);
      expect(await a.acquireLease(LEASE, 'server-a', T0 + 20_000 + TTL + 1, TTL)).toBe(false);
      expect(await a.leaseHolder(LEASE, T0 + 20_000 + TTL + 1)).toBe('server-b');
    });

    it('releases a lease only for its holder', async () => {
      const s = (await open()).telegram;
      expect(await s.acquireLease(LEASE, 'server-a', T0, TTL)).toBe(true);
      expect(await s.releaseLease(LEASE, 'server-b')).toBe(false);
      expect(await s.leaseHolder(LEASE, T0)).toBe('server-a');
      expect(await s.releaseLease(LEASE, 'server-a')).toBe(true);
      expect(await s.leaseHolder(LEASE, T0)).toBeUndefined();
      expect(await s.acquireLease(LEASE, 'server-b', T0, TTL)).toBe(true);
    });

    it('gives a lease to exactly one of several stores asking at once', async () => {
      const stores = await Promise.all([1, 2, 3, 4, 5, 6].map(() => open()));
      const won = await Promise.all(
        stores.map((s, i) => s.telegram.acquireLease(LEASE, `server-${i}`, T0, TTL)),
      );
      expect(won.filter(Boolean)).toHaveLength(1);
      expect(await stores[0]!.telegram.leaseHolder(LEASE, T0)).toBe(`server-${won.indexOf(true)}`);
    });

    it('keeps cursors, starting at 0 and never going back', async () => {
      const s = (await open()).telegram;
      expect(await s.getCursor('events')).toBe(0);
      await s.advanceCursor('events', 42);
      await s.advanceCursor('updates', 7_000_000_001);
      await s.advanceCursor('events', 41);
      const other = (await open()).telegram;
      expect(await other.getCursor('events')).toBe(42);
      expect(await other.getCursor('updates')).toBe(7_000_000_001);
      await expect(s.advanceCursor('events', -1)).rejects.toThrow(TypeError);
      await expect(s.getCursor('other' as 'events')).rejects.toThrow('Expected a cursor name');
    });

    it('claims a message for a signal once, also against several stores at once', async () => {
      const stores = await Promise.all([1, 2, 3, 4].map(() => open()));
      const claims = await Promise.all(stores.map((s) => s.telegram.claimMessage('sig_1', '-100', T0)));
      expect(claims.filter(Boolean)).toHaveLength(1);
      const s = stores[0]!.telegram;
      expect(await s.claimMessage('sig_1', '-100', T0 + 1)).toBe(false);
      expect(await s.getMessage('sig_1')).toEqual({
        signalId: 'sig_1',
        chatId: '-100',
        messageId: null,
        state: 'sending',
        createdAt: T0,
        closedAt: null,
      });
      expect(await s.getMessage('sig_2')).toBeUndefined();
    });

    it('records how sending ended, once, and closes a message once', async () => {
      const s = (await open()).telegram;
      await s.claimMessage('sig_1', '@desk', T0);
      await s.claimMessage('sig_2', '@desk', T0);
      await s.finishMessage('sig_1', { messageId: 2_147_483_648 });
      await s.finishMessage('sig_1', 'failed'); // already finished: ignored
      await s.finishMessage('sig_2', 'failed');
      expect(await s.getMessage('sig_1')).toMatchObject({ state: 'sent', messageId: 2_147_483_648 });
      expect(await s.getMessage('sig_2')).toMatchObject({ state: 'failed', messageId: null });
      expect(await s.closeMessage('sig_1', T0 + 5)).toBe(true);
      expect(await s.closeMessage('sig_1', T0 + 6)).toBe(false);
      expect(await s.closeMessage('sig_9', T0 + 6)).toBe(false);
      expect((await s.getMessage('sig_1'))?.closedAt).toBe(T0 + 5);
    });
  });
}
