import { Worker } from 'node:worker_threads';
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
  idempotencyKeyHash,
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
} from './common.js';
import { SQLITE_MIGRATIONS } from './migrations-sqlite.js';
import {
  openConnection,
  packBatch,
  reviveError,
  SqliteWriter,
  unpackResults,
  WRITER_THREAD_MARK,
  type WriteOp,
  type WriterReply,
  type WriterRequest,
} from './sqlite-worker.js';
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
  StoreUnavailableError,
  type StreamEvent,
  type StreamPosition,
  type Subscriber,
} from './store.js';
import { sqliteTelegramStore } from './telegram-sqlite.js';

/** Options of `SqliteStore`. */
export interface SqliteStoreOptions {
  /** Database file. Its directory is created when missing; `:memory:` gives a throwaway database. */
  readonly path: string;
  /** How long a write waits for another connection's lock before failing, in ms. @default 5000 */
  readonly busyTimeoutMs?: number;
}

const DEFAULT_BUSY_TIMEOUT_MS = 5_000; // ms
const PURGE_CHUNK_ROWS = 10_000; // rows per transaction, so ingest is not held up by a large purge
// How long the writer thread outlives its last store: stores opened one after another (tests, several
// commands in one process) reuse it instead of each starting a thread (0.1–0.5 s from source).
const WRITER_IDLE_MS = 1_000;
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
  findIdempotent: Stmt;
  selectSignal: Stmt;
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
  readonly path: string;
  readonly #db: Database.Database;
  readonly #busyTimeoutMs: number;
  #writer: Writer | undefined;
  #closing: Promise<void> | undefined;
  #statements: Statements | undefined;
  readonly #listStatements = new Map<number, Stmt>();
  readonly #watchers = new Set<() => void>();
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
  settings(): {
    journalMode: string;
    synchronous: string;
    busyTimeoutMs: number;
    foreignKeys: boolean;
    walAutocheckpointPages: number;
  } {
    const read = (name: string) => this.#db.pragma(name, { simple: true });
    const synchronous = ['off', 'normal', 'full', 'extra'][read('synchronous') as number] ?? 'unknown';
    return {
      journalMode: String(read('journal_mode')),
      synchronous,
      busyTimeoutMs: read('busy_timeout') as number,
      foreignKeys: read('foreign_keys') === 1,
      walAutocheckpointPages: read('wal_autocheckpoint') as number,
    };
  }

  async migrate(options: MigrateOptions = {}): Promise<void> {
    if (options.onUpgrade !== undefined) {
      const from = this.#schemaVersion();
      if (from >= 1 && from < SQLITE_MIGRATIONS.length) options.onUpgrade(from, SQLITE_MIGRATIONS.length);
    }
    await this.#write('migrate');
  }

  /** The applied schema version (0 for a new file), read without taking a lock. */
  #schemaVersion(): number {
    try {
      return this.#db
        .prepare('SELECT coalesce(max(version), 0) FROM schema_migrations')
        .pluck()
        .get() as number;
    } catch {
      return 0; // no schema_migrations table yet
    }
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
    const results = unpackResults(await this.#write('acceptBatch', packBatch(batch)));
    if (results.some((r) => r.outcome === 'stored')) this.#committed();
    return results;
  }

  async findIdempotent(
    producerId: string,
    key: string,
    now: number,
  ): Promise<{ requestHash: string; response: StoredResponse } | undefined> {
    const row = this.#s().findIdempotent.get(idempotencyKeyHash(producerId, key), now, producerId, key) as
      | [string, number, string]
      | undefined;
    return row === undefined
      ? undefined
      : { requestHash: row[0], response: { status: row[1], body: row[2] } };
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
    return (this.#s().selectEvents.all(eventAfter(after), eventLimit(limit)) as EventRow[]).map(toEvent);
  }

  async readSignalEvents(signalId: string): Promise<StreamEvent[]> {
    return (this.#s().selectSignalEvents.all(signalId) as EventRow[]).map(toEvent);
  }

  watchEvents(listener: () => void): () => void {
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

  /** Tells the watchers that events may have been committed. */
  #committed(): void {
    for (const listener of this.#watchers) listener();
  }

  /** Runs one write on the writer (started on first use, so a store that only reads starts no thread). */
  async #write<Op extends WriteOp>(
    op: Op,
    ...args: Parameters<SqliteWriter[Op]>
  ): Promise<ReturnType<SqliteWriter[Op]>> {
    if (this.#closing !== undefined) {
      throw new StoreError(`Cannot write to SQLite database ${this.path}: the store is closed`);
    }
    this.#writer ??=
      this.path === ':memory:'
        ? new InlineWriter(new SqliteWriter(this.#db))
        : new ThreadConnection(this.path, this.#busyTimeoutMs);
    return (await this.#writer.call(op, args)) as ReturnType<SqliteWriter[Op]>;
  }

  // Statements are prepared on first use, after migrate() has created the tables.
  #s(): Statements {
    this.#statements ??= prepareReads(this.#db);
    return this.#statements;
  }
}

/** Where a store's writes run. */
interface Writer {
  call(op: WriteOp, args: unknown[]): Promise<unknown>;
  /** Why writes cannot run any more (the writer thread stopped), or undefined while they can. */
  failure(): StoreUnavailableError | undefined;
  /** Resolves once the writes already requested have finished and the connection is closed. */
  close(): Promise<void>;
}

/** The `:memory:` case: the writer on the store's own connection, on the calling thread. */
class InlineWriter implements Writer {
  readonly #writer: SqliteWriter;
  constructor(writer: SqliteWriter) {
    this.#writer = writer;
  }
  async call(op: WriteOp, args: unknown[]): Promise<unknown> {
    return (this.#writer[op] as (...a: unknown[]) => unknown).apply(this.#writer, args);
  }
  failure(): undefined {
    return undefined;
  }
  async close(): Promise<void> {}
}

/** One store's connection in the shared writer thread. */
class ThreadConnection implements Writer {
  readonly #thread: WriterThread;
  readonly #conn: number;
  constructor(path: string, busyTimeoutMs: number) {
    this.#thread = WriterThread.acquire();
    this.#conn = this.#thread.open(path, busyTimeoutMs);
  }
  call(op: WriteOp, args: unknown[]): Promise<unknown> {
    return this.#thread.request(this.#conn, op, args);
  }
  failure(): StoreUnavailableError | undefined {
    return this.#thread.failure(this.#conn);
  }
  close(): Promise<void> {
    return this.#thread.release(this.#conn);
  }
}

interface PendingRequest {
  readonly conn: number;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * The writer thread of this process. It executes requests one at a time in the order they were
 * posted, so a store's writes stay in order, and a reply to `close` means its earlier writes are done.
 */
class WriterThread {
  static #current: WriterThread | undefined;

  /** The running thread, started when none runs, counted as used until `release`. */
  static acquire(): WriterThread {
    WriterThread.#current ??= new WriterThread();
    const thread = WriterThread.#current;
    thread.#users++;
    clearTimeout(thread.#idleTimer);
    thread.#idleTimer = undefined;
    return thread;
  }

  static get current(): WriterThread | undefined {
    return WriterThread.#current;
  }

  readonly worker: Worker;
  readonly #pending = new Map<number, PendingRequest>();
  readonly #paths = new Map<number, string>();
  #lastId = 0;
  #lastConn = 0;
  #users = 0;
  #stopping = false;
  #idleTimer: NodeJS.Timeout | undefined;
  #stopped: { reason: string; cause?: unknown } | undefined;

  constructor() {
    this.worker = startWorker();
    // Only pending requests keep the process alive, as they would with a synchronous driver.
    this.worker.unref();
    this.worker.on('message', (reply: WriterReply) => this.#settle(reply));
    this.worker.on('error', (error) => this.#stop(`failed: ${error.message}`, error));
    this.worker.on('exit', (code) => {
      if (!this.#stopping) this.#stop(`exited unexpectedly (exit code ${code})`);
    });
  }

  /** Opens a connection to `path` in the thread; returns its number. */
  open(path: string, busyTimeoutMs: number): number {
    const conn = ++this.#lastConn;
    this.#paths.set(conn, path);
    // An open that fails fails every write queued behind it with the same error; nothing to do here.
    this.request(conn, 'open', [path, busyTimeoutMs]).catch(() => {});
    return conn;
  }

  request(conn: number, op: WriterRequest['op'], args: unknown[]): Promise<unknown> {
    const stopped = this.failure(conn);
    if (stopped !== undefined) return Promise.reject(stopped);
    return new Promise((resolve, reject) => {
      const id = ++this.#lastId;
      if (this.#pending.size === 0) this.worker.ref();
      this.#pending.set(id, { conn, resolve, reject });
      this.worker.postMessage({ id, conn, op, args } as WriterRequest);
    });
  }

  failure(conn: number): StoreUnavailableError | undefined {
    if (this.#stopped === undefined) return undefined;
    const { reason, cause } = this.#stopped;
    return new StoreUnavailableError(
      `Cannot write to SQLite database ${this.#paths.get(conn) ?? ''}: its writer thread ${reason}`,
      cause === undefined ? undefined : { cause },
    );
  }

  /**
   * Closes a connection after the writes requested before it. The thread ends `WRITER_IDLE_MS` after
   * its last connection closed, unless a store opens a new one meanwhile.
   */
  async release(conn: number): Promise<void> {
    try {
      await this.request(conn, 'close', []);
    } catch {
      // A thread that stopped has no connection left to close.
    } finally {
      this.#paths.delete(conn);
      if (--this.#users === 0) {
        this.#idleTimer = setTimeout(() => this.#terminate(), WRITER_IDLE_MS);
        this.#idleTimer.unref();
      }
    }
  }

  #terminate(): void {
    if (WriterThread.#current === this) WriterThread.#current = undefined;
    this.#stopping = true;
    void this.worker.terminate();
  }

  #settle(reply: WriterReply): void {
    const pending = this.#pending.get(reply.id);
    if (pending === undefined) return;
    this.#pending.delete(reply.id);
    if (this.#pending.size === 0) this.worker.unref();
    if (reply.ok) pending.resolve(reply.value);
    else pending.reject(reviveError(reply.error));
  }

  #stop(reason: string, cause?: unknown): void {
    if (this.#stopped !== undefined) return;
    this.#stopped = cause === undefined ? { reason } : { reason, cause };
    if (WriterThread.#current === this) WriterThread.#current = undefined;
    for (const pending of this.#pending.values()) pending.reject(this.failure(pending.conn));
    this.#pending.clear();
  }
}

function startWorker(): Worker {
  const workerData = { [WRITER_THREAD_MARK]: true };
  if (import.meta.url.endsWith('.ts')) {
    // Running from TypeScript source (tests, tsx): the worker loads the .ts file through tsx. Node 20
    // ignores `--import` in a Worker's execArgv (nodejs/node#47747), so the worker registers tsx itself.
    const tsx = import.meta.resolve('tsx/esm/api');
    const entry = new URL('./sqlite-worker.ts', import.meta.url).href;
    const bootstrap = `import(${JSON.stringify(tsx)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry)}); });`;
    return new Worker(bootstrap, { eval: true, workerData });
  }
  return new Worker(new URL('./sqlite-worker.js', import.meta.url), { workerData });
}

/**
 * The writer thread of this process's SQLite stores, while one runs. For tests that stop it.
 * @internal
 */
export function writerThreadOfProcess(): Worker | undefined {
  return WriterThread.current?.worker;
}

function prepareReads(db: Database.Database): Statements {
  const p = (sql: string) => db.prepare(sql);
  return {
    findIdempotent: p(
      `SELECT s.request_hash, s.response_status, s.response_body
       FROM idempotency i JOIN signals s ON s.seq = i.signal_seq
       WHERE i.key_hash = ? AND i.expires_at > ? AND s.producer_id = ? AND s.idempotency_key = ?`,
    ).raw(true),
    selectSignal: p(`SELECT ${SIGNAL_COLUMNS} FROM signals WHERE id = ?`),
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
