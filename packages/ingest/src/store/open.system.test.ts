// openStore in a process of its own (the in-process openStore tests: open.test.ts).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const dir = mkdtempSync(join(tmpdir(), 'sigpost-open-'));

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('openStore', () => {
  it('never loads pg for SQLite', () => {
    const child = fileURLToPath(new URL('./test-helpers/open-sqlite-list-modules.ts', import.meta.url));
    const run = spawnSync(
      process.execPath,
      ['--conditions=@sigpost/source', '--import', 'tsx', child, join(dir, 'child', 'sigpost.db')],
      { encoding: 'utf8', timeout: 20_000 },
    );
    expect(run.status, run.stderr).toBe(0);
    const loaded = JSON.parse(run.stdout) as string[];
    // The probe sees CommonJS modules: better-sqlite3 proves it works, pg must be absent.
    expect(loaded.some((path) => path.includes('/node_modules/better-sqlite3/'))).toBe(true);
    expect(loaded.filter((path) => /\/node_modules\/pg(-[a-z]+)?\//.test(path))).toEqual([]);
  });
});
