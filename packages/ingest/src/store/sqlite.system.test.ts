// SqliteStore across a process killed with SIGKILL (the in-process SqliteStore tests: sqlite.test.ts).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { SqliteStore } from './sqlite.js';
import { acceptRequest } from './test-helpers/fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'sigpost-sqlite-'));
let files = 0;
const nextPath = () => join(dir, `db-${++files}`, 'sigpost.db');

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

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
    const response = acceptRequest({ id: 'before-kill' }).response;
    expect(await store.getSignalResponse('before-kill')).toEqual(response);
    expect(
      await store.acceptBatch([acceptRequest({ id: 'retry', key: 'key-before-kill', signature: 'other' })]),
    ).toEqual([{ outcome: 'duplicate', requestHash: 'hash-before-kill', response }]);
  });
});
