import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hashToken, openStore, type Store } from '@sigpost/ingest';
import { afterAll, describe, expect, it } from 'vitest';
import { run } from '../test-helpers/io.js';

const dir = mkdtempSync(join(tmpdir(), 'sigpost-subscribers-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let count = 0;
function newDb(): string {
  count += 1;
  return join(dir, `case-${count}`, 'sigpost.db');
}

async function withStore<T>(db: string, fn: (store: Store) => Promise<T>): Promise<T> {
  const store = await openStore({ dbPath: db });
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

interface Issued {
  id: string;
  name: string;
  token: string;
  producers: string;
  statuses: string;
}

describe('sigpost subscribers', () => {
  it('creates a scoped token shown once (--json), stores only its hash, lists it, and revokes it', async () => {
    const db = newDb();
    const created = await run([
      'subscribers',
      'create',
      '--name',
      'exec bot',
      '--producers',
      'desk-1, desk-2,desk-1',
      '--statuses',
      'approved',
      '--db',
      db,
      '--json',
    ]);
    expect(created.code, created.stderr).toBe(0);
    const issued = JSON.parse(created.stdout) as Issued;
    expect(issued).toEqual({
      id: expect.stringMatching(/^sub_[0-9A-Z]{26}$/),
      name: 'exec bot',
      token: expect.stringMatching(/^sgs_[A-Za-z0-9_-]{43}$/),
      producers: 'desk-1,desk-2',
      statuses: 'approved',
    });
    expect(created.stderr).toContain('warning: the token is shown once');
    const stored = await withStore(db, (store) => store.findSubscriberByHash(hashToken(issued.token)));
    expect(stored).toMatchObject({ id: issued.id, producers: ['desk-1', 'desk-2'], statuses: ['approved'] });

    const listed = await run(['subscribers', 'list', '--db', db, '--json']);
    expect(JSON.parse(listed.stdout)).toEqual([
      {
        id: issued.id,
        name: 'exec bot',
        producers: ['desk-1', 'desk-2'],
        statuses: ['approved'],
        created_at: expect.any(String),
        revoked_at: null,
      },
    ]);
    expect(listed.stdout).not.toContain(issued.token);

    const revoked = await run(['subscribers', 'revoke', '--id', issued.id, '--db', db]);
    expect([revoked.code, revoked.stderr]).toEqual([0, `revoked subscriber ${issued.id}\n`]);
    expect(
      await withStore(db, (store) => store.findSubscriberByHash(hashToken(issued.token))),
    ).toBeUndefined();
    const again = await run(['subscribers', 'revoke', '--id', issued.id, '--db', db]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('does not exist or is already revoked');
  });

  it('prints key: value lines without --json, and scope "all" by default', async () => {
    const db = newDb();
    const created = await run(['subscribers', 'create', '--name', 'console', '--db', db]);
    expect(created.code).toBe(0);
    expect(created.stdout).toMatch(
      /^id: sub_\w{26}\nname: console\ntoken: sgs_[\w-]{43}\nproducers: all\nstatuses: all\n$/,
    );
  });

  it('refuses a bad status, producer id or subscriber id with exit 2 naming the flag', async () => {
    const db = newDb();
    const status = await run([
      'subscribers',
      'create',
      '--name',
      'x',
      '--statuses',
      'approved,shipped',
      '--db',
      db,
    ]);
    expect(status.code).toBe(2);
    expect(status.stderr).toContain(
      '--statuses expects a comma-separated list among received, pending_approval, approved, rejected, received "shipped" (item 2 of 2)',
    );
    const producer = await run([
      'subscribers',
      'create',
      '--name',
      'x',
      '--producers',
      'bad producer',
      '--db',
      db,
    ]);
    expect(producer.code).toBe(2);
    expect(producer.stderr).toContain('--producers expects');
    const id = await run(['subscribers', 'revoke', '--id', 'tok_1', '--db', db]);
    expect(id.code).toBe(2);
    expect(id.stderr).toContain('--id expects a subscriber id');
  });
});
