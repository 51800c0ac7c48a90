import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
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
