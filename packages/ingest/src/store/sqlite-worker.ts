// The write side of SqliteStore. Every write runs in `SqliteWriter`, on a connection of its own,
// normally inside the writer thread this file starts as (see `serve` at the bottom): better-sqlite3
// is synchronous, so a commit (its inserts and the WAL fsync of `synchronous = FULL`) run on the
// event-loop thread would stall all HTTP work for its whole duration. For a `:memory:` database,
// which a second connection cannot share, SqliteStore runs the same writer in-process instead.
//
// Data crosses the thread boundary as plain arrays (one structured clone per call, never one
// message per item), and errors as plain objects that `reviveError` turns back into the classes
// and codes the caller would have seen without the thread.
import { closeSync, constants, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { isMainThread, type MessagePort, parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { idempotencyKeyHash, MESSAGES, SIGNAL_COLUMNS, type SignalRow, toSignal } from './common.js';
import { SQLITE_MIGRATIONS } from './migrations-sqlite.js';
import {
  type AcceptRequest,
  type AcceptResult,
  type DecisionChannel,
  type DecisionResult,
  type NewProducer,
  type OperatorToken,
  type ProducerSecret,
  StoreConflictError,
  StoreError,
  StoreInvalidCursorError,
  StoreNotFoundError,
  StoreSchemaTooNewError,
  StoreUnavailableError,
  type Subscriber,
} from './store.js';
import { runTelegramOp, type TelegramOp } from './telegram-sqlite.js';

/** Set in `workerData` by SqliteStore, so this module serves only in the thread started for it. */
export const WRITER_THREAD_MARK = 'sigpostSqliteWriter';

/** WAL pages after which a commit checkpoints (SQLite's default is 1 000). */
export const WAL_AUTOCHECKPOINT_PAGES = 4_000;

/**
 * Creates `path` empty and private (0600) if it does not exist: SQLite would create it 0644 (under
 * the usual umask), and its -wal and -shm files take the database file's mode. An existing file is
 * left as it is (its owner chose its mode).
 */
function createPrivate(path: string): void {
  try {
    closeSync(openSync(path, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, 0o600));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
}

/**
 * Opens a connection with the settings every SqliteStore connection shares: WAL, `synchronous =
 * FULL`, a busy timeout and foreign keys. Throws StoreError naming the file.
 */
export function openConnection(path: string, busyTimeoutMs: number): Database.Database {
  let db: Database.Database;
  try {
    // A directory created here is private (0700): it will hold the signals and the sealed secrets.
    if (path !== ':memory:' && path !== '') {
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      createPrivate(path);
    }
    db = new Database(path);
  } catch (error) {
    throw new StoreError(`Cannot open SQLite database ${path}`, { cause: error });
  }
  try {
    // busy_timeout first: switching to WAL needs a lock another process may hold.
    db.pragma(`busy_timeout = ${Math.trunc(busyTimeoutMs)}`);
    db.pragma('journal_mode = WAL');
    // FULL: in WAL mode, NORMAL survives a process crash but may lose the last commits on power
    // loss; FULL fsyncs the WAL at each commit, so a 201 is as durable as SQLite can make it.
    db.pragma('synchronous = FULL');
    db.pragma('foreign_keys = ON');
    // A checkpoint copies each page changed since the last one back into the database file once,
    // however often it changed: at 4 000 WAL pages (16 MB with 4 KiB pages) instead of SQLite's
    // 1 000, the pages every commit touches (the newest leaf of each index) are copied a quarter as
    // often. Writer CPU per signal −15 % (the writer alone, batches of 25; p99 of bench/ingest.bench.ts
    // unchanged). The WAL file is cut back to 64 MB after a checkpoint if a long reader let it grow.
    db.pragma(`wal_autocheckpoint = ${WAL_AUTOCHECKPOINT_PAGES}`);
    db.pragma(`journal_size_limit = ${64 * 1024 * 1024}`);
  } catch (error) {
    db.close();
    throw new StoreError(`Cannot open SQLite database ${path}: it is not a usable SQLite file`, {
      cause: error,
    });
  }
  return db;
}

// ---------------------------------------------------------------------------------------------
// Batches and results as flat arrays
// ---------------------------------------------------------------------------------------------

/** An `AcceptRequest[]` flattened, `PACKED_FIELDS` values per request (see `packBatch`). */
export type PackedBatch = (string | number | null)[];
/** Per request: 0 stored, 1 replayed-signature, or the stored [requestHash, status, body] of a duplicate. */
export type PackedResults = (0 | 1 | [string, number, string])[];

const PACKED_FIELDS = 18;

export function packBatch(batch: readonly AcceptRequest[]): PackedBatch {
  const packed: PackedBatch = [];
  for (const { signal: s, ...r } of batch) {
    // A repeat is checked against the key stored with the signal (see #storedResponse).
    if (r.idempotencyKey !== s.idempotencyKey) {
      throw new TypeError(
        `Expected the request's idempotencyKey to equal its signal's, received ${JSON.stringify(r.idempotencyKey)} and ${JSON.stringify(s.idempotencyKey)}`,
      );
    }
    packed.push(
      s.id,
      s.producerId,
      s.idempotencyKey,
      s.instrument,
      s.side,
      s.status,
      s.message,
      s.body,
      s.receivedAt,
      s.decidedAt,
      s.decidedBy,
      r.requestHash,
      r.response.status,
      r.response.body,
      r.idempotencyExpiresAt,
      r.signature,
      r.signedAt,
      r.signatureExpiresAt,
    );
  }
  return packed;
}

const STORED: AcceptResult = Object.freeze({ outcome: 'stored' });
const REPLAYED: AcceptResult = Object.freeze({ outcome: 'replayed-signature' });

export function unpackResults(packed: PackedResults): AcceptResult[] {
  return packed.map((r) =>
    r === 0
      ? STORED
      : r === 1
        ? REPLAYED
        : { outcome: 'duplicate', requestHash: r[0], response: { status: r[1], body: r[2] } },
  );
}

// ---------------------------------------------------------------------------------------------
// The writer
// ---------------------------------------------------------------------------------------------

type Stmt = Database.Statement<unknown[], unknown>;

function prepareWrites(db: Database.Database) {
  const p = (sql: string): Stmt => db.prepare(sql);
  return {
    selectIdempotency: p('SELECT signal_seq, expires_at FROM idempotency WHERE key_hash = ?').raw(true),
    selectStoredResponse: p(
      'SELECT producer_id, idempotency_key, request_hash, response_status, response_body FROM signals WHERE seq = ?',
    ).raw(true),
    upsertIdempotency: p(
      `INSERT INTO idempotency (key_hash, signal_seq, expires_at) VALUES (?, ?, ?)
       ON CONFLICT (key_hash) DO UPDATE SET signal_seq = excluded.signal_seq, expires_at = excluded.expires_at`,
    ),
    // Changes nothing (0 changes) when the signature is already remembered and not expired at the last `?`.
    upsertGuard: p(
      `INSERT INTO replay_guard (signed_at, signature, expires_at) VALUES (?, ?, ?)
       ON CONFLICT (signed_at, signature) DO UPDATE SET expires_at = excluded.expires_at
       WHERE replay_guard.expires_at <= ?`,
    ),
    legacySeen: p('SELECT 1 FROM seen_signatures WHERE signature = ? AND expires_at > ?').pluck(),
    legacyAny: p('SELECT EXISTS (SELECT 1 FROM seen_signatures)').pluck(),
    insertSignal: p(
      `INSERT INTO signals (${SIGNAL_COLUMNS}, request_hash, response_status, response_body)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    selectSignal: p(`SELECT ${SIGNAL_COLUMNS} FROM signals WHERE id = ?`),
    decideSignal: p(
      `UPDATE signals SET status = ?, decided_at = ?, decided_by = ?, message = ?
       WHERE id = ? AND status = 'pending_approval' RETURNING ${SIGNAL_COLUMNS}`,
    ),
    insertEvent: p(
      'INSERT INTO stream_events (signal_id, status, at, message, decided_at, decided_by, channel) VALUES (?, ?, ?, ?, ?, ?, ?)',
    ),
    // Oldest signals first (signals_by_time); their events go with them.
    purgeSignalIds: p(
      'SELECT id FROM signals WHERE received_at < ? ORDER BY received_at, id LIMIT ?',
    ).pluck(),
    maxEventOf: p('SELECT max(seq) FROM stream_events WHERE signal_id = ?').pluck(),
    deleteEventsOf: p('DELETE FROM stream_events WHERE signal_id = ?'),
    deleteSignal: p('DELETE FROM signals WHERE id = ?'),
    raisePurgedThrough: p('UPDATE stream_meta SET purged_through = max(purged_through, ?) WHERE id = 1'),
    insertSubscriber: p(
      'INSERT INTO subscribers (id, name, hash, producers, statuses, created_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
    ),
    revokeSubscriber: p('UPDATE subscribers SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL'),
    insertProducer: p('INSERT INTO producers (id, approval, instruments, created_at) VALUES (?, ?, ?, ?)'),
    insertSecret: p(
      'INSERT INTO producer_secrets (producer_id, id, ciphertext, created_at) VALUES (?, ?, ?, ?)',
    ),
    activeSecrets: p('SELECT id FROM producer_secrets WHERE producer_id = ? AND retired_at IS NULL').pluck(),
    retireSecret: p(
      'UPDATE producer_secrets SET retired_at = ? WHERE producer_id = ? AND id = ? AND retired_at IS NULL',
    ),
    replaceCiphertext: p(
      'UPDATE producer_secrets SET ciphertext = ? WHERE producer_id = ? AND id = ? AND ciphertext = ? AND retired_at IS NULL',
    ),
    deleteProducer: p('DELETE FROM producers WHERE id = ?'),
    insertToken: p('INSERT INTO operator_tokens (id, name, hash, created_at) VALUES (?, ?, ?, ?)'),
    deleteToken: p('DELETE FROM operator_tokens WHERE id = ?'),
    purgeIdempotency: p(
      'DELETE FROM idempotency WHERE key_hash IN (SELECT key_hash FROM idempotency WHERE expires_at <= ? LIMIT ?)',
    ),
    // Expired rows among the (limit) oldest signed timestamps: the left edge of the index, cut as a range.
    purgeGuard: p(
      `DELETE FROM replay_guard
       WHERE signed_at <= (SELECT max(signed_at) FROM (SELECT signed_at FROM replay_guard ORDER BY signed_at LIMIT ?))
         AND expires_at <= ?`,
    ),
    purgeLegacySeen: p(
      'DELETE FROM seen_signatures WHERE signature IN (SELECT signature FROM seen_signatures WHERE expires_at <= ? LIMIT ?)',
    ),
  };
}

/**
 * Every write of SqliteStore, synchronous, on one connection. Its methods take and return only
 * structured-clone-friendly values, so the writer thread can call them with a message's arguments.
 */
export class SqliteWriter {
  readonly #db: Database.Database;
  #statements: ReturnType<typeof prepareWrites> | undefined;
  #accept: ((batch: PackedBatch) => PackedResults) | undefined;
  /** `seen_signatures` (schema 1) still has rows the replay guard must honour. */
  #legacyGuard = false;

  constructor(db: Database.Database) {
    this.#db = db;
  }

  migrate(): void {
    const db = this.#db;
    // Migration 2 computes the new idempotency keys in SQL.
    db.function('sigpost_key_hash', { deterministic: true }, (producerId, key) =>
      idempotencyKeyHash(String(producerId), String(key)),
    );
    db.transaction(() => {
      db.exec(
        'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER NOT NULL PRIMARY KEY, applied_at INTEGER NOT NULL) STRICT',
      );
      const current = db
        .prepare('SELECT coalesce(max(version), 0) FROM schema_migrations')
        .pluck()
        .get() as number;
      if (current > SQLITE_MIGRATIONS.length) {
        throw new StoreSchemaTooNewError(MESSAGES.schemaTooNew(current, SQLITE_MIGRATIONS.length));
      }
      const record = db.prepare('INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)');
      for (let version = current + 1; version <= SQLITE_MIGRATIONS.length; version++) {
        db.exec(SQLITE_MIGRATIONS[version - 1]!);
        record.run(version, Date.now());
      }
      // IMMEDIATE takes the write lock at BEGIN, so two processes migrating at once run one after the other.
    }).immediate();
  }

  createProducer(producer: NewProducer): void {
    const s = this.#s();
    try {
      this.#db
        .transaction(() => {
          s.insertProducer.run(
            producer.id,
            producer.approval,
            producer.instruments === null ? null : JSON.stringify(producer.instruments),
            producer.createdAt,
          );
          s.insertSecret.run(
            producer.id,
            producer.secret.id,
            producer.secret.ciphertext,
            producer.secret.createdAt,
          );
        })
        .immediate();
    } catch (error) {
      if (isConstraint(error, 'PRIMARYKEY')) {
        throw new StoreConflictError(MESSAGES.producerExists(producer.id), { cause: error });
      }
      throw error;
    }
  }

  addSecret(producerId: string, secret: ProducerSecret): void {
    try {
      this.#s().insertSecret.run(producerId, secret.id, secret.ciphertext, secret.createdAt);
    } catch (error) {
      if (isConstraint(error, 'FOREIGNKEY')) {
        throw new StoreNotFoundError(MESSAGES.producerMissing(producerId), { cause: error });
      }
      if (isConstraint(error, 'PRIMARYKEY')) {
        throw new StoreConflictError(MESSAGES.secretExists(producerId, secret.id), { cause: error });
      }
      throw error;
    }
  }

  retireSecret(producerId: string, secretId: string, at: number): boolean {
    const s = this.#s();
    return this.#db
      .transaction(() => {
        const active = s.activeSecrets.all(producerId) as string[];
        if (!active.includes(secretId)) return false;
        if (active.length === 1) throw new StoreConflictError(MESSAGES.lastSecret(producerId, secretId));
        s.retireSecret.run(at, producerId, secretId);
        return true;
      })
      .immediate();
  }

  replaceSecretCiphertext(producerId: string, secretId: string, expected: string, next: string): boolean {
    return this.#s().replaceCiphertext.run(next, producerId, secretId, expected).changes > 0;
  }

  removeProducer(id: string): boolean {
    return this.#s().deleteProducer.run(id).changes > 0;
  }

  acceptBatch(batch: PackedBatch): PackedResults {
    this.#accept ??= this.#prepareAccept();
    return this.#accept(batch);
  }

  /**
   * One transaction's worth of purging: deletes expired idempotency records or remembered signatures,
   * looking at about `limit` rows. Returns [rows deleted, whether another call may find more].
   */
  purgeChunk(table: 'idempotency' | 'signatures', now: number, limit: number): [number, boolean] {
    if (table === 'idempotency')
      return this.#db.transaction(() => this.#purgeIdempotency(now, limit)).immediate();
    const [deleted, more, legacyLeft] = this.#db.transaction(() => this.#purgeGuard(now, limit)).immediate();
    // Only once committed: a rolled-back purge must leave the legacy table consulted.
    this.#legacyGuard = legacyLeft;
    return [deleted, more];
  }

  decideSignal(
    id: string,
    decision: 'approved' | 'rejected',
    by: string,
    message: string | null,
    at: number,
    channel: DecisionChannel,
  ): DecisionResult {
    const s = this.#s();
    // The decision and its stream event commit together, or neither does.
    const updated = this.#db
      .transaction(() => {
        const row = s.decideSignal.get(decision, at, by, message, id) as SignalRow | undefined;
        if (row !== undefined) s.insertEvent.run(id, decision, at, message, at, by, channel);
        return row;
      })
      .immediate();
    if (updated !== undefined) return { outcome: 'ok', signal: toSignal(updated) };
    const current = s.selectSignal.get(id) as SignalRow | undefined;
    return current === undefined
      ? { outcome: 'not-found' }
      : { outcome: 'not-pending', signal: toSignal(current) };
  }

  /**
   * One transaction of retention: deletes up to `limit` of the oldest signals received before
   * `before`, with their events, and raises `purged_through`. Returns [signals deleted, whether more may remain].
   */
  purgeSignalsChunk(before: number, limit: number): [number, boolean] {
    const s = this.#s();
    return this.#db
      .transaction((): [number, boolean] => {
        const ids = s.purgeSignalIds.all(before, limit) as string[];
        let maxSeq = 0;
        for (const id of ids) {
          maxSeq = Math.max(maxSeq, (s.maxEventOf.get(id) as number | null) ?? 0);
          s.deleteEventsOf.run(id);
          s.deleteSignal.run(id);
        }
        if (maxSeq > 0) s.raisePurgedThrough.run(maxSeq);
        return [ids.length, ids.length === limit];
      })
      .immediate();
  }

  createSubscriber(subscriber: Subscriber): void {
    try {
      this.#s().insertSubscriber.run(
        subscriber.id,
        subscriber.name,
        subscriber.hash,
        subscriber.producers === null ? null : JSON.stringify(subscriber.producers),
        subscriber.statuses === null ? null : JSON.stringify(subscriber.statuses),
        subscriber.createdAt,
        subscriber.revokedAt,
      );
    } catch (error) {
      if (isConstraint(error, 'PRIMARYKEY') || isConstraint(error, 'UNIQUE')) {
        throw new StoreConflictError(MESSAGES.subscriberExists(subscriber.id), { cause: error });
      }
      throw error;
    }
  }

  revokeSubscriber(id: string, at: number): boolean {
    return this.#s().revokeSubscriber.run(at, id).changes > 0;
  }

  createToken(token: OperatorToken): void {
    try {
      this.#s().insertToken.run(token.id, token.name, token.hash, token.createdAt);
    } catch (error) {
      if (isConstraint(error, 'PRIMARYKEY') || isConstraint(error, 'UNIQUE')) {
        throw new StoreConflictError(MESSAGES.tokenExists(token.id), { cause: error });
      }
      throw error;
    }
  }

  revokeToken(id: string): boolean {
    return this.#s().deleteToken.run(id).changes > 0;
  }

  /** The Telegram bot's tables (telegram-sqlite.ts). */
  telegram(op: TelegramOp): unknown {
    return runTelegramOp(this.#db, op);
  }

  close(): void {
    if (this.#db.open) this.#db.close();
  }

  // Statements are prepared on first use, after migrate() has created the tables.
  #s(): ReturnType<typeof prepareWrites> {
    if (this.#statements === undefined) {
      this.#statements = prepareWrites(this.#db);
      this.#legacyGuard = this.#statements.legacyAny.get() === 1;
    }
    return this.#statements;
  }

  #purgeIdempotency(now: number, limit: number): [number, boolean] {
    const deleted = this.#s().purgeIdempotency.run(now, limit).changes;
    return [deleted, deleted === limit];
  }

  /** Returns [rows deleted, whether to call again, whether `seen_signatures` still has rows]. */
  #purgeGuard(now: number, limit: number): [number, boolean, boolean] {
    const s = this.#s();
    let deleted = s.purgeGuard.run(limit, now).changes;
    let legacyLeft = false;
    if (this.#legacyGuard) {
      deleted += s.purgeLegacySeen.run(now, limit).changes;
      legacyLeft = s.legacyAny.get() === 1;
    }
    // Rows still live at the left edge can hide expired ones behind them until they expire too.
    return [deleted, deleted > 0, legacyLeft];
  }

  #prepareAccept(): (batch: PackedBatch) => PackedResults {
    const s = this.#s();
    // The same decisions as PostgreSQL's sigpost_accept_batch (migrations-postgres.ts), in order: a
    // live record of the key answers `duplicate`; a remembered signature answers
    // `replayed-signature`; otherwise the signal, its key's record and its signature are written.
    const transaction = this.#db.transaction((b: PackedBatch) => {
      const results: PackedResults = [];
      // Offsets follow packBatch: 0–10 the signal's columns, 11 requestHash, 12–13 the response,
      // 14 idempotencyExpiresAt, 15 signature, 16 signedAt, 17 signatureExpiresAt.
      for (let i = 0; i < b.length; i += PACKED_FIELDS) {
        const id = b[i] as string;
        const producerId = b[i + 1] as string;
        const key = b[i + 2] as string | null;
        const receivedAt = b[i + 8] as number;
        const hash = key === null ? undefined : idempotencyKeyHash(producerId, key);
        if (hash !== undefined) {
          const record = s.selectIdempotency.get(hash) as [number, number] | undefined;
          if (record !== undefined && record[1] > receivedAt) {
            results.push(this.#storedResponse(record[0], producerId, key as string));
            continue;
          }
        }
        const signature = b[i + 15] as string;
        const fresh =
          !(this.#legacyGuard && s.legacySeen.get(signature, receivedAt) === 1) &&
          s.upsertGuard.run(b[i + 16], signature, b[i + 17], receivedAt).changes > 0;
        if (!fresh) {
          results.push(1);
          continue;
        }
        let seq: number | bigint;
        try {
          seq = s.insertSignal.run(
            b.slice(i, i + 11).concat(key === null ? [null, null, null] : b.slice(i + 11, i + 14)),
          ).lastInsertRowid;
        } catch (error) {
          if (isConstraint(error, 'UNIQUE')) {
            throw new StoreConflictError(MESSAGES.signalExists(id), { cause: error });
          }
          throw error;
        }
        if (hash !== undefined) s.upsertIdempotency.run(hash, seq, b[i + 14]);
        // Its stream event, in the same transaction: an event exists iff its signal committed.
        s.insertEvent.run(id, b[i + 5], receivedAt, b[i + 6], b[i + 9], b[i + 10], null);
        results.push(0);
      }
      return results;
    });
    return (batch) => transaction.immediate(batch);
  }

  /** The response stored with signal `seq`, checked against the (producer, key) that found it. */
  #storedResponse(seq: number, producerId: string, key: string): [string, number, string] {
    const row = this.#s().selectStoredResponse.get(seq) as
      | [string, string | null, string | null, number | null, string | null]
      | undefined;
    if (
      row === undefined ||
      row[0] !== producerId ||
      row[1] !== key ||
      row[2] === null ||
      row[3] === null ||
      row[4] === null
    ) {
      throw new StoreError(
        `The idempotency record of producer "${producerId}" points at signal #${seq}, which does not hold its response; the database is inconsistent`,
      );
    }
    return [row[2], row[3], row[4]];
  }
}

function isConstraint(error: unknown, kind: 'PRIMARYKEY' | 'UNIQUE' | 'FOREIGNKEY'): boolean {
  return error instanceof Database.SqliteError && error.code === `SQLITE_CONSTRAINT_${kind}`;
}

/** The writer methods a message may call. */
export type WriteOp = Exclude<keyof SqliteWriter, 'close'>;
const WRITE_OPS: ReadonlySet<string> = new Set<WriteOp>([
  'migrate',
  'createProducer',
  'addSecret',
  'retireSecret',
  'replaceSecretCiphertext',
  'removeProducer',
  'acceptBatch',
  'purgeChunk',
  'decideSignal',
  'purgeSignalsChunk',
  'createSubscriber',
  'revokeSubscriber',
  'createToken',
  'revokeToken',
  'telegram',
]);

// ---------------------------------------------------------------------------------------------
// Messages and errors
// ---------------------------------------------------------------------------------------------

/** Main thread → writer thread. `conn` names one SqliteStore's connection (the thread serves all of a process's stores). */
export type WriterRequest =
  | { readonly id: number; readonly conn: number; readonly op: 'open'; readonly args: [string, number] }
  | { readonly id: number; readonly conn: number; readonly op: 'close'; readonly args: [] }
  | { readonly id: number; readonly conn: number; readonly op: WriteOp; readonly args: unknown[] };

/** Writer thread → main thread, one per request, in request order. */
export type WriterReply =
  | { readonly id: number; readonly ok: true; readonly value: unknown }
  | { readonly id: number; readonly ok: false; readonly error: SerializedError };

export interface SerializedError {
  readonly name: string;
  readonly message: string;
  readonly code?: string;
  readonly stack?: string;
  readonly cause?: SerializedError;
}

export function serializeError(error: unknown): SerializedError {
  if (!(error instanceof Error)) return { name: 'Error', message: String(error) };
  const code = (error as { code?: unknown }).code;
  return {
    name: error.name,
    message: error.message,
    ...(typeof code === 'string' ? { code } : {}),
    ...(error.stack === undefined ? {} : { stack: error.stack }),
    ...(error.cause === undefined ? {} : { cause: serializeError(error.cause) }),
  };
}

const STORE_ERRORS: Record<string, new (message: string, options?: ErrorOptions) => StoreError> = {
  StoreError,
  StoreConflictError,
  StoreNotFoundError,
  StoreUnavailableError,
  StoreInvalidCursorError,
  StoreSchemaTooNewError,
};
const PLAIN_ERRORS: Record<string, ErrorConstructor> = { TypeError, RangeError, SyntaxError };

/** Rebuilds an error of the class (and `code`, `cause`) it had in the writer thread. */
export function reviveError(serialized: SerializedError): Error {
  const cause = serialized.cause === undefined ? undefined : reviveError(serialized.cause);
  const options = cause === undefined ? undefined : { cause };
  let error: Error;
  const StoreClass = STORE_ERRORS[serialized.name];
  if (StoreClass !== undefined) {
    error = new StoreClass(serialized.message, options);
  } else if (serialized.name === 'SqliteError' && serialized.code !== undefined) {
    error = new Database.SqliteError(serialized.message, serialized.code);
  } else {
    error = new (PLAIN_ERRORS[serialized.name] ?? Error)(serialized.message, options);
    if (error.name !== serialized.name) error.name = serialized.name;
    if (serialized.code !== undefined) Object.assign(error, { code: serialized.code });
  }
  // The writer's stack shows where the write failed, which the receiving side's would not.
  if (serialized.stack !== undefined) error.stack = serialized.stack;
  return error;
}

// ---------------------------------------------------------------------------------------------
// The writer thread
// ---------------------------------------------------------------------------------------------

function serve(port: MessagePort): void {
  const writers = new Map<number, SqliteWriter>();
  const openErrors = new Map<number, unknown>();
  port.on('message', (request: WriterRequest) => {
    let reply: WriterReply;
    try {
      let value: unknown;
      if (request.op === 'open') {
        const [path, busyTimeoutMs] = request.args;
        try {
          writers.set(request.conn, new SqliteWriter(openConnection(path, busyTimeoutMs)));
        } catch (error) {
          // The calls already queued behind the open get this error, not a vaguer one.
          openErrors.set(request.conn, error);
          throw error;
        }
      } else if (request.op === 'close') {
        writers.get(request.conn)?.close();
        writers.delete(request.conn);
        openErrors.delete(request.conn);
      } else {
        const writer = writers.get(request.conn);
        if (writer === undefined) {
          throw (
            openErrors.get(request.conn) ??
            new StoreError(`SQLite writer connection ${request.conn} is not open`)
          );
        }
        if (!WRITE_OPS.has(request.op))
          throw new TypeError(`Unknown SQLite writer operation "${request.op}"`);
        value = (writer[request.op] as (...args: unknown[]) => unknown).apply(writer, request.args);
      }
      reply = { id: request.id, ok: true, value };
    } catch (error) {
      reply = { id: request.id, ok: false, error: serializeError(error) };
    }
    port.postMessage(reply);
  });
}

if (
  !isMainThread &&
  parentPort !== null &&
  (workerData as Record<string, unknown> | null)?.[WRITER_THREAD_MARK] === true
) {
  serve(parentPort);
}
