// Approve from Telegram on PostgreSQL: two servers sharing one database (the SQLite runs: telegram.test.ts).
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Admin } from '../admin.js';
import { SecretBox } from '../secrets.js';
import { PostgresStore } from '../store/postgres.js';
import { SECRET } from '../test-helpers/fixtures.js';
import { TELEGRAM_LEASE } from './bot.js';
import { botConfig, cleanups, PRODUCER, runCleanups, serve, twoServers } from './test-helpers/approvals.js';
import { startFakeBotApi } from './test-helpers/bot-api.js';

afterEach(runCleanups);

const url = process.env.SIGPOST_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const schema = `sigpost_tgbot_${process.pid}_${Date.now().toString(36)}`;
const admin = new pg.Pool({ connectionString: url, max: 1 });
admin.on('error', () => {});
const reachable = await admin.query('SELECT 1').then(
  () => true,
  () => false,
);
if (!reachable && process.env.CI === 'true') throw new Error(`PostgreSQL at ${url} is unreachable`);
afterAll(async () => {
  if (reachable) await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await admin.end();
});

describe.runIf(reachable)('Approve from Telegram on PostgreSQL', () => {
  it('two servers on one database: one poller, one message per signal, one decision; a dead holder’s lease is taken over when it expires', async () => {
    const open = async () => {
      const store = new PostgresStore({ connectionString: url, schema, max: 4 });
      await store.migrate();
      cleanups.push(() => store.close());
      return store;
    };
    const store = await open();
    const box = SecretBox.fromKey(randomBytes(32));
    await new Admin(store, box).addProducer({ id: PRODUCER, secret: SECRET, approval: 'manual' });
    const api = await startFakeBotApi();
    cleanups.push(() => api.close());
    // A server that died holding the lease: nobody polls until it expires.
    const ttl = 600;
    expect(await store.telegram.acquireLease(TELEGRAM_LEASE, 'dead-server', Date.now(), ttl)).toBe(true);
    const deadUntil = Date.now() + ttl;
    const a = await serve(store, box, botConfig(api, { leaseTtlMs: ttl }));
    const b = await serve(await open(), box, botConfig(api, { leaseTtlMs: ttl }));
    await api.waitFor(() => api.callsOf('getUpdates').length > 0);
    expect(api.calls[0]!.at).toBeGreaterThanOrEqual(deadUntil - 5);
    await twoServers(api, a, b, store);
  });
});
