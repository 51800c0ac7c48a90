import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Admin, buildApp, openStore, SecretBox } from '@sigpost/ingest';
import { buildSignature, INGEST_PATH } from '@sigpost/protocol';
import { validSignal } from '@sigpost/test-support/fixtures';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../main.js';
import { captureIO } from '../test-helpers/io.js';
import { register } from './signals.js';

const dir = mkdtempSync(join(tmpdir(), 'sigpost-signals-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const SECRET = 'signals-test-secret-0123456789';
const START = Date.parse('2025-10-25T14:30:45Z');

async function sigpost(argv: string[], env: Record<string, string> = {}) {
  const io = captureIO({ env });
  const code = await main(argv, io, [register]);
  return { code, stdout: io.out.join(''), stderr: io.err.join('') };
}

/**
 * A SQLite store with producer `desk` (manual approval) holding `n` signals received one second apart,
 * ingested through the real app. Returns the db path and the ids, oldest first.
 */
async function seed(
  name: string,
  n: number,
  instruments: string[] = ['GOLD'],
): Promise<{ db: string; ids: string[] }> {
  const db = join(dir, name, 'sigpost.db');
  const store = await openStore({ dbPath: db });
  const box = SecretBox.fromKey(randomBytes(32));
  await new Admin(store, box).addProducer({ id: 'desk', secret: SECRET, approval: 'manual' });
  let now = START;
  const app = buildApp({ store, secretBox: box, clock: { now: () => now } });
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    now += 1_000;
    const timestamp = new Date(now).toISOString();
    const body = JSON.stringify(
      validSignal({
        instrument: instruments[i % instruments.length],
        reason: `signal ${i}`,
        timestamp,
        payload: undefined,
      }),
    );
    const res = await app.inject({
      method: 'POST',
      url: INGEST_PATH,
      headers: {
        'content-type': 'application/json',
        'x-producer-id': 'desk',
        'x-timestamp': timestamp,
        'x-signature': buildSignature({ secret: SECRET, body, timestamp, producerId: 'desk' }),
      },
      payload: body,
    });
    ids.push(res.json().signal_id);
  }
  await app.close();
  await store.close();
  return { db, ids };
}

async function statusOf(db: string, id: string): Promise<unknown> {
  const store = await openStore({ dbPath: db });
  try {
    return (await store.getSignal(id))?.status;
  } finally {
    await store.close();
  }
}

let shared: { db: string; ids: string[] };
beforeAll(async () => {
  shared = await seed('shared', 3, ['GOLD', 'SILVER']);
});

describe('sigpost signals list', () => {
  it('prints tab-separated lines, newest first, when not on a terminal', async () => {
    const result = await sigpost(['signals', 'list', '--db', shared.db]);
    expect(result.code).toBe(0);
    const lines = result.stdout.trimEnd().split('\n');
    expect(lines.map((l) => l.split('\t')[0])).toEqual([...shared.ids].reverse());
    expect(lines[2]?.split('\t')).toEqual([
      shared.ids[0],
      '2025-10-25T14:30:46.000000Z',
      'desk',
      'GOLD',
      'buy',
      'pending_approval',
      'queued for operator approval',
    ]);
  });

  it('filters, and prints JSON with --json', async () => {
    const result = await sigpost(['signals', 'list', '--instrument', 'SILVER', '--db', shared.db, '--json']);
    expect(result.code).toBe(0);
    const page = JSON.parse(result.stdout);
    expect(page.next_cursor).toBeNull();
    expect(page.items.map((s: { signal_id: string }) => s.signal_id)).toEqual([shared.ids[1]]);
    expect(page.items[0].signal).toMatchObject({ instrument: 'SILVER', reason: 'signal 1' });
  });

  it('pages with --limit and the --cursor it prints', async () => {
    const first = await sigpost(['signals', 'list', '--limit', '2', '--db', shared.db]);
    const cursor = /^more signals match: add --cursor (\S+)\n$/.exec(first.stderr)?.[1];
    expect(cursor).toBeDefined();
    const second = await sigpost([
      'signals',
      'list',
      '--limit',
      '2',
      '--cursor',
      cursor ?? '',
      '--db',
      shared.db,
    ]);
    expect(second.stdout.split('\t')[0]).toBe(shared.ids[0]);
    expect(second.stderr).toBe('');
  });

  it.each([
    [
      ['--status', 'bogus'],
      '--status expects one of "received", "pending_approval", "approved" or "rejected", received "bogus"',
    ],
    [['--limit', '0'], '--limit expects an integer from 1 to 500, received "0"'],
    [
      ['--from', 'yesterday'],
      '--from expects an RFC 3339 date-time such as 2025-10-25T14:30:45.123456Z, received "yesterday"',
    ],
    [
      ['--from', '2025-10-25T15:00:00Z', '--to', '2025-10-25T14:00:00Z'],
      '--to expects a time after --from, received "2025-10-25T14:00:00Z"',
    ],
    [['--cursor', 'abc'], '--cursor expects the cursor printed by a previous `signals list`, unchanged'],
  ])('refuses %j with one line naming the flag (exit 2)', async (flags, message) => {
    const result = await sigpost(['signals', 'list', ...flags, '--db', shared.db]);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(`error: ${message}\n`);
    expect(result.stdout).toBe('');
  });

  it('says when the database does not exist (exit 1)', async () => {
    const missing = join(dir, 'nowhere', 'sigpost.db');
    const result = await sigpost(['signals', 'list', '--db', missing]);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `error: no Sigpost database at ${missing}: give --db <path> or set DATABASE_URL (\`sigpost producers add\` creates one)\n`,
    );
  });
});

