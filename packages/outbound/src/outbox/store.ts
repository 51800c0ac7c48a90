// The outbox's SQLite file: schema, statements and the drain lock (all of the outbox's SQL is here).
// Synchronous (better-sqlite3), so every method runs to completion without interleaving with other
// code of this process.
//
// Durability: WAL with synchronous=FULL, so a committed enqueue is on disk (the WAL is fsynced at
// every commit) before `enqueue` returns. The worker's own bookkeeping (claims, outcomes) commits with
// synchronous=NORMAL: after a power cut it may be lost, which only means a signal is sent again under
// the same idempotency key and the server answers with its stored response. A process crash loses
// nothing either way (the OS still holds the written pages).
import { hostname } from 'node:os';
import type BetterSqlite3 from 'better-sqlite3';

/** The state of an outbox entry. */
export type OutboxState = 'pending' | 'in_flight' | 'delivered' | 'dead';

/** `PRAGMA user_version` of the schema this code writes. */
export const SCHEMA_VERSION = 1;

/** The schema, also used by the benchmark's baseline so both insert into the same table. */
export const SCHEMA_SQL = `
CREATE TABLE IF NOT EXISTS outbox_entries (
  -- The rowid: a new entry always gets an id above every entry present, so id order is enqueue order.
  -- Not AUTOINCREMENT, which makes even a no-op insert (an enqueue repeated with the same key) write and fsync.
  id               INTEGER PRIMARY KEY,
  idempotency_key  TEXT    NOT NULL UNIQUE,
  instrument       TEXT    NOT NULL,
  signal           TEXT    NOT NULL,
  state            TEXT    NOT NULL DEFAULT 'pending'
                   CHECK (state IN ('pending', 'in_flight', 'delivered', 'dead')),
  attempts         INTEGER NOT NULL DEFAULT 0,
  next_attempt_at  INTEGER NOT NULL,
  first_attempt_at INTEGER,
  claimed_at       INTEGER,
  last_error       TEXT,
  last_error_code  TEXT,
  last_http_code   INTEGER,
  response         TEXT,
  created_at       INTEGER NOT NULL,
  updated_at       INTEGER NOT NULL,
  finished_at      INTEGER
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox_entries (next_attempt_at, id) WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS outbox_open_by_instrument ON outbox_entries (instrument, id)
  WHERE state IN ('pending', 'in_flight');
CREATE INDEX IF NOT EXISTS outbox_state ON outbox_entries (state);
CREATE TABLE IF NOT EXISTS outbox_lock (
  name       TEXT    PRIMARY KEY,
  owner      TEXT    NOT NULL,
  pid        INTEGER NOT NULL,
  host       TEXT    NOT NULL,
  expires_at INTEGER NOT NULL
);
`;

/** The insert `enqueue` runs, also used by the benchmark's baseline. */
export const INSERT_SQL = `INSERT INTO outbox_entries
  (idempotency_key, instrument, signal, next_attempt_at, created_at, updated_at)
  VALUES (@key, @instrument, @signal, @now, @now, @now)
  ON CONFLICT (idempotency_key) DO NOTHING`;

/** Applies the connection settings the outbox's guarantees rely on. */
export function configureConnection(db: BetterSqlite3.Database): void {
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  // Another process (a CLI enqueue beside a drain) may hold the write lock for a moment.
  db.pragma('busy_timeout = 5000');
  db.pragma('foreign_keys = ON');
}

/** The schema version a file was written with (`PRAGMA user_version`; 0 for a new file). */
export function readSchemaVersion(db: BetterSqlite3.Database): number {
  return db.pragma('user_version', { simple: true }) as number;
}

/**
 * Reads, without writing anything (a read-only connection, before any pragma or migration), whether
 * `path` holds a Sigpost outbox: its schema version and whether its `outbox_entries` table exists.
 */
export function inspectFile(
  Sqlite: typeof BetterSqlite3,
  path: string,
): { readonly version: number; readonly hasOutbox: boolean } {
  const db = new Sqlite(path, { readonly: true, fileMustExist: true });
  try {
    const version = readSchemaVersion(db);
    const table = db
      .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'outbox_entries'")
      .get();
    return { version, hasOutbox: table !== undefined };
  } finally {
    db.close();
  }
}

/** Marks the file as written with this code's {@link SCHEMA_VERSION}. */
export function writeSchemaVersion(db: BetterSqlite3.Database): void {
  db.pragma(`user_version = ${SCHEMA_VERSION}`);
}

/** A row of `outbox_entries`, as SQLite returns it. */
export interface EntryRow {
  readonly id: number;
  readonly idempotency_key: string;
  readonly instrument: string;
  readonly signal: string;
  readonly state: OutboxState;
  readonly attempts: number;
  readonly next_attempt_at: number;
  readonly first_attempt_at: number | null;
  readonly claimed_at: number | null;
  readonly last_error: string | null;
  readonly last_error_code: string | null;
  readonly last_http_code: number | null;
  readonly response: string | null;
  readonly created_at: number;
  readonly updated_at: number;
  readonly finished_at: number | null;
}

