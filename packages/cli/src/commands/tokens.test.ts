import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { hashToken, openStore, type Store, TOKEN_NAME_PATTERN } from '@sigpost/ingest';
import { afterAll, describe, expect, it } from 'vitest';
import { run } from '../test-helpers/io.js';

const dir = mkdtempSync(join(tmpdir(), 'sigpost-tokens-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const TOKEN = /^sgp_[A-Za-z0-9_-]{43}$/;
const TOKEN_ID = /^tok_[0-9A-Z]{26}$/;
const SHOWN_ONCE =
  'warning: the token is shown once and cannot be shown again (the database keeps only its SHA-256); store it now\n';

let count = 0;
function newDb(): string {
  count += 1;
  return join(dir, `case-${count}`, 'sigpost.db');
}

interface Issued {
  token_id: string;
  name: string;
  token: string;
}

async function create(db: string, name: string): Promise<Issued> {
  const result = await run(['tokens', 'create', '--name', name, '--db', db, '--json']);
  expect(result.code).toBe(0);
  return JSON.parse(result.stdout) as Issued;
}

async function withStore<T>(db: string, fn: (store: Store) => Promise<T>): Promise<T> {
  const store = await openStore({ dbPath: db });
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

describe('sigpost tokens create', () => {
  it('prints the token once on stdout, and the store keeps only its SHA-256', async () => {
    const db = newDb();
    const result = await run(['tokens', 'create', '--name', 'ops console', '--db', db]);

    expect(result.code).toBe(0);
    const match = /^token_id: (tok_\w+)\nname: ops console\ntoken: (\S+)\n$/.exec(result.stdout);
    expect(match, result.stdout).not.toBeNull();
    const [, id = '', token = ''] = match ?? [];
    expect(id).toMatch(TOKEN_ID);
    expect(token).toMatch(TOKEN);
    expect(result.stderr).toBe(
      `created an operator token (id ${id}) in the SQLite database ${db}; the bearer is the "token" value, not the id\n${SHOWN_ONCE}`,
    );
    const stored = await withStore(db, (store) => store.findTokenByHash(hashToken(token)));
    expect(stored).toMatchObject({ id, name: 'ops console', hash: hashToken(token) });
  });

  it('needs no secret key: it creates no key file', async () => {
    const db = newDb();
    await create(db, 'ci');
    expect(readdirSync(dirname(db)).filter((f) => f.endsWith('.key'))).toEqual([]);
  });

  it('prints one JSON object with --json', async () => {
    const issued = await create(newDb(), 'ci');
    expect(Object.keys(issued)).toEqual(['token_id', 'name', 'token']);
    expect(issued).toMatchObject({ name: 'ci', token_id: expect.stringMatching(TOKEN_ID) });
    expect(issued.token).toMatch(TOKEN);
  });

  it('accepts the names the operator API accepts and refuses the others (--name checks TOKEN_NAME_PATTERN)', async () => {
    const longest = 'a'.repeat(64);
    expect(TOKEN_NAME_PATTERN.test(longest)).toBe(true);
    expect((await create(newDb(), longest)).name).toBe(longest);
    for (const name of ['a'.repeat(65), 'ops:alice']) {
      expect(TOKEN_NAME_PATTERN.test(name)).toBe(false);
      const refused = await run(['tokens', 'create', '--name', name, '--db', newDb()]);
      expect(refused.code).toBe(2);
      expect(refused.stderr).toContain('--name expects');
    }
  });
});

describe('sigpost tokens list', () => {
  async function twoTokens() {
    const db = newDb();
    const first = await create(db, 'ci');
    const second = await create(db, 'ops console');
    const stored = await withStore(db, (store) => store.listTokens());
    const time = (id: string) => iso(stored.find((t) => t.id === id)?.createdAt ?? 0);
    return { db, first, second, time, hashes: stored.map((t) => t.hash) };
  }

  it('prints a table with a header on a terminal', async () => {
    const { db, first, second, time } = await twoTokens();
    const result = await run(['tokens', 'list', '--db', db], { isTTY: true });
    const pad = ' '.repeat(first.token_id.length - 2);
    expect(result).toEqual({
      code: 0,
      stderr: '',
      stdout:
        `ID${pad}  NAME         CREATED\n` +
        `${first.token_id}  ci           ${time(first.token_id)}\n` +
        `${second.token_id}  ops console  ${time(second.token_id)}\n`,
    });
  });

  it('prints tab-separated lines when not on a terminal, and a JSON array with --json', async () => {
    const { db, first, second, time } = await twoTokens();
    expect(await run(['tokens', 'list', '--db', db])).toEqual({
      code: 0,
      stderr: '',
      stdout:
        `${first.token_id}\tci\t${time(first.token_id)}\n` +
        `${second.token_id}\tops console\t${time(second.token_id)}\n`,
    });
    const json = await run(['tokens', 'list', '--db', db, '--json']);
    expect(JSON.parse(json.stdout)).toEqual([
      { id: first.token_id, name: 'ci', created_at: time(first.token_id) },
      { id: second.token_id, name: 'ops console', created_at: time(second.token_id) },
    ]);
  });

  it('never prints a token nor its hash, in any format', async () => {
    const { db, first, second, hashes } = await twoTokens();
    for (const [extra, isTTY] of [
      [[], true],
      [[], false],
      [['--json'], false],
    ] as const) {
      const result = await run(['tokens', 'list', '--db', db, ...extra], { isTTY });
      const output = result.stdout + result.stderr;
      expect(output).toContain(first.token_id);
      for (const secret of [first.token, second.token, ...hashes]) expect(output).not.toContain(secret);
    }
  });

  it('says on stderr that there are no tokens, on a terminal', async () => {
    const db = newDb();
    const { token_id } = await create(db, 'ci');
    await run(['tokens', 'revoke', '--id', token_id, '--db', db]);
    expect(await run(['tokens', 'list', '--db', db], { isTTY: true })).toEqual({
      code: 0,
      stdout: '',
      stderr: `no operator tokens in the SQLite database ${db}\n`,
    });
  });

  it('refuses a database file that does not exist, and does not create it (exit 1)', async () => {
    const db = newDb();
    const result = await run(['tokens', 'list', '--db', db]);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `error: no Sigpost database at ${db}: give --db <path> or set DATABASE_URL (\`sigpost producers add\` creates one)\n`,
    );
    expect(existsSync(db)).toBe(false);
  });
});

describe('sigpost tokens revoke', () => {
  it('revokes the token: it no longer authenticates', async () => {
    const db = newDb();
    const issued = await create(db, 'ci');
    const result = await run(['tokens', 'revoke', '--id', issued.token_id, '--db', db]);
    expect(result).toEqual({
      code: 0,
      stdout: '',
      stderr: `revoked the operator token with id ${issued.token_id}\n`,
    });
    expect(await withStore(db, (store) => store.findTokenByHash(hashToken(issued.token)))).toBeUndefined();
  });

  it('refuses an unknown token id (exit 1)', async () => {
    const db = newDb();
    await create(db, 'ci');
    const unknown = 'tok_01JC3M5W8QXG4K2N6Y7T9B1ZAD';
    expect(await run(['tokens', 'revoke', '--id', unknown, '--db', db])).toEqual({
      code: 1,
      stdout: '',
      stderr: `error: Operator token ${unknown} does not exist (SQLite database ${db})\n`,
    });
  });
});

describe('sigpost tokens: a bad argument is one line naming the flag and what it expects (exit 2)', () => {
  const cases: [string, string[], string][] = [
    [
      'a --name with a slash',
      ['create', '--name', 'ops/console'],
      '--name expects 1–64 characters of letters, digits, space and . _ @ -, received "ops/console"',
    ],
    [
      'an empty --name',
      ['create', '--name', ''],
      '--name expects 1–64 characters of letters, digits, space and . _ @ -, received ""',
    ],
    ['a missing --name', ['create'], "required option '--name <name>' not specified"],
    [
      'a malformed --id',
      ['revoke', '--id', 'sgp_abc'],
      '--id expects a token id such as tok_01JC3M5W8QXG4K2N6Y7T9B1ZAD, received 7 characters that look like an operator token (not shown); pass its tok_ id, see `sigpost tokens list`',
    ],
    ['a missing --id', ['revoke'], "required option '--id <id>' not specified"],
    ['an unknown flag', ['list', '--all'], "unknown option '--all'"],
  ];

  it.each(cases)('%s', async (_name, argv, message) => {
    const result = await run(['tokens', ...argv, '--db', newDb()]);
    expect(result).toEqual({ code: 2, stdout: '', stderr: `error: ${message}\n` });
  });
});

describe('sigpost --help', () => {
  it('lists the tokens command', async () => {
    const { stdout } = await run(['--help']);
    expect(stdout).toMatch(/^ {2}tokens +manage the bearer tokens of the operator API$/m);
  });
});
