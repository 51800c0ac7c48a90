import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import {
  assertSealed,
  assertTokenHash,
  decodeCursor,
  encodeCursor,
  groupProducers,
  MESSAGES,
  type ProducerJoinRow,
  pageLimit,
  SIGNAL_COLUMNS,
  SIGNAL_STATUSES,
  type SignalRow,
  toSignal,
  yieldToEventLoop,
  zeroCounts,
} from './common.js';
import { SQLITE_MIGRATIONS } from './migrations-sqlite.js';
import {
  type AcceptRequest,
  type AcceptResult,
  type DecisionResult,
  type NewProducer,
  type OperatorToken,
  type Producer,
  type ProducerSecret,
  type SignalFilter,
  type SignalPage,
  type SignalRecord,
  type Store,
  StoreConflictError,
  type StoredResponse,
  type StoredSignalStatus,
  StoreError,
  StoreNotFoundError,
  StoreSchemaTooNewError,
} from './store.js';

/** Options of `SqliteStore`. */
export interface SqliteStoreOptions {
  /** Database file. Its directory is created when missing; `:memory:` gives a throwaway database. */
  readonly path: string;
  /** How long a write waits for another connection's lock before failing, in ms. @default 5000 */
  readonly busyTimeoutMs?: number;
}

const DEFAULT_BUSY_TIMEOUT_MS = 5_000; // ms
const PURGE_CHUNK_ROWS = 10_000; // rows per transaction, so ingest is not held up by a large purge

const STORED: AcceptResult = Object.freeze({ outcome: 'stored' });
const REPLAYED: AcceptResult = Object.freeze({ outcome: 'replayed-signature' });

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
  upsertIdempotency: Stmt;
  selectIdempotency: Stmt;
  deleteIdempotency: Stmt;
  upsertSignature: Stmt;
  insertSignal: Stmt;
  findIdempotent: Stmt;
  selectSignal: Stmt;
  decideSignal: Stmt;
  countByStatus: Stmt;
  insertProducer: Stmt;
  insertSecret: Stmt;
  selectProducer: Stmt;
  selectProducers: Stmt;
  activeSecrets: Stmt;
  retireSecret: Stmt;
  deleteProducer: Stmt;
  insertToken: Stmt;
  selectTokenByHash: Stmt;
  selectTokens: Stmt;
  deleteToken: Stmt;
  purgeIdempotency: Stmt;
  purgeSignatures: Stmt;
}