/** What happened to one claimed entry, written back in a batch. */
export type Completion =
  | {
      readonly kind: 'delivered';
      readonly id: number;
      readonly startedAt: number;
      readonly at: number;
      readonly response: string;
    }
  | {
      readonly kind: 'retry' | 'dead';
      readonly id: number;
      readonly startedAt: number;
      readonly at: number;
      readonly nextAttemptAt: number;
      readonly error: string;
      readonly errorCode: string | null;
      readonly httpCode: number | null;
    }
  /** Not attempted, or stopped by our own abort: back to pending, attempts unchanged. */
  | { readonly kind: 'release'; readonly id: number; readonly at: number };

export interface LockHolder {
  readonly owner: string;
  readonly pid: number;
  readonly host: string;
  readonly expiresAt: number;
}

const OPEN_HEAD = `id = (SELECT MIN(o.id) FROM outbox_entries o
  WHERE o.instrument = e.instrument AND o.state IN ('pending', 'in_flight'))`;

/** Statements over one connection. */
export class OutboxStore {
  readonly db: BetterSqlite3.Database;
  readonly #insert: BetterSqlite3.Statement<
    [{ key: string; instrument: string; signal: string; now: number }]
  >;
  readonly #byKey: BetterSqlite3.Statement<[string], { id: number; signal: string }>;
  readonly #byId: BetterSqlite3.Statement<[number], EntryRow>;
  readonly #dead: BetterSqlite3.Statement<[number, number], EntryRow>;
  readonly #retryDead: BetterSqlite3.Statement<[{ now: number; id: number | null }]>;
  readonly #prune: BetterSqlite3.Statement<[number]>;
  readonly #claimAny: BetterSqlite3.Statement<[{ now: number; limit: number }], EntryRow>;
  readonly #claimOrdered: BetterSqlite3.Statement<[{ now: number; limit: number }], EntryRow>;
  readonly #nextDueAny: BetterSqlite3.Statement<[], { at: number | null }>;
  readonly #nextDueOrdered: BetterSqlite3.Statement<[], { at: number | null }>;
  readonly #delivered: BetterSqlite3.Statement<[Record<string, unknown>]>;
  readonly #failed: BetterSqlite3.Statement<[Record<string, unknown>]>;
  readonly #release: BetterSqlite3.Statement<[{ id: number; at: number }]>;
  readonly #counts: BetterSqlite3.Statement<[], { state: OutboxState; n: number }>;
  readonly #oldestOpen: BetterSqlite3.Statement<[], { at: number | null }>;
  readonly #openCount: BetterSqlite3.Statement<[], { n: number }>;
  readonly #nextAttempt: BetterSqlite3.Statement<
    [{ now: number }],
    { at: number | null; waiting: number | null }
  >;
  readonly #makeDue: BetterSqlite3.Statement<[{ now: number }]>;
  readonly #applyCompletions: (completions: readonly Completion[]) => void;

