import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, describe } from 'vitest';
import { PostgresStore } from './postgres.js';
import { SqliteStore } from './sqlite.js';
import { telegramStoreContract } from './telegram.contract.js';

const dir = mkdtempSync(join(tmpdir(), 'sigpost-telegram-store-'));
let files = 0;
afterAll(() => rmSync(dir, { recursive: true, force: true }));

telegramStoreContract('SqliteStore', () => {
  let path = '';
  return {
    async reset() {
      path = join(dir, `db-${++files}.db`);
    },
    async open() {
      const store = new SqliteStore({ path });
      await store.migrate();
      return store;
    },
  };
});

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