/**
 * The embedded store: one SQLite file in WAL mode with `synchronous = FULL`, so a signal whose
 * `acceptBatch` resolved survives a crash of the process and a power loss (the WAL is fsync'd at
 * every commit; group commit spreads that fsync over a whole batch).
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
  #statements: Statements | undefined;
  #acceptTransaction: ((batch: readonly AcceptRequest[]) => AcceptResult[]) | undefined;
  readonly #listStatements = new Map<number, Stmt>();

  constructor(options: SqliteStoreOptions) {
    if (typeof options?.path !== 'string' || options.path === '') {
      throw new TypeError('Expected `path` to be a file path (or ":memory:")');
    }
    this.path = options.path;
    try {
      if (options.path !== ':memory:') mkdirSync(dirname(options.path), { recursive: true });
      this.#db = new Database(options.path);
    } catch (error) {
      throw new StoreError(`Cannot open SQLite database ${options.path}`, { cause: error });
    }
    try {
      // busy_timeout first: switching to WAL needs a lock another process may hold.
      this.#db.pragma(`busy_timeout = ${Math.trunc(options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS)}`);
      this.#db.pragma('journal_mode = WAL');
      // FULL: in WAL mode, NORMAL survives a process crash but may lose the last commits on power
      // loss; FULL fsyncs the WAL at each commit, so a 201 is as durable as SQLite can make it.
      this.#db.pragma('synchronous = FULL');
      this.#db.pragma('foreign_keys = ON');
    } catch (error) {
      this.#db.close();
      throw new StoreError(`Cannot open SQLite database ${options.path}: it is not a usable SQLite file`, {
        cause: error,
      });
    }
  }

  /**
   * The connection's durability and locking settings, as SQLite reports them (for startup logs).
   * @example
   * store.settings(); // { journalMode: 'wal', synchronous: 'full', busyTimeoutMs: 5000, foreignKeys: true }
   */
  settings(): { journalMode: string; synchronous: string; busyTimeoutMs: number; foreignKeys: boolean } {
    const read = (name: string) => this.#db.pragma(name, { simple: true });
    const synchronous = ['off', 'normal', 'full', 'extra'][read('synchronous') as number] ?? 'unknown';
    return {
      journalMode: String(read('journal_mode')),
      synchronous,
      busyTimeoutMs: read('busy_timeout') as number,
      foreignKeys: read('foreign_keys') === 1,
    };
  }

  async migrate(): Promise<void> {
    const db = this.#db;
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

  async ping(): Promise<void> {
    this.#db.prepare('SELECT 1').get();
  }

  async close(): Promise<void> {
    if (this.#db.open) this.#db.close();
  }

  // Producers and secrets

  async createProducer(producer: NewProducer): Promise<void> {
    assertSealed(producer.secret);
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

  async getProducer(id: string): Promise<Producer | undefined> {
    return groupProducers((this.#s().selectProducer.all(id) as ProducerRow[]).map(toJoinRow))[0];
  }

  async listProducers(): Promise<Producer[]> {
    return groupProducers((this.#s().selectProducers.all() as ProducerRow[]).map(toJoinRow));
  }

  async addSecret(producerId: string, secret: ProducerSecret): Promise<void> {
    assertSealed(secret);
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

  async retireSecret(producerId: string, secretId: string, at: number): Promise<boolean> {
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

  async removeProducer(id: string): Promise<boolean> {
    return this.#s().deleteProducer.run(id).changes > 0;
  }

  // Ingest

  async acceptBatch(batch: readonly AcceptRequest[]): Promise<AcceptResult[]> {
    if (batch.length === 0) return [];
    this.#acceptTransaction ??= this.#prepareAccept();
    return this.#acceptTransaction(batch);
  }

  async findIdempotent(
    producerId: string,
    key: string,
    now: number,
  ): Promise<{ requestHash: string; response: StoredResponse } | undefined> {
    const row = this.#s().findIdempotent.get(producerId, key, now) as [string, number, string] | undefined;
    return row === undefined
      ? undefined
      : { requestHash: row[0], response: { status: row[1], body: row[2] } };
  }

  async purgeExpired(now: number): Promise<number> {
    const s = this.#s();
    let deleted = 0;
    for (const statement of [s.purgeIdempotency, s.purgeSignatures]) {
      for (;;) {
        const { changes } = statement.run(now, PURGE_CHUNK_ROWS);
        deleted += changes;
        if (changes < PURGE_CHUNK_ROWS) break;
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
  ): Promise<DecisionResult> {
    const s = this.#s();
    const updated = s.decideSignal.get(decision, at, by, message, id) as SignalRow | undefined;
    if (updated !== undefined) return { outcome: 'ok', signal: toSignal(updated) };
    const current = s.selectSignal.get(id) as SignalRow | undefined;
    return current === undefined
      ? { outcome: 'not-found' }
      : { outcome: 'not-pending', signal: toSignal(current) };
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
    try {
      this.#s().insertToken.run(token.id, token.name, token.hash, token.createdAt);
    } catch (error) {
      if (isConstraint(error, 'PRIMARYKEY') || isConstraint(error, 'UNIQUE')) {
        throw new StoreConflictError(MESSAGES.tokenExists(token.id), { cause: error });
      }
      throw error;
    }
  }

  async findTokenByHash(hash: string): Promise<OperatorToken | undefined> {
    return this.#s().selectTokenByHash.get(hash) as OperatorToken | undefined;
  }

  async listTokens(): Promise<OperatorToken[]> {
    return this.#s().selectTokens.all() as OperatorToken[];
  }

  async revokeToken(id: string): Promise<boolean> {
    return this.#s().deleteToken.run(id).changes > 0;
  }

  // Statements are prepared on first use, after migrate() has created the tables.
  #s(): Statements {
    this.#statements ??= prepareStatements(this.#db);
    return this.#statements;
  }

  #prepareAccept(): (batch: readonly AcceptRequest[]) => AcceptResult[] {
    const s = this.#s();
    // The same three steps as PostgreSQL's sigpost_accept_batch (migrations-postgres.ts): claim the
    // key, claim the signature (undoing the key claim on a replay), then insert the signal.
    const transaction = this.#db.transaction((batch: readonly AcceptRequest[]) => {
      const results: AcceptResult[] = [];
      for (const item of batch) {
        const signal = item.signal;
        const key = item.idempotencyKey;
        if (key !== null) {
          const claimed = s.upsertIdempotency.run(
            signal.producerId,
            key,
            item.requestHash,
            item.response.status,
            item.response.body,
            signal.id,
            signal.receivedAt,
            item.idempotencyExpiresAt,
          ).changes;
          if (claimed === 0) {
            const [requestHash, status, body] = s.selectIdempotency.get(signal.producerId, key) as [
              string,
              number,
              string,
            ];
            results.push({ outcome: 'duplicate', requestHash, response: { status, body } });
            continue;
          }
        }
        const fresh = s.upsertSignature.run(
          item.signature,
          signal.producerId,
          signal.receivedAt,
          item.signatureExpiresAt,
        ).changes;
        if (fresh === 0) {
          // The key claim above is ours (this transaction wrote it), and any row it replaced had
          // expired, so deleting it restores an equivalent state.
          if (key !== null) s.deleteIdempotency.run(signal.producerId, key);
          results.push(REPLAYED);
          continue;
        }
        try {
          s.insertSignal.run(
            signal.id,
            signal.producerId,
            signal.idempotencyKey,
            signal.instrument,
            signal.side,
            signal.status,
            signal.message,
            signal.body,
            signal.receivedAt,
            signal.decidedAt,
            signal.decidedBy,
          );
        } catch (error) {
          if (isConstraint(error, 'PRIMARYKEY')) {
            throw new StoreConflictError(MESSAGES.signalExists(signal.id), { cause: error });
          }
          throw error;
        }
        results.push(STORED);
      }
      return results;
    });
    return (batch) => transaction.immediate(batch);
  }
}

function prepareStatements(db: Database.Database): Statements {
  const p = (sql: string) => db.prepare(sql);
  return {
    upsertIdempotency: p(
      `INSERT INTO idempotency_keys (producer_id, idempotency_key, request_hash, response_status, response_body, signal_id, created_at, expires_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (producer_id, idempotency_key) DO UPDATE SET
         request_hash = excluded.request_hash, response_status = excluded.response_status,
         response_body = excluded.response_body, signal_id = excluded.signal_id,
         created_at = excluded.created_at, expires_at = excluded.expires_at
       WHERE idempotency_keys.expires_at <= excluded.created_at`,
    ),
    selectIdempotency: p(
      'SELECT request_hash, response_status, response_body FROM idempotency_keys WHERE producer_id = ? AND idempotency_key = ?',
    ).raw(true),
    deleteIdempotency: p('DELETE FROM idempotency_keys WHERE producer_id = ? AND idempotency_key = ?'),
    upsertSignature: p(
      `INSERT INTO seen_signatures (signature, producer_id, seen_at, expires_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (signature) DO UPDATE SET
         producer_id = excluded.producer_id, seen_at = excluded.seen_at, expires_at = excluded.expires_at
       WHERE seen_signatures.expires_at <= excluded.seen_at`,
    ),
    insertSignal: p(`INSERT INTO signals (${SIGNAL_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
    findIdempotent: p(
      'SELECT request_hash, response_status, response_body FROM idempotency_keys WHERE producer_id = ? AND idempotency_key = ? AND expires_at > ?',
    ).raw(true),
    selectSignal: p(`SELECT ${SIGNAL_COLUMNS} FROM signals WHERE id = ?`),
    decideSignal: p(
      `UPDATE signals SET status = ?, decided_at = ?, decided_by = ?, message = ?
       WHERE id = ? AND status = 'pending_approval' RETURNING ${SIGNAL_COLUMNS}`,
    ),
    countByStatus: p('SELECT status, count(*) FROM signals GROUP BY status').raw(true),
    insertProducer: p('INSERT INTO producers (id, approval, instruments, created_at) VALUES (?, ?, ?, ?)'),
    insertSecret: p(
      'INSERT INTO producer_secrets (producer_id, id, ciphertext, created_at) VALUES (?, ?, ?, ?)',
    ),
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
    activeSecrets: p('SELECT id FROM producer_secrets WHERE producer_id = ? AND retired_at IS NULL').pluck(),
    retireSecret: p(
      'UPDATE producer_secrets SET retired_at = ? WHERE producer_id = ? AND id = ? AND retired_at IS NULL',
    ),
    deleteProducer: p('DELETE FROM producers WHERE id = ?'),
    insertToken: p('INSERT INTO operator_tokens (id, name, hash, created_at) VALUES (?, ?, ?, ?)'),
    selectTokenByHash: p(
      'SELECT id, name, hash, created_at AS createdAt FROM operator_tokens WHERE hash = ?',
    ),
    selectTokens: p(
      'SELECT id, name, hash, created_at AS createdAt FROM operator_tokens ORDER BY created_at, id',
    ),
    deleteToken: p('DELETE FROM operator_tokens WHERE id = ?'),
    purgeIdempotency: p(
      `DELETE FROM idempotency_keys WHERE (producer_id, idempotency_key) IN
         (SELECT producer_id, idempotency_key FROM idempotency_keys WHERE expires_at <= ? LIMIT ?)`,
    ),
    purgeSignatures: p(
      'DELETE FROM seen_signatures WHERE signature IN (SELECT signature FROM seen_signatures WHERE expires_at <= ? LIMIT ?)',
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

function isConstraint(error: unknown, kind: 'PRIMARYKEY' | 'UNIQUE' | 'FOREIGNKEY'): boolean {
  return error instanceof Database.SqliteError && error.code === `SQLITE_CONSTRAINT_${kind}`;
}
