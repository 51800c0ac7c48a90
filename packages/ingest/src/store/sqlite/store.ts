import type Database from 'better-sqlite3';
import {
  assertSealed,
  assertSubscriber,
  assertTokenHash,
  DEFAULT_PURGE_SIGNALS_CHUNK,
  decodeCursor,
  EVENTS_SELECT,
  type EventRow,
  encodeCursor,
  eventAfter,
  eventLimit,
  groupProducers,
  type ProducerJoinRow,
  pageLimit,
  SIGNAL_COLUMNS,
  SIGNAL_EVENTS_SELECT,
  SIGNAL_STATUSES,
  type SignalRow,
  type SubscriberRow,
  toEvent,
  toSignal,
  toSubscriber,
  yieldToEventLoop,
  zeroCounts,
} from '../common.js';
import {
  type AcceptRequest,
  type AcceptResult,
  type DecisionChannel,
  type DecisionResult,
  type MigrateOptions,
  type NewProducer,
  type OperatorToken,
  type Producer,
  type ProducerSecret,
  type SignalFilter,
  type SignalPage,
  type SignalRecord,
  type Store,
  type StoredResponse,
  type StoredSignalStatus,
  StoreError,
  type StreamEvent,
  type StreamPosition,
  type Subscriber,
} from '../store.js';
import { sqliteTelegramStore } from '../telegram-sqlite.js';
import { type ConnectionSettings, connectionSettings, openConnection } from './connection.js';
import { SQLITE_MIGRATIONS, schemaVersion } from './migrations.js';
import { RecentEvents } from './recent-events.js';
import { InlineWriter, ThreadConnection, type WriteOp, type Writer } from './transport.js';
import { type AcceptResultsWire, decodeAcceptResults, encodeAcceptBatch } from './wire.js';
import { SqliteWriter } from './writer.js';

/** Options of `SqliteStore`. */
export interface SqliteStoreOptions {
  /** Database file. Its directory is created when missing; `:memory:` gives a throwaway database. */
  readonly path: string;
  /** How long a write waits for another connection's lock before failing, in ms. @default 5000 */
  readonly busyTimeoutMs?: number;
}

const DEFAULT_BUSY_TIMEOUT_MS = 5_000; // ms
const PURGE_CHUNK_ROWS = 10_000; // rows per transaction, so ingest is not held up by a large purge
// How often `watchEvents` asks SQLite whether another connection (another process: the CLI deciding
// a signal) committed. `PRAGMA data_version` is answered from the connection's own state: ~1 µs.
const WATCH_POLL_MS = 150;

interface ProducerRow {
  id: string;
  approval: string;
  instruments: string | null;
  created_at: number;
  secret_id: string | null;
  ciphertext: string | null;
  secret_created_at: number | null;
}

type Stmt = Database.Statement<unknown[], unknown>;

interface Statements {
  selectSignal: Stmt;
  selectSignalResponse: Stmt;
  countByStatus: Stmt;
  selectProducer: Stmt;
  selectProducers: Stmt;
  selectTokenByHash: Stmt;
  selectTokens: Stmt;
  selectEvents: Stmt;
  selectSignalEvents: Stmt;
  streamPosition: Stmt;
  selectSubscriberByHash: Stmt;
  selectSubscribers: Stmt;
}

/**
 * The embedded store: one SQLite file in WAL mode with `synchronous = FULL`, so a signal whose
 * `acceptBatch` resolved survives a crash of the process and a power loss (the WAL is fsync'd at
 * every commit; group commit spreads that fsync over a whole batch).
 *
 * Writes run in a writer thread, on a second connection to the file: a commit (inserts and fsync)
 * never blocks the event loop, so requests are read, verified and validated while the previous batch
 * commits. Reads use a connection on the calling thread (WAL lets them run beside the writer). The
 * thread is shared by the process's SQLite stores and ends when the last one is closed. A
 * `:memory:` database, which a second connection cannot open, is written in-process instead.
 *
 * @example
 * const store = new SqliteStore({ path: './data/sigpost.db' });
 * await store.migrate();
 * @see docs/operations.md
 */
