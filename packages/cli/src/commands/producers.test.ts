import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore, SecretBox, type Store } from '@sigpost/ingest';
import { schemaOneDatabase } from '@sigpost/test-support/sqlite-schema-one';
import { afterAll, describe, expect, it } from 'vitest';
import { run } from '../test-helpers/io.js';

const dir = mkdtempSync(join(tmpdir(), 'sigpost-producers-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const KEY = randomBytes(32).toString('base64');
const WITH_KEY = { SIGPOST_SECRET_KEY: KEY };
const SECRET = 'a-supplied-secret-of-enough-bytes';
const GENERATED = /^[A-Za-z0-9_-]{43}$/;
const SECRET_ID = /^sec_[0-9A-Z]{26}$/;
const SHOWN_ONCE =
  'warning: the secret is shown once and cannot be shown again (the database keeps it encrypted); ' +
  'give it to the producer as HMAC_PRODUCER_SECRET now\n';

let count = 0;
/** A database path in a directory of its own (so that its key file is its own too). */
function newDb(): string {
  count += 1;
  return join(dir, `case-${count}`, 'sigpost.db');
}

interface Issued {
  producer_id: string;
  secret_id: string;
  secret?: string;
}

/** `producers add --id <id> --json` against `db` with the env key; fails the test unless it exits 0. */
async function add(db: string, id = 'desk-1', ...extra: string[]): Promise<Issued> {
  const result = await run(['producers', 'add', '--id', id, '--db', db, '--json', ...extra], {
    env: WITH_KEY,
  });
  expect(result.stderr).not.toMatch(/^error/m);
  expect(result.code).toBe(0);
  return JSON.parse(result.stdout) as Issued;
}

async function rotate(db: string, id = 'desk-1'): Promise<Issued> {
  const result = await run(['producers', 'rotate', '--id', id, '--db', db, '--json'], { env: WITH_KEY });
  expect(result.code).toBe(0);
  return JSON.parse(result.stdout) as Issued;
}

/** Reads the SQLite store directly, as the server would. */
async function withStore<T>(db: string, fn: (store: Store) => Promise<T>): Promise<T> {
  const store = await openStore({ dbPath: db });
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

/** The plaintexts of a producer's active secrets, opened with `box` (what the server verifies with). */
async function openSecrets(db: string, id: string, box: SecretBox): Promise<string[]> {
  return withStore(db, async (store) => {
    const producer = await store.getProducer(id);
    return (producer?.secrets ?? []).map((s) => box.open(s.ciphertext));
  });
}

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

describe('sigpost producers add', () => {
  it('generates a secret, prints it once on stdout with its id, and creates the key file beside the database', async () => {
    const db = newDb();
    const keyFile = join(dir, `case-${count}`, 'sigpost.key');
    const result = await run(['producers', 'add', '--id', 'desk-1', '--db', db]);

    expect(result.code).toBe(0);
    const match = /^producer_id: desk-1\nsecret_id: (sec_\w+)\nsecret: (\S+)\n$/.exec(result.stdout);
    expect(match, result.stdout).not.toBeNull();
    const [, secretId = '', secret = ''] = match ?? [];
    expect(secretId).toMatch(SECRET_ID);
    expect(secret).toMatch(GENERATED);
    expect(result.stderr).toBe(
      `created the secret key file ${keyFile}: keep it with the database; without it the stored producer ` +
        'secrets cannot be opened\n' +
        `added producer desk-1 (approval auto, any instrument) to the SQLite database ${db}\n${SHOWN_ONCE}`,
    );
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    const box = SecretBox.fromKeyFile(keyFile, { create: false });
    expect(await openSecrets(db, 'desk-1', box)).toEqual([secret]);
  });

  it('reuses the key file for the next producer, without saying it created one', async () => {
    const db = newDb();
    await run(['producers', 'add', '--id', 'desk-1', '--db', db]);
    const second = await run(['producers', 'add', '--id', 'desk-2', '--db', db]);
    expect(second.code).toBe(0);
    expect(second.stderr).toBe(
      `added producer desk-2 (approval auto, any instrument) to the SQLite database ${db}\n${SHOWN_ONCE}`,
    );
    const secret = /^secret: (\S+)$/m.exec(second.stdout)?.[1];
    const box = SecretBox.fromKeyFile(join(dir, `case-${count}`, 'sigpost.key'), { create: false });
    expect(await openSecrets(db, 'desk-2', box)).toEqual([secret]);
  });

  it('seals with SIGPOST_SECRET_KEY when it is set, and creates no key file', async () => {
    const db = newDb();
    const issued = await add(db);
    expect(existsSync(join(dir, `case-${count}`, 'sigpost.key'))).toBe(false);
    expect(await openSecrets(db, 'desk-1', SecretBox.fromEnv(WITH_KEY))).toEqual([issued.secret]);
  });

  it('prints one JSON object with --json', async () => {
    const issued = await add(newDb());
    expect(Object.keys(issued)).toEqual(['producer_id', 'secret_id', 'secret']);
    expect(issued.producer_id).toBe('desk-1');
    expect(issued.secret_id).toMatch(SECRET_ID);
    expect(issued.secret).toMatch(GENERATED);
  });

  it('stores a supplied --secret and does not print it back', async () => {
    const db = newDb();
    const result = await run(['producers', 'add', '--id', 'desk-1', '--secret', SECRET, '--db', db], {
      env: WITH_KEY,
    });
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^producer_id: desk-1\nsecret_id: sec_\w{26}\n$/);
    expect(result.stderr).toBe(
      `added producer desk-1 (approval auto, any instrument) to the SQLite database ${db}\n`,
    );
    expect(await openSecrets(db, 'desk-1', SecretBox.fromEnv(WITH_KEY))).toEqual([SECRET]);
  });

  it('stores --approval manual and the --instruments allow-list, trimmed and without duplicates', async () => {
    const db = newDb();
    const result = await run(
      [
        'producers',
        'add',
        '--id',
        'desk-1',
        '--approval',
        'manual',
        '--instruments',
        'GOLD, EUR/USD,GOLD',
        '--db',
        db,
      ],
      { env: WITH_KEY },
    );
    expect(result.code).toBe(0);
    expect(result.stderr).toContain(
      `added producer desk-1 (approval manual, instruments GOLD, EUR/USD) to the SQLite database ${db}\n`,
    );
    const producer = await withStore(db, (store) => store.getProducer('desk-1'));
    expect(producer).toMatchObject({ approval: 'manual', instruments: ['GOLD', 'EUR/USD'] });
  });

  it('refuses an id that exists, naming the store (exit 1)', async () => {
    const db = newDb();
    await add(db);
    const result = await run(['producers', 'add', '--id', 'desk-1', '--db', db], { env: WITH_KEY });
    expect(result).toEqual({
      code: 1,
      stdout: '',
      stderr: `error: Producer desk-1 already exists (SQLite database ${db})\n`,
    });
  });

  it('refuses to seal with a key other than the one that sealed the stored secrets (exit 1)', async () => {
    const db = newDb();
    await add(db);
    const other = { SIGPOST_SECRET_KEY: randomBytes(32).toString('base64') };
    const result = await run(['producers', 'add', '--id', 'desk-2', '--db', db], { env: other });
    const loaded = SecretBox.fromEnv(other).keyId;
    const stored = SecretBox.fromEnv(WITH_KEY).keyId;
    expect(result).toEqual({
      code: 1,
      stdout: '',
      stderr:
        `error: the loaded secret key (key id ${loaded}) is not the one that sealed the stored producer secrets ` +
        `(key id ${stored}): check SIGPOST_SECRET_KEY, SIGPOST_PREVIOUS_SECRET_KEYS or the key file beside the database\n`,
    });
    expect(await withStore(db, (store) => store.getProducer('desk-2'))).toBeUndefined();
  });
});

describe('schema upgrade of an existing database', () => {
  it('announces the upgrade before it runs and says how long it took; says nothing for a new database', async () => {
    const db = newDb();
    schemaOneDatabase(db);
    const upgraded = await run(['producers', 'list', '--db', db]);
    expect(upgraded.code).toBe(0);
    expect(upgraded.stderr).toMatch(
      new RegExp(
        `^upgrading the SQLite database ${db.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} from schema 1 to \\d+; on a large database this takes a while…\nschema upgraded in \\d+\\.\\d s\n`,
      ),
    );
    expect((await run(['producers', 'list', '--db', db])).stderr).not.toContain('upgrading');
    const fresh = newDb();
    await add(fresh);
    expect((await run(['producers', 'list', '--db', fresh])).stderr).not.toContain('upgrading');
  });
});

describe('sigpost producers reseal (key-encryption key rotation)', () => {
  const NEW_KEY = randomBytes(32).toString('base64');
  const ROTATING = { SIGPOST_SECRET_KEY: NEW_KEY, SIGPOST_PREVIOUS_SECRET_KEYS: KEY };

  it('moves every active secret to the new key, never printing one, and is safe to run again', async () => {
    const db = newDb();
    await add(db, 'desk-1', '--secret', SECRET);
    const second = await add(db, 'desk-2');
    const first = await run(['producers', 'reseal', '--db', db, '--json'], { env: ROTATING });
    const newKeyId = SecretBox.fromEnv({ SIGPOST_SECRET_KEY: NEW_KEY }).keyId;
    expect(first.code).toBe(0);
    expect(JSON.parse(first.stdout)).toEqual({
      key_id: newKeyId,
      resealed: 2,
      already_current: 0,
      failed: 0,
    });
    expect(first.stdout + first.stderr).not.toContain(SECRET);
    expect(first.stdout + first.stderr).not.toContain(second.secret);
    // The new key alone opens every stored secret, and they are the same secrets.
    const newBox = SecretBox.fromEnv({ SIGPOST_SECRET_KEY: NEW_KEY });
    const opened = await withStore(db, async (store) =>
      (await store.listProducers()).map((p) => newBox.open(p.secrets[0]!.ciphertext)),
    );
    expect(opened).toEqual([SECRET, second.secret]);
    const again = await run(['producers', 'reseal', '--db', db, '--json'], { env: ROTATING });
    expect(JSON.parse(again.stdout)).toEqual({
      key_id: newKeyId,
      resealed: 0,
      already_current: 2,
      failed: 0,
    });
    // Done: the old key alone is now refused, the new one alone works.
    expect((await run(['producers', 'add', '--id', 'desk-3', '--db', db], { env: WITH_KEY })).code).toBe(1);
    const withNew = await run(['producers', 'add', '--id', 'desk-3', '--db', db], {
      env: { SIGPOST_SECRET_KEY: NEW_KEY },
    });
    expect(withNew.code).toBe(0);
  });

  it('refuses to start without the old key, naming SIGPOST_PREVIOUS_SECRET_KEYS (exit 1, nothing changed)', async () => {
    const db = newDb();
    await add(db, 'desk-1', '--secret', SECRET);
    const result = await run(['producers', 'reseal', '--db', db], { env: { SIGPOST_SECRET_KEY: NEW_KEY } });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('SIGPOST_PREVIOUS_SECRET_KEYS');
    const box = SecretBox.fromEnv(WITH_KEY);
    expect(
      await withStore(db, async (store) =>
        box.open((await store.getProducer('desk-1'))!.secrets[0]!.ciphertext),
      ),
    ).toBe(SECRET);
  });

  it('refuses a malformed SIGPOST_PREVIOUS_SECRET_KEYS as a usage error (exit 2)', async () => {
    const db = newDb();
    await add(db);
    const result = await run(['producers', 'reseal', '--db', db], {
      env: { SIGPOST_SECRET_KEY: NEW_KEY, SIGPOST_PREVIOUS_SECRET_KEYS: 'not-a-key' },
    });
    expect(result).toMatchObject({ code: 2, stdout: '' });
    expect(result.stderr).toContain('SIGPOST_PREVIOUS_SECRET_KEYS (key 1 of 1)');
  });
});

describe('sigpost producers list', () => {
  /** A store with desk-1 (auto, two secrets) and desk-2 (manual, GOLD only). */
  async function twoProducers() {
    const db = newDb();
    const first = await add(db, 'desk-1');
    const rotated = await rotate(db, 'desk-1');
    const second = await add(db, 'desk-2', '--approval', 'manual', '--instruments', 'GOLD');
    const stored = await withStore(db, (store) => store.listProducers());
    const time = (id: string) => iso(stored.find((p) => p.id === id)?.createdAt ?? 0);
    const secretTime = (id: string, secretId: string) =>
      iso(stored.find((p) => p.id === id)?.secrets.find((s) => s.id === secretId)?.createdAt ?? 0);
    const ciphertexts = stored.flatMap((p) => p.secrets.map((s) => s.ciphertext));
    const secrets = [first.secret, rotated.secret, second.secret] as string[];
    return { db, first, rotated, second, time, secretTime, ciphertexts, secrets };
  }

  it('prints a table with a header on a terminal', async () => {
    const { db, first, rotated, second, time } = await twoProducers();
    const result = await run(['producers', 'list', '--db', db], { env: WITH_KEY, isTTY: true });
    const ids = `${first.secret_id},${rotated.secret_id}`;
    const pad = ' '.repeat(ids.length - 'SECRET IDS'.length);
    expect(result).toEqual({
      code: 0,
      stderr: '',
      stdout:
        `ID      APPROVAL  INSTRUMENTS  SECRET IDS${pad}  CREATED\n` +
        `desk-1  auto      any          ${ids}  ${time('desk-1')}\n` +
        `desk-2  manual    GOLD         ${second.secret_id}${' '.repeat(ids.length - second.secret_id.length)}  ${time('desk-2')}\n`,
    });
  });

  it('prints tab-separated lines without a header when not on a terminal', async () => {
    const { db, first, rotated, second, time } = await twoProducers();
    const result = await run(['producers', 'list', '--db', db], { env: WITH_KEY, isTTY: false });
    expect(result).toEqual({
      code: 0,
      stderr: '',
      stdout:
        `desk-1\tauto\tany\t${first.secret_id},${rotated.secret_id}\t${time('desk-1')}\n` +
        `desk-2\tmanual\tGOLD\t${second.secret_id}\t${time('desk-2')}\n`,
    });
  });

  it('prints a JSON array with --json', async () => {
    const { db, first, rotated, second, time, secretTime } = await twoProducers();
    const result = await run(['producers', 'list', '--db', db, '--json'], { env: WITH_KEY });
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual([
      {
        id: 'desk-1',
        approval: 'auto',
        instruments: null,
        created_at: time('desk-1'),
        secrets: [
          { id: first.secret_id, created_at: secretTime('desk-1', first.secret_id) },
          { id: rotated.secret_id, created_at: secretTime('desk-1', rotated.secret_id) },
        ],
      },
      {
        id: 'desk-2',
        approval: 'manual',
        instruments: ['GOLD'],
        created_at: time('desk-2'),
        secrets: [{ id: second.secret_id, created_at: secretTime('desk-2', second.secret_id) }],
      },
    ]);
  });

  it('never prints a secret nor its sealed form, in any format', async () => {
    const { db, secrets, ciphertexts } = await twoProducers();
    expect(secrets.every((s) => GENERATED.test(s))).toBe(true);
    for (const [extra, isTTY] of [
      [[], true],
      [[], false],
      [['--json'], false],
    ] as const) {
      const result = await run(['producers', 'list', '--db', db, ...extra], { env: WITH_KEY, isTTY });
      const output = result.stdout + result.stderr;
      expect(output).toContain('desk-1');
      for (const secret of [...secrets, ...ciphertexts]) expect(output).not.toContain(secret);
    }
  });

  it('says on stderr that there are no producers, on a terminal', async () => {
    const db = newDb();
    await add(db);
    await run(['producers', 'remove', '--id', 'desk-1', '--db', db]);
    const result = await run(['producers', 'list', '--db', db], { isTTY: true });
    expect(result).toEqual({ code: 0, stdout: '', stderr: `no producers in the SQLite database ${db}\n` });
  });

  it('refuses a database file that does not exist, and does not create it (exit 1)', async () => {
    const db = newDb();
    const result = await run(['producers', 'list', '--db', db]);
    expect(result).toEqual({
      code: 1,
      stdout: '',
      stderr:
        `error: no Sigpost database at ${db}: give --db <path> or set DATABASE_URL ` +
        '(`sigpost producers add` creates one)\n',
    });
    expect(existsSync(db)).toBe(false);
  });
});

describe('sigpost producers rotate and retire-secret', () => {
  it('adds a second active secret, prints it once, and names the older ones to retire', async () => {
    const db = newDb();
    const first = await add(db);
    const result = await run(['producers', 'rotate', '--id', 'desk-1', '--db', db], { env: WITH_KEY });

    expect(result.code).toBe(0);
    const match = /^producer_id: desk-1\nsecret_id: (sec_\w+)\nsecret: (\S+)\n$/.exec(result.stdout);
    expect(match, result.stdout).not.toBeNull();
    const [, secretId = '', secret = ''] = match ?? [];
    expect(secret).toMatch(GENERATED);
    expect(result.stderr).toBe(
      `added secret ${secretId} to producer desk-1; its older secrets keep working until retired. ` +
        'Once the producer uses the new one:\n' +
        `  sigpost producers retire-secret --id desk-1 --secret-id ${first.secret_id} --db ${db}\n${SHOWN_ONCE}`,
    );
    expect(await openSecrets(db, 'desk-1', SecretBox.fromEnv(WITH_KEY))).toEqual([first.secret, secret]);
  });

  it('stores a supplied --secret on rotation and does not print it back', async () => {
    const db = newDb();
    await add(db);
    const result = await run(
      ['producers', 'rotate', '--id', 'desk-1', '--secret', SECRET, '--db', db, '--json'],
      {
        env: WITH_KEY,
      },
    );
    expect(result.code).toBe(0);
    expect(Object.keys(JSON.parse(result.stdout))).toEqual(['producer_id', 'secret_id']);
    expect(result.stderr).not.toContain('warning');
    expect((await openSecrets(db, 'desk-1', SecretBox.fromEnv(WITH_KEY)))[1]).toBe(SECRET);
  });

  it('refuses to rotate an unknown producer (exit 1)', async () => {
    const db = newDb();
    await add(db);
    expect(await run(['producers', 'rotate', '--id', 'desk-9', '--db', db], { env: WITH_KEY })).toEqual({
      code: 1,
      stdout: '',
      stderr: `error: Producer desk-9 does not exist (SQLite database ${db})\n`,
    });
  });

  it('refuses to rotate when the key file is missing, rather than sealing with a new key (exit 1)', async () => {
    const db = newDb();
    await run(['producers', 'add', '--id', 'desk-1', '--db', db]);
    const keyFile = join(dir, `case-${count}`, 'sigpost.key');
    rmSync(keyFile);
    expect(await run(['producers', 'rotate', '--id', 'desk-1', '--db', db])).toEqual({
      code: 1,
      stdout: '',
      stderr:
        `error: Secret key file ${keyFile} does not exist (set SIGPOST_SECRET_KEY, or create the file with ` +
        `\`openssl rand -base64 32 > ${keyFile} && chmod 600 ${keyFile}\`)\n`,
    });
    expect(existsSync(keyFile)).toBe(false);
  });

  it('retires the old secret: only the new one stays active', async () => {
    const db = newDb();
    const first = await add(db);
    const second = await rotate(db);
    const result = await run(
      ['producers', 'retire-secret', '--id', 'desk-1', '--secret-id', first.secret_id, '--db', db],
      { env: WITH_KEY },
    );
    expect(result).toEqual({
      code: 0,
      stdout: '',
      stderr: `retired secret ${first.secret_id} of producer desk-1\n`,
    });
    expect(await openSecrets(db, 'desk-1', SecretBox.fromEnv(WITH_KEY))).toEqual([second.secret]);
  });

  it('retires without any secret key: retiring seals nothing', async () => {
    const db = newDb();
    const first = await add(db);
    await rotate(db);
    const result = await run([
      'producers',
      'retire-secret',
      '--id',
      'desk-1',
      '--secret-id',
      first.secret_id,
      '--db',
      db,
    ]);
    expect(result.code).toBe(0);
  });

  it("refuses to retire a producer's last secret (exit 1)", async () => {
    const db = newDb();
    const first = await add(db);
    const result = await run(
      ['producers', 'retire-secret', '--id', 'desk-1', '--secret-id', first.secret_id, '--db', db],
      { env: WITH_KEY },
    );
    expect(result).toEqual({
      code: 1,
      stdout: '',
      stderr:
        `error: Cannot retire secret ${first.secret_id} of producer desk-1: it is its last active secret ` +
        `(rotate first) (SQLite database ${db})\n`,
    });
  });

  it('refuses to retire a secret the producer does not have (exit 1)', async () => {
    const db = newDb();
    await add(db);
    await rotate(db);
    const unknown = 'sec_01JC3M5W8QXG4K2N6Y7T9B1ZAD';
    const result = await run([
      'producers',
      'retire-secret',
      '--id',
      'desk-1',
      '--secret-id',
      unknown,
      '--db',
      db,
    ]);
    expect(result).toEqual({
      code: 1,
      stdout: '',
      stderr: `error: Producer desk-1 has no active secret ${unknown} (SQLite database ${db})\n`,
    });
  });
});

describe('sigpost producers remove', () => {
  it('removes the producer and says that its signals are kept', async () => {
    const db = newDb();
    await add(db);
    const result = await run(['producers', 'remove', '--id', 'desk-1', '--db', db]);
    expect(result).toEqual({
      code: 0,
      stdout: '',
      stderr: `removed producer desk-1 from the SQLite database ${db}; its stored signals are kept\n`,
    });
    expect(await withStore(db, (store) => store.getProducer('desk-1'))).toBeUndefined();
  });

  it('refuses an unknown producer (exit 1)', async () => {
    const db = newDb();
    await add(db);
    expect(await run(['producers', 'remove', '--id', 'desk-9', '--db', db])).toEqual({
      code: 1,
      stdout: '',
      stderr: `error: Producer desk-9 does not exist (SQLite database ${db})\n`,
    });
  });
});

describe('sigpost producers: a bad argument is one line naming the flag and what it expects (exit 2)', () => {
  const existing = newDb();
  const aDirectory = join(dir, 'a-directory');
  mkdirSync(aDirectory);
  const cases: [string, string[], Record<string, string>, string][] = [
    [
      'a malformed --id',
      ['add', '--id', 'desk 1'],
      {},
      '--id expects 1–64 characters of A-Z a-z 0-9 . _ -, received "desk 1"',
    ],
    ['a missing --id', ['add'], {}, "required option '--id <producer>' not specified"],
    [
      'a short --secret',
      ['add', '--id', 'p', '--secret', 'short'],
      {},
      '--secret expects at least 16 bytes, received 5 bytes',
    ],
    [
      'a long --secret',
      ['add', '--id', 'p', '--secret', 'x'.repeat(1025), '--db', newDb()],
      WITH_KEY,
      '--secret expects 16–1024 bytes, received 1025 bytes',
    ],
    [
      'an unknown --approval',
      ['add', '--id', 'p', '--approval', 'sometimes'],
      {},
      '--approval expects "auto" or "manual", received "sometimes"',
    ],
    [
      'an empty item in --instruments',
      ['add', '--id', 'p', '--instruments', 'GOLD,,EUR/USD'],
      {},
      '--instruments expects a comma-separated list of instruments, each 1–32 characters of A-Z a-z 0-9 . _ / -, received "" (item 2 of 3)',
    ],
    [
      'a malformed instrument',
      ['add', '--id', 'p', '--instruments', 'GOLD,EUR USD'],
      {},
      '--instruments expects a comma-separated list of instruments, each 1–32 characters of A-Z a-z 0-9 . _ / -, received "EUR USD" (item 2 of 2)',
    ],
    [
      'an empty --db',
      ['list', '--db', ''],
      {},
      '--db expects a SQLite file path or a postgres:// URL, received ""',
    ],
    [
      'a directory as --db',
      ['list', '--db', aDirectory],
      {},
      `--db expects a SQLite file path or a postgres:// URL, received "${aDirectory}" (a directory)`,
    ],
    [
      'a DATABASE_URL that is not PostgreSQL',
      ['list'],
      { DATABASE_URL: 'mysql://root:pw@db/sigpost' },
      'DATABASE_URL expects a postgres:// or postgresql:// URL, received a mysql: URL',
    ],
    [
      'a malformed SIGPOST_DB_SCHEMA',
      ['list'],
      { DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/test', SIGPOST_DB_SCHEMA: 'Sigpost' },
      'SIGPOST_DB_SCHEMA expects 1–63 lowercase letters, digits or _, not starting with a digit, received "Sigpost"',
    ],
    [
      'a malformed SIGPOST_SECRET_KEY',
      ['add', '--id', 'p', '--db', existing],
      { SIGPOST_SECRET_KEY: 'c2hvcnQ=' },
      'Invalid secret key in SIGPOST_SECRET_KEY: expected base64 of 32 bytes, received 5 bytes',
    ],
    [
      'PostgreSQL without SIGPOST_SECRET_KEY',
      ['add', '--id', 'p'],
      { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none' },
      'SIGPOST_SECRET_KEY is not set: a PostgreSQL store needs the key that seals producer secrets in this ' +
        'variable, the same on every server (base64 of 32 bytes: `openssl rand -base64 32`)',
    ],
    [
      'a malformed --secret-id',
      ['retire-secret', '--id', 'p', '--secret-id', 'sec_1'],
      {},
      '--secret-id expects a secret id such as sec_01JC3M5W8QXG4K2N6Y7T9B1ZAD, received 5 characters starting with sec_ but not a whole id (not shown); pass its sec_ id, see `sigpost producers list`',
    ],
    [
      'a missing --secret-id',
      ['retire-secret', '--id', 'p'],
      {},
      "required option '--secret-id <id>' not specified",
    ],
    [
      'a malformed --id to rotate',
      ['rotate', '--id', ''],
      {},
      '--id expects 1–64 characters of A-Z a-z 0-9 . _ -, received ""',
    ],
    [
      'a malformed --id to remove',
      ['remove', '--id', 'x'.repeat(65)],
      {},
      `--id expects 1–64 characters of A-Z a-z 0-9 . _ -, received "${'x'.repeat(40)}"… (65 characters)`,
    ],
    ['an unknown flag', ['list', '--colour'], {}, "unknown option '--colour'"],
  ];

  it.each(cases)('%s', async (_name, argv, env, message) => {
    if (!existsSync(existing)) await add(existing);
    const result = await run(['producers', ...argv], { env });
    expect(result).toEqual({ code: 2, stdout: '', stderr: `error: ${message}\n` });
  });
});

describe('sigpost --help', () => {
  it('lists the producers command', async () => {
    const { stdout } = await run(['--help']);
    expect(stdout).toMatch(/^ {2}producers +manage the producers and their secrets$/m);
  });
});