  constructor(db: BetterSqlite3.Database) {
    this.db = db;
    db.exec(SCHEMA_SQL);
    this.#insert = db.prepare(INSERT_SQL);
    this.#byKey = db.prepare('SELECT id, signal FROM outbox_entries WHERE idempotency_key = ?');
    this.#byId = db.prepare('SELECT * FROM outbox_entries WHERE id = ?');
    this.#dead = db.prepare(
      "SELECT * FROM outbox_entries WHERE state = 'dead' AND id > ? ORDER BY id LIMIT ?",
    );
    this.#retryDead = db.prepare(
      `UPDATE outbox_entries SET state = 'pending', attempts = 0, first_attempt_at = NULL,
         next_attempt_at = @now, finished_at = NULL, updated_at = @now
       WHERE state = 'dead' AND (@id IS NULL OR id = @id)`,
    );
    this.#prune = db.prepare("DELETE FROM outbox_entries WHERE state = 'delivered' AND finished_at < ?");
    const claim = (where: string) =>
      db.prepare<[{ now: number; limit: number }], EntryRow>(
        `UPDATE outbox_entries SET state = 'in_flight', claimed_at = @now, updated_at = @now
         WHERE id IN (SELECT e.id FROM outbox_entries e
                      WHERE e.state = 'pending' AND e.next_attempt_at <= @now ${where}
                      ORDER BY e.next_attempt_at, e.id LIMIT @limit)
         RETURNING *`,
      );
    this.#claimAny = claim('');
    // Only the oldest open entry of each instrument may go: never two in flight for one instrument,
    // and a later entry waits while an earlier one is in backoff.
    this.#claimOrdered = claim(`AND e.${OPEN_HEAD}`);
    this.#nextDueAny = db.prepare(
      "SELECT MIN(next_attempt_at) AS at FROM outbox_entries WHERE state = 'pending'",
    );
    this.#nextDueOrdered = db.prepare(
      `SELECT MIN(e.next_attempt_at) AS at FROM outbox_entries e WHERE e.state = 'pending' AND e.${OPEN_HEAD}`,
    );
    this.#delivered = db.prepare(
      `UPDATE outbox_entries SET state = 'delivered', attempts = attempts + 1,
         first_attempt_at = COALESCE(first_attempt_at, @startedAt), claimed_at = NULL,
         last_error = NULL, last_error_code = NULL, last_http_code = 201, response = @response,
         updated_at = @at, finished_at = @at
       WHERE id = @id AND state = 'in_flight'`,
    );
    this.#failed = db.prepare(
      `UPDATE outbox_entries SET state = @state, attempts = attempts + 1,
         first_attempt_at = COALESCE(first_attempt_at, @startedAt), claimed_at = NULL,
         next_attempt_at = @nextAttemptAt, last_error = @error, last_error_code = @errorCode,
         last_http_code = @httpCode, updated_at = @at,
         finished_at = CASE WHEN @state = 'dead' THEN @at ELSE NULL END
       WHERE id = @id AND state = 'in_flight'`,
    );
    this.#release = db.prepare(
      `UPDATE outbox_entries SET state = 'pending', claimed_at = NULL, updated_at = @at
       WHERE id = @id AND state = 'in_flight'`,
    );
    this.#counts = db.prepare('SELECT state, COUNT(*) AS n FROM outbox_entries GROUP BY state');
    this.#oldestOpen = db.prepare(
      "SELECT MIN(created_at) AS at FROM outbox_entries WHERE state IN ('pending', 'in_flight')",
    );
    this.#openCount = db.prepare(
      "SELECT COUNT(*) AS n FROM outbox_entries WHERE state IN ('pending', 'in_flight')",
    );
    this.#nextAttempt = db.prepare(
      `SELECT MIN(next_attempt_at) AS at, SUM(next_attempt_at > @now) AS waiting
       FROM outbox_entries WHERE state = 'pending'`,
    );
    this.#makeDue = db.prepare(
      `UPDATE outbox_entries SET next_attempt_at = @now, updated_at = @now
       WHERE state = 'pending' AND next_attempt_at > @now`,
    );
    this.#applyCompletions = db.transaction((completions: readonly Completion[]) => {
      for (const c of completions) {
        if (c.kind === 'delivered') {
          this.#delivered.run({ id: c.id, startedAt: c.startedAt, at: c.at, response: c.response });
        } else if (c.kind === 'release') {
          this.#release.run({ id: c.id, at: c.at });
        } else {
          this.#failed.run({
            id: c.id,
            state: c.kind === 'dead' ? 'dead' : 'pending',
            startedAt: c.startedAt,
            nextAttemptAt: c.nextAttemptAt,
            error: c.error,
            errorCode: c.errorCode,
            httpCode: c.httpCode,
            at: c.at,
          });
        }
      }
    });
  }

  /** Inserts one entry; `undefined` when the key is already taken (nothing written). */
  insert(key: string, instrument: string, signal: string, now: number): number | undefined {
    const result = this.#insert.run({ key, instrument, signal, now });
    return result.changes === 1 ? Number(result.lastInsertRowid) : undefined;
  }

  byKey(key: string): { id: number; signal: string } | undefined {
    return this.#byKey.get(key);
  }

  /** One entry by id. */
  byId(id: number): EntryRow | undefined {
    return this.#byId.get(id);
  }

  /** Dead-letter entries with an id above `afterId`, oldest first, at most `limit`. */
  dead(afterId: number, limit: number): EntryRow[] {
    return this.#dead.all(afterId, limit);
  }

  /**
   * Moves dead entries (all, or those in `ids`) back to pending with attempts reset, due at `now`, in
   * one transaction; returns how many moved.
   */
  retryDead(ids: readonly number[] | undefined, now: number): number {
    return this.db.transaction(() =>
      ids === undefined
        ? this.#retryDead.run({ now, id: null }).changes
        : ids.reduce((sum, id) => sum + this.#retryDead.run({ now, id }).changes, 0),
    )();
  }

  /** Deletes delivered entries finished before `before` (epoch ms); returns how many. */
  pruneDelivered(before: number): number {
    return this.#prune.run(before).changes;
  }

  /** Runs `fn` in one (fsynced) transaction: all or nothing. */
  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  /** Runs `fn` in one transaction whose commit is not fsynced (see the note at the top). */
  relaxed<T>(fn: () => T): T {
    this.db.pragma('synchronous = NORMAL');
    try {
      return this.db.transaction(fn).immediate();
    } finally {
      this.db.pragma('synchronous = FULL');
    }
  }

  /** Writes outcomes back, then claims up to `limit` due entries, in one relaxed transaction. */
  completeAndClaim(
    completions: readonly Completion[],
    now: number,
    limit: number,
    preserveOrder: boolean,
  ): EntryRow[] {
    if (completions.length === 0 && limit === 0) return [];
    return this.relaxed(() => {
      if (completions.length > 0) this.#applyCompletions(completions);
      if (limit === 0) return [];
      const rows = (preserveOrder ? this.#claimOrdered : this.#claimAny).all({ now, limit });
      return rows.sort((a, b) => a.next_attempt_at - b.next_attempt_at || a.id - b.id);
    });
  }

  /** Earliest `next_attempt_at` of an entry that could be claimed; `undefined` when none is pending. */
  nextDueAt(preserveOrder: boolean): number | undefined {
    return (preserveOrder ? this.#nextDueOrdered : this.#nextDueAny).get()?.at ?? undefined;
  }

  counts(): Record<OutboxState, number> {
    const counts: Record<OutboxState, number> = { pending: 0, in_flight: 0, delivered: 0, dead: 0 };
    for (const row of this.#counts.all()) counts[row.state] = row.n;
    return counts;
  }

  oldestOpenCreatedAt(): number | undefined {
    return this.#oldestOpen.get()?.at ?? undefined;
  }

  /**
   * The soonest `next_attempt_at` of a pending entry (`undefined` when none is pending), and how many
   * pending entries wait for a later time (a retry's backoff).
   */
  nextAttempt(now: number): { at: number | undefined; waiting: number } {
    const row = this.#nextAttempt.get({ now });
    return { at: row?.at ?? undefined, waiting: row?.waiting ?? 0 };
  }

  /** Makes every pending entry that waits for its backoff due at `now`; returns how many. */
  makeDue(now: number): number {
    return this.#makeDue.run({ now }).changes;
  }

  openCount(): number {
    return this.#openCount.get()?.n ?? 0;
  }

  // The drain lock: one row, taken by a drain for as long as it runs and renewed by a heartbeat.
  // A holder whose process is gone (same host) or whose lease ran out is taken over at once.

  /** Takes the lock, resetting a dead holder's in-flight claims to pending; returns the live holder otherwise. */
  acquireLock(owner: string, ttlMs: number, now: number): LockHolder | undefined {
    return this.db
      .transaction((): LockHolder | undefined => {
        const row = this.db
          .prepare<[], { owner: string; pid: number; host: string; expires_at: number }>(
            "SELECT owner, pid, host, expires_at FROM outbox_lock WHERE name = 'drain'",
          )
          .get();
        if (row !== undefined && row.expires_at > now && isAlive(row)) {
          return { owner: row.owner, pid: row.pid, host: row.host, expiresAt: row.expires_at };
        }
        this.db
          .prepare(
            `INSERT INTO outbox_lock (name, owner, pid, host, expires_at) VALUES ('drain', @owner, @pid, @host, @expiresAt)
           ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, pid = excluded.pid, host = excluded.host,
             expires_at = excluded.expires_at`,
          )
          .run({ owner, pid: process.pid, host: hostname(), expiresAt: now + ttlMs });
        liveOwners.add(owner);
        // No other drain is alive, so every in-flight claim is an orphan of a crashed one.
        this.db
          .prepare(
            "UPDATE outbox_entries SET state = 'pending', claimed_at = NULL, updated_at = ? WHERE state = 'in_flight'",
          )
          .run(now);
        return undefined;
      })
      .immediate();
  }

  /** Extends the lease; false when the lock is no longer ours (taken over after a stall). */
  renewLock(owner: string, ttlMs: number, now: number): boolean {
    const result = this.db
      .prepare("UPDATE outbox_lock SET expires_at = ? WHERE name = 'drain' AND owner = ?")
      .run(now + ttlMs, owner);
    return result.changes === 1;
  }

  releaseLock(owner: string): void {
    liveOwners.delete(owner);
    this.db.prepare("DELETE FROM outbox_lock WHERE name = 'drain' AND owner = ?").run(owner);
  }
}

/** Lock owners held by drains of this process. */
const liveOwners = new Set<string>();

/** Whether the drain holding the lock still runs. Only decidable on this host; elsewhere, trust the lease. */
function isAlive(holder: { owner: string; pid: number; host: string }): boolean {
  const { owner, pid, host } = holder;
  if (host !== hostname()) return true;
  // Our own pid but not one of our drains: an earlier process that had the same pid (a restarted
  // container often gets the same one).
  if (pid === process.pid) return liveOwners.has(owner);
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
