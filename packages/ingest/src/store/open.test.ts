import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { redactUrl } from './common.js';
import { openStore } from './open.js';
import type { Store } from './store.js';
import { acceptRequest } from './test-helpers/fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'sigpost-open-'));
const stores: Store[] = [];

afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

// Nothing listens on port 1 of the loopback interface: the connection is refused at once.
const REFUSED = '127.0.0.1:1';

describe('openStore', () => {
  it('opens and migrates SQLite at dbPath, creating its directory', async () => {
    const dbPath = join(dir, 'data', 'sigpost.db');
    const store = await openStore({ dbPath });
    stores.push(store);
    expect(store.kind).toBe('sqlite');
    expect(existsSync(dbPath)).toBe(true);
    expect(await store.acceptBatch([acceptRequest({ id: 'one' })])).toEqual([{ outcome: 'stored' }]);
  });

  it('creates the SQLite file, its -wal and -shm 0600 (they hold signals and sealed secrets), in a directory it did not create too', async () => {
    const parent = mkdtempSync(join(dir, 'modes-'));
    const dbPath = join(parent, 's.db');
    const store = await openStore({ dbPath });
    stores.push(store);
    expect(await store.acceptBatch([acceptRequest({ id: 'one' })])).toEqual([{ outcome: 'stored' }]);
    const mode = (path: string) => (statSync(path).mode & 0o777).toString(8);
    expect([mode(dbPath), mode(`${dbPath}-wal`), mode(`${dbPath}-shm`)]).toEqual(['600', '600', '600']);
  });

  it('leaves the mode of an existing SQLite file as it is', async () => {
    const dbPath = join(mkdtempSync(join(dir, 'existing-')), 's.db');
    writeFileSync(dbPath, '', { mode: 0o640 });
    const store = await openStore({ dbPath });
    stores.push(store);
    expect(statSync(dbPath).mode & 0o777).toBe(0o640);
  });

  it('refuses options that name no database', async () => {
    await expect(openStore({})).rejects.toThrow(
      new TypeError('Expected `dbPath` (a SQLite file) or `databaseUrl` (a postgres:// URL)'),
    );
  });

  it('refuses a databaseUrl that is not postgres://, without echoing it', async () => {
    await expect(openStore({ databaseUrl: 'mysql://root:hunter2@db/x' })).rejects.toThrow(
      new TypeError('Expected `databaseUrl` to start with postgres:// or postgresql://'),
    );
  });

  it('names host:port and how to start PostgreSQL when it is unreachable, never the password', async () => {
    const error = await openStore({ databaseUrl: `postgres://alice:hunter2@${REFUSED}/sigpost` }).then(
      () => undefined,
      (e: unknown) => e as Error & { code: string },
    );
    expect(error).toMatchObject({
      name: 'StoreUnavailableError',
      code: 'STORE_UNAVAILABLE',
      message:
        'Cannot connect to PostgreSQL at 127.0.0.1:1 (ECONNREFUSED): is the server running? ' +
        'Start it (e.g. `pg_ctlcluster <version> main start`, or `docker run -d -p 5432:5432 -e POSTGRES_HOST_AUTH_METHOD=trust postgres:16`) ' +
        'or fix the database URL postgres://alice:***@127.0.0.1:1/sigpost',
    });
    expect(error?.cause).toBeDefined();
    expect(error?.message).not.toContain('hunter2');
  });

  it('treats a postgres:// dbPath as a PostgreSQL URL', async () => {
    await expect(openStore({ dbPath: `postgresql://${REFUSED}/sigpost` })).rejects.toMatchObject({
      code: 'STORE_UNAVAILABLE',
    });
  });
});

describe('redactUrl', () => {
  it.each([
    ['postgres://alice:hunter2@db:5432/sigpost', 'postgres://alice:***@db:5432/sigpost'],
    ['postgres://db/sigpost?user=alice&password=hunter2', 'postgres://db/sigpost?user=alice&password=***'],
    ['postgres://alice@db/sigpost', 'postgres://alice@db/sigpost'],
    ['not a url hunter2', '<unparseable database URL>'],
  ])('%s → %s', (url, expected) => {
    expect(redactUrl(url)).toBe(expected);
  });
});
