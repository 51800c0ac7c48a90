// The Telegram store contract on PostgreSQL (on SQLite: telegram-store.test.ts).
import pg from 'pg';
import { afterAll, describe } from 'vitest';
import { PostgresStore } from './postgres.js';
import { telegramStoreContract } from './telegram.contract.js';

const url = process.env.SIGPOST_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const run = `sigpost_tg_${process.pid}_${Date.now().toString(36)}`;
const admin = new pg.Pool({ connectionString: url, max: 1 });
admin.on('error', () => {});
const reachable = await admin.query('SELECT 1').then(
  () => true,
  () => false,
);
if (!reachable && process.env.CI === 'true') throw new Error(`PostgreSQL at ${url} is unreachable`);
let migrated = false;
afterAll(async () => {
  if (reachable) await admin.query(`DROP SCHEMA IF EXISTS ${run} CASCADE`);
  await admin.end();
});

describe.runIf(reachable)('PostgreSQL', () => {
  telegramStoreContract('PostgresStore', () => ({
    async reset() {
      if (!migrated) {
        const store = new PostgresStore({ connectionString: url, schema: run, max: 1 });
        await store.migrate();
        await store.close();
        migrated = true;
      }
      await admin.query(
        `DELETE FROM ${run}.service_leases; DELETE FROM ${run}.telegram_cursors; DELETE FROM ${run}.telegram_messages;`,
      );
    },
    async open() {
      return new PostgresStore({ connectionString: url, schema: run, max: 2 });
    },
  }));
});
