// The README's exactly-once recipe, run: the handler writes its effect and the seq in one SQLite
// transaction, and a cursor reads the position back from the same database. An event delivered again
// (the process died after the commit, before the acknowledgement) is recognised and not applied twice.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type StreamServer, startStreamServer, TEST_TOKEN } from '@sigpost/test-support/stream-server';
import Database from 'better-sqlite3';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { CursorPosition, SubscriberCursor } from './cursor.js';
import type { StreamEvent } from './events.js';
import { SignalSubscriber } from './subscriber.js';

const dir = mkdtempSync(join(tmpdir(), 'sigpost-exactly-once-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let server: StreamServer | undefined;
afterEach(async () => server?.close());

// --- the recipe (README, "Exactly once") ---
class SqliteCursor implements SubscriberCursor {
  constructor(private readonly db: Database.Database) {
    db.exec(
      'CREATE TABLE IF NOT EXISTS stream_position (id INTEGER PRIMARY KEY CHECK (id = 1), epoch TEXT, seq INTEGER NOT NULL)',
    );
  }
  async load(): Promise<CursorPosition | null> {
    const row = this.db.prepare('SELECT epoch, seq FROM stream_position WHERE id = 1').get() as
      | CursorPosition
      | undefined;
    return row ?? null;
  }
  async save(): Promise<void> {
    // Nothing to do: the handler stored the position in its own transaction.
  }
}

function handler(db: Database.Database) {
  db.exec('CREATE TABLE IF NOT EXISTS orders (signal_id TEXT, seq INTEGER)');
  const apply = db.transaction((event: StreamEvent) => {
    const done = db.prepare('SELECT seq FROM stream_position WHERE id = 1').get() as
      | { seq: number }
      | undefined;
    if (done && event.seq <= done.seq) return; // already applied before a crash
    db.prepare('INSERT INTO orders (signal_id, seq) VALUES (?, ?)').run(event.signal.signal_id, event.seq);
    db.prepare(
      'INSERT INTO stream_position (id, epoch, seq) VALUES (1, ?, ?) ON CONFLICT (id) DO UPDATE SET epoch = excluded.epoch, seq = excluded.seq',
    ).run(event.epoch, event.seq);
  });
  return (event: StreamEvent) => apply(event);
}
// --- end of the recipe ---

describe('exactly once with the seq stored in the handler’s transaction', () => {
  it('an event delivered again after a crash between commit and acknowledgement is applied once', async () => {
    server = await startStreamServer();
    for (let i = 0; i < 4; i += 1) server.append();
    const db = new Database(join(dir, 'app.db'));
    const cursor = new SqliteCursor(db);
    const apply = handler(db);

    // First run: a stand-in for the process dying right after the transaction of seq 3 committed.
    const crash = new Error('killed after commit');
    const first = new SignalSubscriber({ url: server.url, token: TEST_TOKEN, cursor, start: { after: 0 } });
    await expect(
      first.run((event) => {
        apply(event);
        if (event.seq === 3) throw crash;
      }),
    ).rejects.toMatchObject({ code: 'SUBSCRIBER_HANDLER_FAILED', cause: crash });

    // The plain SDK cursor would resume after 2 and hand 3 over again; the recipe resumes after 3.
    const second = new SignalSubscriber({ url: server.url, token: TEST_TOKEN, cursor, start: { after: 0 } });
    await second.run((event) => {
      apply(event);
      if (event.seq === 4) void second.close();
    });
    expect(server.connections.at(-1)?.after).toBe(3);
    const orders = db.prepare('SELECT seq FROM orders ORDER BY rowid').all() as { seq: number }[];
    expect(orders.map((o) => o.seq)).toEqual([1, 2, 3, 4]);
    db.close();
  });
});