export class SqliteStore implements Store {
  readonly kind = 'sqlite' as const;
  /**
   * The writer thread commits together the batches that queued up while it was committing (see
   * transport.ts `serveWriter`), so batches are sent as they form instead of one at a time.
   */
  readonly acceptBatchesInFlight = 4;
  readonly path: string;
  readonly #db: Database.Database;
  readonly #busyTimeoutMs: number;
  #writer: Writer | undefined;
  #closing: Promise<void> | undefined;
  #statements: Statements | undefined;
  readonly #listStatements = new Map<number, Stmt>();
  readonly #watchers = new Set<(head?: number) => void>();
  readonly #recentEvents = new RecentEvents();
  #watchTimer: NodeJS.Timeout | undefined;
  #dataVersion = 0;
  readonly telegram = sqliteTelegramStore((op) => this.#write('telegram', op));

  constructor(options: SqliteStoreOptions) {
    if (typeof options?.path !== 'string' || options.path === '') {
      throw new TypeError('Expected `path` to be a file path (or ":memory:")');
    }
    this.path = options.path;
    this.#busyTimeoutMs = Math.trunc(options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS);
    this.#db = openConnection(options.path, this.#busyTimeoutMs);
  }

  /**
   * The connection's durability and locking settings, as SQLite reports them (for startup logs). The
   * writer thread's connection is opened with the same settings.
   * @example
   * store.settings(); // { journalMode: 'wal', synchronous: 'full', busyTimeoutMs: 5000, foreignKeys: true, walAutocheckpointPages: 4000 }
   */
  settings(): ConnectionSettings {
    return connectionSettings(this.#db);
  }

  async migrate(options: MigrateOptions = {}): Promise<void> {
    if (options.onUpgrade !== undefined) {
      const from = schemaVersion(this.#db);
      if (from >= 1 && from < SQLITE_MIGRATIONS.length) options.onUpgrade(from, SQLITE_MIGRATIONS.length);
    }
    await this.#write('migrate');
  }

  /** Resolves when the database answers; rejects with StoreUnavailableError once the writer thread has stopped. */
  async ping(): Promise<void> {
    const failure = this.#writer?.failure();
    if (failure !== undefined) throw failure;
    this.#db.prepare('SELECT 1').get();
  }

  /** Waits for the writes already requested, closes both connections, and ends the writer thread if no other store uses it. */
  async close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#watchers.clear();
      clearInterval(this.#watchTimer);
      try {
        await this.#writer?.close();
      } finally {
        if (this.#db.open) this.#db.close();
      }
    })();
    return this.#closing;
  }

  // Producers and secrets

  async createProducer(producer: NewProducer): Promise<void> {
    assertSealed(producer.secret);
    await this.#write('createProducer', producer);
  }

  async getProducer(id: string): Promise<Producer | undefined> {
    return groupProducers((this.#s().selectProducer.all(id) as ProducerRow[]).map(toJoinRow))[0];
  }

  async listProducers(): Promise<Producer[]> {
    return groupProducers((this.#s().selectProducers.all() as ProducerRow[]).map(toJoinRow));
  }

  async addSecret(producerId: string, secret: ProducerSecret): Promise<void> {
    assertSealed(secret);
    await this.#write('addSecret', producerId, secret);
  }

  async retireSecret(producerId: string, secretId: string, at: number): Promise<boolean> {
    return this.#write('retireSecret', producerId, secretId, at);
  }

  async replaceSecretCiphertext(
    producerId: string,
    secretId: string,
    expected: string,
    next: string,
  ): Promise<boolean> {
    assertSealed({ id: secretId, ciphertext: next, createdAt: 0 });
    return this.#write('replaceSecretCiphertext', producerId, secretId, expected, next);
  }

  async removeProducer(id: string): Promise<boolean> {
    return this.#write('removeProducer', id);
  }

  // Ingest

  async acceptBatch(batch: readonly AcceptRequest[]): Promise<AcceptResult[]> {
    if (batch.length === 0) return [];
    const wire = encodeAcceptBatch(batch);
    // The lengths and numbers move to the writer thread (transferred), the text is copied once.
    const reply = (await this.#call('acceptBatch', [wire], [wire.numbers.buffer])) as AcceptResultsWire;
    const results = decodeAcceptResults(reply);
    if (reply.firstEventSeq !== 0) {
      const stored = batch.filter((_, i) => results[i]?.outcome === 'stored').map((r) => r.signal);
      this.#recentEvents.add(reply.firstEventSeq, stored);
      // The seq of this batch's last event: committed, so a watcher may treat it as a head.
      this.#committed(reply.firstEventSeq + stored.length - 1);
    }
    return results;
  }

  async purgeExpired(now: number): Promise<number> {
    let deleted = 0;
    for (const table of ['idempotency', 'signatures'] as const) {
      for (;;) {
        const [changes, more] = await this.#write('purgeChunk', table, now, PURGE_CHUNK_ROWS);
        deleted += changes;
        if (!more) break;
        await yieldToEventLoop();
      }
    }
    return deleted;
  }

  // Operator

  async getSignal(id: string): Promise<SignalRecord | undefined> {
    const row = this.#s().selectSignal.get(id) as SignalRow | undefined;
    return row === undefined ? undefined : toSignal(row);
  }

  async getSignalResponse(id: string): Promise<StoredResponse | undefined> {
    const row = this.#s().selectSignalResponse.get(id) as [number, string] | undefined;
    return row === undefined ? undefined : { status: row[0], body: row[1] };
  }

  async listSignals(filter: SignalFilter): Promise<SignalPage> {
    const limit = pageLimit(filter);
    const cursor = filter.cursor === undefined ? undefined : decodeCursor(filter.cursor);
    const where: string[] = [];
    const params: unknown[] = [];
    let shape = 0;
    const add = (bit: number, clause: string, ...values: unknown[]) => {
      shape |= bit;
      where.push(clause);
      params.push(...values);
    };
    if (filter.status !== undefined) add(1, 'status = ?', filter.status);
    if (filter.producerId !== undefined) add(2, 'producer_id = ?', filter.producerId);
    if (filter.instrument !== undefined) add(4, 'instrument = ?', filter.instrument);
    if (filter.from !== undefined) add(8, 'received_at >= ?', filter.from);
    if (filter.to !== undefined) add(16, 'received_at < ?', filter.to);
    if (cursor !== undefined) {
      add(
        32,
        '(received_at < ? OR (received_at = ? AND id < ?))',
        cursor.receivedAt,
        cursor.receivedAt,
        cursor.id,
      );
    }
    let statement = this.#listStatements.get(shape);
    if (statement === undefined) {
      statement = this.#db.prepare(
        `SELECT ${SIGNAL_COLUMNS} FROM signals${where.length > 0 ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY received_at DESC, id DESC LIMIT ?`,
      );
      this.#listStatements.set(shape, statement);
    }
    const rows = statement.all(...params, limit + 1) as SignalRow[];
    const items = rows.slice(0, limit).map(toSignal);
    const last = items.at(-1);
    return {
      items,
      nextCursor: rows.length > limit && last !== undefined ? encodeCursor(last) : null,
    };
  }

  async decideSignal(
    id: string,
    decision: 'approved' | 'rejected',
    by: string,
    message: string | null,
    at: number,
    channel: DecisionChannel,
  ): Promise<DecisionResult> {
    const result = await this.#write('decideSignal', id, decision, by, message, at, channel);
    if (result.outcome === 'ok') this.#committed();
    return result;
  }

  async countSignalsByStatus(): Promise<Record<StoredSignalStatus, number>> {
    const counts = zeroCounts();
    for (const [status, count] of this.#s().countByStatus.all() as [StoredSignalStatus, number][]) {
      if (SIGNAL_STATUSES.includes(status)) counts[status] = count;
    }
    return counts;
  }

  async createToken(token: OperatorToken): Promise<void> {
    assertTokenHash(token);
    await this.#write('createToken', token);
  }

  async findTokenByHash(hash: string): Promise<OperatorToken | undefined> {
    return this.#s().selectTokenByHash.get(hash) as OperatorToken | undefined;
  }

  async listTokens(): Promise<OperatorToken[]> {
    return this.#s().selectTokens.all() as OperatorToken[];
  }

  async revokeToken(id: string): Promise<boolean> {
    return this.#write('revokeToken', id);
  }

  // Live stream

  async streamPosition(): Promise<StreamPosition> {
    const [epoch, purgedThrough, head] = this.#s().streamPosition.get() as [string, number, number];
    return { epoch, head, purgedThrough };
  }

  async readEvents(after: number, limit: number): Promise<StreamEvent[]> {
    const from = eventAfter(after);
    const max = eventLimit(limit);
    // The events this store just committed, when they are all there is after `after` (recent-events.ts).
    const recent = this.#recentEvents.read(from, max, () => {
      const [, purgedThrough, head] = this.#s().streamPosition.get() as [string, number, number];
      return { head, purgedThrough };
    });
    return recent ?? (this.#s().selectEvents.all(from, max) as EventRow[]).map(toEvent);
  }

  async readSignalEvents(signalId: string): Promise<StreamEvent[]> {
    return (this.#s().selectSignalEvents.all(signalId) as EventRow[]).map(toEvent);
  }

  watchEvents(listener: (head?: number) => void): () => void {
    this.#watchers.add(listener);
    if (this.#watchTimer === undefined && this.#closing === undefined) {
      this.#dataVersion = this.#db.pragma('data_version', { simple: true }) as number;
      this.#watchTimer = setInterval(() => {
        if (!this.#db.open) return;
        // Changes when another connection (the writer thread, another process) committed.
        const version = this.#db.pragma('data_version', { simple: true }) as number;
        if (version !== this.#dataVersion) {
          this.#dataVersion = version;
          this.#committed();
        }
      }, WATCH_POLL_MS);
      this.#watchTimer.unref();
    }
    return () => {
      this.#watchers.delete(listener);
      if (this.#watchers.size === 0) {
        clearInterval(this.#watchTimer);
        this.#watchTimer = undefined;
      }
    };
  }

  async purgeSignals(before: number, chunk: number = DEFAULT_PURGE_SIGNALS_CHUNK): Promise<number> {
    this.#recentEvents.clear(); // they may be among the purged ones (read() checks, this frees them)
    let deleted = 0;
    for (;;) {
      const [changes, more] = await this.#write('purgeSignalsChunk', before, chunk);
      deleted += changes;
      if (!more) break;
      await yieldToEventLoop();
    }
    if (deleted > 0) this.#committed();
    return deleted;
  }

  // Subscribers

  async createSubscriber(subscriber: Subscriber): Promise<void> {
    assertSubscriber(subscriber);
    await this.#write('createSubscriber', subscriber);
  }

  async findSubscriberByHash(hash: string): Promise<Subscriber | undefined> {
    const row = this.#s().selectSubscriberByHash.get(hash) as SubscriberRow | undefined;
    return row === undefined ? undefined : toSubscriber(row);
  }

  async listSubscribers(): Promise<Subscriber[]> {
    return (this.#s().selectSubscribers.all() as SubscriberRow[]).map(toSubscriber);
  }

  async revokeSubscriber(id: string, at: number): Promise<boolean> {
    return this.#write('revokeSubscriber', id, at);
  }

  /** Tells the watchers that events may have been committed (up to `head`, when known). */
  #committed(head?: number): void {
    for (const listener of this.#watchers) listener(head);
  }

  /** Runs one write on the writer (started on first use, so a store that only reads starts no thread). */
  async #write<Op extends WriteOp>(
    op: Op,
    ...args: Parameters<SqliteWriter[Op]>
  ): Promise<ReturnType<SqliteWriter[Op]>> {
    return (await this.#call(op, args)) as ReturnType<SqliteWriter[Op]>;
  }

  /** `#write`, for a call that may move `transfer` (buffers of `args`) to the writer thread. */
  #call(op: WriteOp, args: unknown[], transfer?: readonly ArrayBuffer[]): Promise<unknown> {
    if (this.#closing !== undefined) {
      return Promise.reject(
        new StoreError(`Cannot write to SQLite database ${this.path}: the store is closed`),
      );
    }
    this.#writer ??=
      this.path === ':memory:'
        ? new InlineWriter(new SqliteWriter(this.#db))
        : new ThreadConnection(this.path, this.#busyTimeoutMs);
    return this.#writer.call(op, args, transfer);
  }

  // Statements are prepared on first use, after migrate() has created the tables.
  #s(): Statements {
    this.#statements ??= prepareReads(this.#db);
    return this.#statements;
  }
}

function prepareReads(db: Database.Database): Statements {
  const p = (sql: string) => db.prepare(sql);
  return {
    selectSignal: p(`SELECT ${SIGNAL_COLUMNS} FROM signals WHERE id = ?`),
    // Kept on the signal's row for a keyed signal (NULL without a key).
    selectSignalResponse: p(
      'SELECT response_status, response_body FROM signals WHERE id = ? AND response_status IS NOT NULL',
    ).raw(true),
    countByStatus: p('SELECT status, count(*) FROM signals GROUP BY status').raw(true),
    selectProducer: p(
      `SELECT p.id, p.approval, p.instruments, p.created_at, s.id AS secret_id, s.ciphertext, s.created_at AS secret_created_at
       FROM producers p LEFT JOIN producer_secrets s ON s.producer_id = p.id AND s.retired_at IS NULL
       WHERE p.id = ? ORDER BY s.created_at, s.id`,
    ),
    selectProducers: p(
      `SELECT p.id, p.approval, p.instruments, p.created_at, s.id AS secret_id, s.ciphertext, s.created_at AS secret_created_at
       FROM producers p LEFT JOIN producer_secrets s ON s.producer_id = p.id AND s.retired_at IS NULL
       ORDER BY p.id, s.created_at, s.id`,
    ),
    selectTokenByHash: p(
      'SELECT id, name, hash, created_at AS createdAt FROM operator_tokens WHERE hash = ?',
    ),
    selectTokens: p(
      'SELECT id, name, hash, created_at AS createdAt FROM operator_tokens ORDER BY created_at, id',
    ),
    selectEvents: p(EVENTS_SELECT.replace('$after', '?').replace('$limit', '?')),
    selectSignalEvents: p(SIGNAL_EVENTS_SELECT.replace('$id', '?')),
    streamPosition: p(
      `SELECT epoch, purged_through,
              coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'stream_events'), 0)
       FROM stream_meta WHERE id = 1`,
    ).raw(true),
    selectSubscriberByHash: p(
      'SELECT id, name, hash, producers, statuses, created_at, revoked_at FROM subscribers WHERE hash = ? AND revoked_at IS NULL',
    ),
    selectSubscribers: p(
      'SELECT id, name, hash, producers, statuses, created_at, revoked_at FROM subscribers ORDER BY created_at, id',
    ),
  };
}

function toJoinRow(row: ProducerRow): ProducerJoinRow {
  return {
    id: row.id,
    approval: row.approval,
    instruments: row.instruments === null ? null : (JSON.parse(row.instruments) as string[]),
    createdAt: row.created_at,
    secretId: row.secret_id,
    ciphertext: row.ciphertext,
    secretCreatedAt: row.secret_created_at,
  };
}