describe('sigpost signals show', () => {
  it('shows one signal as key: value lines', async () => {
    const result = await sigpost(['signals', 'show', '--id', shared.ids[0] ?? '', '--db', shared.db]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`signal_id: ${shared.ids[0]}\n`);
    expect(result.stdout).toContain('status: pending_approval\n');
    expect(result.stdout).toContain('"reason":"signal 0"');
  });

  it('fails for an unknown id (exit 1) and refuses a malformed one (exit 2)', async () => {
    const unknown = await sigpost([
      'signals',
      'show',
      '--id',
      'sig_01JC3M5W8QXG4K2N6Y7T9B1ZAD',
      '--db',
      shared.db,
    ]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toBe(
      `error: Signal "sig_01JC3M5W8QXG4K2N6Y7T9B1ZAD" does not exist (SQLite database ${shared.db})\n`,
    );
    const malformed = await sigpost(['signals', 'show', '--id', '42', '--db', shared.db]);
    expect(malformed.code).toBe(2);
    expect(malformed.stderr).toBe(
      'error: --id expects a signal id such as sig_01JC3M5W8QXG4K2N6Y7T9B1ZAD, received "42"\n',
    );
  });
});

describe('sigpost signals: a row stored by an older release, nested 10,000 levels deep', () => {
  const DEEP = `{"payload":{"x":${'['.repeat(10_000)}${']'.repeat(10_000)}}}`;
  let deep: { db: string; ids: string[] };
  beforeAll(async () => {
    deep = await seed('deep', 2);
    const db = new Database(deep.db);
    try {
      db.prepare('UPDATE signals SET body = ? WHERE id = ?').run(DEEP, deep.ids[1]);
    } finally {
      db.close();
    }
  });

  it('lists it with the other rows, as a table and as JSON', async () => {
    const table = await sigpost(['signals', 'list', '--db', deep.db]);
    expect(table.code).toBe(0);
    expect(table.stdout).toContain(deep.ids[1]);
    expect(table.stdout).toContain(deep.ids[0]);
    const json = await sigpost(['signals', 'list', '--db', deep.db, '--json']);
    expect(json.code).toBe(0);
    const { items } = JSON.parse(json.stdout);
    expect(items[0]).toMatchObject({
      signal_id: deep.ids[1],
      signal: DEEP,
      signal_issue: expect.any(String),
    });
    expect(items[1]).toMatchObject({ signal_id: deep.ids[0], signal: { reason: 'signal 0' } });
  });

  it('shows it: the reason, then the body as stored', async () => {
    const shown = await sigpost(['signals', 'show', '--id', deep.ids[1] ?? '', '--db', deep.db]);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(
      /\nsignal_issue: the stored body cannot be shown as JSON \(payload\.x(\[0\]){30}: nested over the limit of 32 levels\); signal holds its text as stored\n/,
    );
    expect(shown.stdout.endsWith(`\nsignal: ${DEEP}\n`)).toBe(true);
    const json = await sigpost(['signals', 'show', '--id', deep.ids[1] ?? '', '--db', deep.db, '--json']);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ signal: DEEP });
  });

  it('approves it, printing what was committed', async () => {
    const result = await sigpost([
      'signals',
      'approve',
      '--id',
      deep.ids[1] ?? '',
      '--db',
      deep.db,
      '--json',
    ]);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ status: 'approved', signal: DEEP });
    expect(await statusOf(deep.db, deep.ids[1] ?? '')).toBe('approved');
  });
});

