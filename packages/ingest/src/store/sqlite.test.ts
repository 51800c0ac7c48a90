import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { SQLITE_MIGRATIONS } from './migrations-sqlite.js';
import { SqliteStore } from './sqlite.js';
import { storeContract } from './store.contract.js';
import { acceptRequest, T0 } from './test-helpers/fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'sigpost-sqlite-'));
let files = 0;
const nextPath = () => join(dir, `db-${++files}`, 'sigpost.db');

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function database(path: string) {
  return {
    open: () => new SqliteStore({ path }),
    async sql(text: string) {
      const db = new Database(path);
      try {
        const statement = db.prepare(text);
        if (statement.reader) return statement.all();
        statement.run();
        return [];
      } finally {
        db.close();
      }
    },
  };
}

// A new file is as cheap as emptying one, so every test gets its own.
storeContract('SqliteStore', () => ({
  migrations: SQLITE_MIGRATIONS.length,
  newDatabase: async () => database(nextPath()),
  emptyDatabase: async () => database(nextPath()),
}));

describe('SqliteStore', () => {
  const stores: SqliteStore[] = [];
  const open = (path: string) => {
    const store = new SqliteStore({ path });
    stores.push(store);
    return store;
  };

  afterEach(async () => {
    await Promise.all(stores.splice(0).map((s) => s.close()));
  });

  it('creates the directory of the database file', async () => {
    const path = join(dir, 'nested', 'deeper', 'sigpost.db');
    await open(path).migrate();
    expect(existsSync(path)).toBe(true);
  });

  it('runs in WAL mode with synchronous = FULL, a busy timeout and foreign keys', () => {
    expect(open(nextPath()).settings()).toEqual({
      journalMode: 'wal',
      synchronous: 'full',
      busyTimeoutMs: 5000,
      foreignKeys: true,
    });
  });

  it('refuses a file that is not a SQLite database, naming it', () => {
    const path = join(dir, 'not-a-db.txt');
    writeFileSync(
      path,
      'this is not a database, just text that is long enough to fill a header page.'.repeat(20),
    );
    expect(() => new SqliteStore({ path })).toThrow(
      expect.objectContaining({
        name: 'StoreError',
        code: 'STORE_ERROR',
        message: `Cannot open SQLite database ${path}: it is not a usable SQLite file`,
      }),
    );
  });

  it('refuses an empty path', () => {
    expect(() => new SqliteStore({ path: '' })).toThrow(
      new TypeError('Expected `path` to be a file path (or ":memory:")'),
    );
  });

  it('lets two connections to one file see each other’s keys', async () => {
    const path = nextPath();
    const a = open(path);
    const b = open(path);
    await a.migrate();
    const first = acceptRequest({ id: 'a1', key: 'shared' });
    await a.acceptBatch([first]);
    expect(await b.acceptBatch([acceptRequest({ id: 'b1', key: 'shared' })])).toEqual([
      { outcome: 'duplicate', requestHash: 'hash-a1', response: first.response },
    ]);
  });

  it('keeps a committed batch when the process is killed right after acceptBatch resolves', async () => {
    const path = nextPath();
    const child = fileURLToPath(new URL('./test-helpers/accept-then-sigkill.ts', import.meta.url));
    const run = spawnSync(
      process.execPath,
      ['--conditions=@sigpost/source', '--import', 'tsx', child, path],
      {
        encoding: 'utf8',
        timeout: 20_000,
      },
    );
    expect(run.signal).toBe('SIGKILL');
    expect(run.stdout).toBe('committed\n');
    const store = open(path);
    expect(await store.getSignal('before-kill')).toEqual(acceptRequest({ id: 'before-kill' }).signal);
    expect((await store.findIdempotent('producer-a', 'key-before-kill', T0))?.requestHash).toBe(
      'hash-before-kill',
    );
  });
});