describe('sigpost signals approve|reject', () => {
  it('approves a pending signal, recording who', async () => {
    const { db, ids } = await seed('approve', 1);
    const result = await sigpost([
      'signals',
      'approve',
      '--id',
      ids[0] ?? '',
      '--by',
      'alice',
      '--db',
      db,
      '--json',
    ]);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ status: 'approved', decided_by: 'cli:alice' });
    expect(await statusOf(db, ids[0] ?? '')).toBe('approved');
    // The decision's stream event records where it was taken.
    const store = await openStore({ dbPath: db });
    const events = await store.readEvents(0, 10).finally(() => store.close());
    expect(events.at(-1)).toMatchObject({ channel: 'cli', signal: { id: ids[0], status: 'approved' } });
  });

  it('rejects with a reason, taking the operator from $USER', async () => {
    const { db, ids } = await seed('reject', 1);
    const result = await sigpost(
      ['signals', 'reject', '--id', ids[0] ?? '', '--reason', 'stale price', '--db', db],
      {
        USER: 'bob',
      },
    );
    expect(result.code).toBe(0);
    expect(result.stderr).toBe(`rejected signal ${ids[0]}\n`);
    const shown = JSON.parse(
      (await sigpost(['signals', 'show', '--id', ids[0] ?? '', '--db', db, '--json'])).stdout,
    );
    expect(shown).toMatchObject({ status: 'rejected', message: 'stale price', decided_by: 'cli:bob' });
  });

  it('fails to decide a signal that is not pending (exit 1), leaving it as it was', async () => {
    const { db, ids } = await seed('twice', 1);
    await sigpost(['signals', 'approve', '--id', ids[0] ?? '', '--db', db]);
    const result = await sigpost(['signals', 'reject', '--id', ids[0] ?? '', '--reason', 'late', '--db', db]);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `error: Signal ${ids[0]} is approved, not pending_approval; only pending signals can be approved or rejected (SQLite database ${db})\n`,
    );
    expect(await statusOf(db, ids[0] ?? '')).toBe('approved');
  });

  it('requires --reason to reject, and checks its length', async () => {
    const missing = await sigpost(['signals', 'reject', '--id', shared.ids[0] ?? '', '--db', shared.db]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toBe("error: required option '--reason <text>' not specified\n");
    const long = await sigpost([
      'signals',
      'reject',
      '--id',
      shared.ids[0] ?? '',
      '--reason',
      'x'.repeat(501),
      '--db',
      shared.db,
    ]);
    expect(long.stderr).toBe('error: --reason expects 1–500 characters, received 501 characters\n');
    expect(await statusOf(shared.db, shared.ids[0] ?? '')).toBe('pending_approval');
  });
});
