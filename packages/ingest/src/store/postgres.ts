import pg from 'pg';
import { SCHEMA_PATTERN } from '../settings.js';
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
  MESSAGES,
  type ProducerJoinRow,
  pageLimit,
  redactUrl,
  SIGNAL_COLUMNS,
  SIGNAL_EVENTS_SELECT,
  SIGNAL_STATUSES,
  type SignalRow,
  type SubscriberRow,
  toEvent,
  toSignal,
  toSubscriber,
  zeroCounts,
} from './common.js';
import { POSTGRES_MIGRATIONS } from './migrations-postgres.js';
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
  StoreConflictError,
  type StoredResponse,
  type StoredSignalStatus,
  StoreError,
  StoreNotFoundError,
  StoreSchemaTooNewError,
  StoreUnavailableError,
  type StreamEvent,
  type StreamPosition,
  type Subscriber,
} from './store.js';
import { postgresTelegramStore } from './telegram-postgres.js';

/** Options of `PostgresStore`. */
export interface PostgresStoreOptions {
  /** `postgres://user:password@host:port/database`; the password never appears in errors. */
  readonly connectionString: string;
  /**
   * Schema holding Sigpost's tables (lowercase letters, digits, `_`). Sets `search_path`;
   * migrate() creates it when missing. @default the server's search_path (usually `public`)
   */
  readonly schema?: string;
  /** Most connections in the pool. @default 10 */
  readonly max?: number;
  /**
   * Called when an idle pooled connection fails (the server restarted, the network dropped). The
   * pool discards that connection either way, and the next query reports the failure.
   * @default ignore
   */
  readonly onError?: (error: Error) => void;
}

const DEFAULT_POOL_MAX = 10; // connections
const CONNECT_TIMEOUT_MS = 10_000; // ms
const ACCEPT_ATTEMPTS = 3; // a deadlock between two servers' batches aborts one; it is retried whole
const MIGRATION_LOCK_CLASS = 0x53_49_47_50; // 'SIGP': first key of pg_advisory_xact_lock(int, int)
const INT8_OID = 20;
/** NOTIFY channel of stream commits; the payload is "<schema>:<head seq>" (sigpost_take_seqs). */
const STREAM_CHANNEL = 'sigpost_stream';
const LISTEN_RETRY_MS = [100, 250, 500, 1_000, 2_000, 5_000]; // ms, per consecutive failure

const STORED: AcceptResult = Object.freeze({ outcome: 'stored' });
const REPLAYED: AcceptResult = Object.freeze({ outcome: 'replayed-signature' });

const PRODUCER_SELECT = `SELECT p.id, p.approval, p.instruments, p.created_at AS "createdAt",
    s.id AS "secretId", s.ciphertext, s.created_at AS "secretCreatedAt"
  FROM producers p LEFT JOIN producer_secrets s ON s.producer_id = p.id AND s.retired_at IS NULL`;

/**
 * The scale-out store: several ingest servers share one PostgreSQL database. Uniqueness of
 * idempotency keys and signatures is enforced by the database, so two servers receiving the same
 * request at once store it once. Times (bigint) come back as JS numbers.
 *
 * Import it from `@sigpost/ingest/postgres`, so SQLite users never load `pg`.
 *
 * @example
 * const store = new PostgresStore({ connectionString: 'postgres://sigpost@db:5432/sigpost' });
 * await store.migrate();
 * @see docs/operations.md
 */
export class PostgresStore implements Store {
  readonly kind = 'postgres' as const;
  readonly schema: string | undefined;
  readonly #pool: pg.Pool;
  readonly #target: Target;
  readonly #clientConfig: pg.ClientConfig;
  readonly #watchers = new Set<(head?: number) => void>();
  #listener: StreamListener | undefined;
  #closed = false;
  readonly telegram = postgresTelegramStore((text, values) => this.#query(text, values));

  constructor(options: PostgresStoreOptions) {
    if (typeof options?.connectionString !== 'string' || options.connectionString === '') {
      throw new TypeError('Expected `connectionString` to be a postgres:// URL');
    }
    if (options.schema !== undefined && !SCHEMA_PATTERN.test(options.schema)) {
      throw new TypeError(
        `Expected \`schema\` to be 1–63 lowercase letters, digits or _ (not starting with a digit), received "${options.schema}"`,
      );
    }
    const max = options.max ?? DEFAULT_POOL_MAX;
    if (!Number.isInteger(max) || max < 1) {
      throw new RangeError(`Expected \`max\` to be an integer ≥ 1, received ${max}`);
    }
    this.schema = options.schema;
    this.#target = describeTarget(options.connectionString);
    const settings = [
      // Durability of a 201 rests on the commit being flushed: refuse a server-wide `off`.
      '-c synchronous_commit=on',
      ...(options.schema === undefined ? [] : [`-c search_path=${options.schema}`]),
    ];
    this.#clientConfig = {
      connectionString: options.connectionString,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      application_name: 'sigpost',
      options: settings.join(' '),
      types: { getTypeParser: getTypeParser as typeof pg.types.getTypeParser },
    };
    this.#pool = new pg.Pool({ ...this.#clientConfig, max });
    // Without a listener, an idle connection's error would be thrown as an uncaught 'error' event.
    this.#pool.on('error', options.onError ?? (() => {}));
  }

  async migrate(options: MigrateOptions = {}): Promise<void> {
    await this.#transaction(async (client) => {
      await client.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [
        MIGRATION_LOCK_CLASS,
        this.schema ?? '',
      ]);
      if (this.schema !== undefined) await client.query(`CREATE SCHEMA IF NOT EXISTS ${this.schema}`);
      await client.query(
        'CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, applied_at bigint NOT NULL)',
      );
      const { rows } = await client.query<{ version: number }>(
        'SELECT coalesce(max(version), 0) AS version FROM schema_migrations',
      );
      const current = rows[0]?.version ?? 0;
      if (current > POSTGRES_MIGRATIONS.length) {
        throw new StoreSchemaTooNewError(MESSAGES.schemaTooNew(current, POSTGRES_MIGRATIONS.length));
      }
      if (current >= 1 && current < POSTGRES_MIGRATIONS.length) {
        options.onUpgrade?.(current, POSTGRES_MIGRATIONS.length);
      }
      for (let version = current + 1; version <= POSTGRES_MIGRATIONS.length; version++) {
        await client.query(POSTGRES_MIGRATIONS[version - 1]!);
        await client.query('INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)', [
          version,
          Date.now(),
        ]);
      }
    });
  }

  async ping(): Promise<void> {
    await this.#query('SELECT 1');
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#watchers.clear();
    await this.#listener?.stop();
    this.#listener = undefined;
    await this.#pool.end();
  }

  // Producers and secrets

  async createProducer(producer: NewProducer): Promise<void> {
    assertSealed(producer.secret);
    // One statement, so the producer and its first secret commit together.
    const { rowCount } = await this.#query(
      `WITH p AS (
         INSERT INTO producers (id, approval, instruments, created_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (id) DO NOTHING RETURNING id)
       INSERT INTO producer_secrets (producer_id, id, ciphertext, created_at) SELECT id, $5, $6, $7 FROM p`,
      [
        producer.id,
        producer.approval,
        producer.instruments,
        producer.createdAt,
        producer.secret.id,
        producer.secret.ciphertext,
        producer.secret.createdAt,
      ],
    );
    if (rowCount === 0) throw new StoreConflictError(MESSAGES.producerExists(producer.id));
  }

  async getProducer(id: string): Promise<Producer | undefined> {
    const { rows } = await this.#query<ProducerJoinRow>(
      `${PRODUCER_SELECT} WHERE p.id = $1 ORDER BY s.created_at, s.id`,
      [id],
    );
    return groupProducers(rows)[0];
  }

  async listProducers(): Promise<Producer[]> {
    const { rows } = await this.#query<ProducerJoinRow>(
      `${PRODUCER_SELECT} ORDER BY p.id, s.created_at, s.id`,
    );
    return groupProducers(rows);
  }

  async addSecret(producerId: string, secret: ProducerSecret): Promise<void> {
    assertSealed(secret);
    try {
      await this.#query(
        'INSERT INTO producer_secrets (producer_id, id, ciphertext, created_at) VALUES ($1, $2, $3, $4)',
        [producerId, secret.id, secret.ciphertext, secret.createdAt],
      );
    } catch (error) {
      if (sqlState(error) === '23503') {
        throw new StoreNotFoundError(MESSAGES.producerMissing(producerId), { cause: error });
      }
      if (sqlState(error) === '23505') {
        throw new StoreConflictError(MESSAGES.secretExists(producerId, secret.id), { cause: error });
      }
      throw error;
    }
  }

  async retireSecret(producerId: string, secretId: string, at: number): Promise<boolean> {
    return this.#transaction(async (client) => {
      // Locking the producer row serializes retirements, so two at once cannot retire the last two.
      await client.query('SELECT 1 FROM producers WHERE id = $1 FOR UPDATE', [producerId]);
      const { rows } = await client.query<{ id: string }>(
        'SELECT id FROM producer_secrets WHERE producer_id = $1 AND retired_at IS NULL',
        [producerId],
      );
      if (!rows.some((row) => row.id === secretId)) return false;
      if (rows.length === 1) throw new StoreConflictError(MESSAGES.lastSecret(producerId, secretId));
      await client.query('UPDATE producer_secrets SET retired_at = $1 WHERE producer_id = $2 AND id = $3', [
        at,
        producerId,
        secretId,
      ]);
      return true;
    });
  }

  async replaceSecretCiphertext(
    producerId: string,
    secretId: string,
    expected: string,
    next: string,
  ): Promise<boolean> {
    assertSealed({ id: secretId, ciphertext: next, createdAt: 0 });
    const { rowCount } = await this.#query(
      'UPDATE producer_secrets SET ciphertext = $1 WHERE producer_id = $2 AND id = $3 AND ciphertext = $4 AND retired_at IS NULL',
      [next, producerId, secretId, expected],
    );
    return (rowCount ?? 0) > 0;
  }

  async removeProducer(id: string): Promise<boolean> {
    const { rowCount } = await this.#query('DELETE FROM producers WHERE id = $1', [id]);
    return (rowCount ?? 0) > 0;
  }

  // Ingest

  async acceptBatch(batch: readonly AcceptRequest[]): Promise<AcceptResult[]> {
    if (batch.length === 0) return [];
    const payload = JSON.stringify(batch.map(toAcceptItem));
    for (let attempt = 1; ; attempt++) {
      try {
        // A single statement is a single transaction: the whole batch commits, or none of it.
        const { rows } = await this.#pool.query<
          [number, string, string | null, number | null, string | null]
        >({
          name: 'sigpost_accept_batch',
          text: 'SELECT * FROM sigpost_accept_batch($1::json)',
          values: [payload],
          rowMode: 'array',
        });
        const results = toAcceptResults(rows, batch.length);
        if (results.some((r) => r.outcome === 'stored')) this.#committed();
        return results;
      } catch (error) {
        const state = sqlState(error);
        // 40P01: two servers' batches claimed the same keys in opposite orders; the database
        // aborted this one whole, so running it again is safe.
        if ((state === '40P01' || state === '40001') && attempt < ACCEPT_ATTEMPTS) continue;
        if (state === '23505' && constraintOf(error) === 'signals_pkey') {
          throw new StoreConflictError(MESSAGES.signalExists(conflictingSignalId(error, batch)), {
            cause: error,
          });
        }
        throw this.#unavailable(error) ?? error;
      }
    }
  }

  async purgeExpired(now: number): Promise<number> {
    const { rows } = await this.#query<{ deleted: number }>(
      `WITH a AS (DELETE FROM idempotency_keys WHERE expires_at <= $1 RETURNING 1),
            b AS (DELETE FROM seen_signatures WHERE expires_at <= $1 RETURNING 1)
       SELECT (SELECT count(*) FROM a) + (SELECT count(*) FROM b) AS deleted`,
      [now],
    );
    return rows[0]?.deleted ?? 0;
  }

  // Operator

  async getSignal(id: string): Promise<SignalRecord | undefined> {
    const { rows } = await this.#query<SignalRow>(`SELECT ${SIGNAL_COLUMNS} FROM signals WHERE id = $1`, [
      id,
    ]);
    return rows[0] === undefined ? undefined : toSignal(rows[0]);
  }
  async getSignalResponse(id: string): Promise<StoredResponse | undefined> {
    // The record of the signal's key, if it still names this signal (a key reused after its record
    // expired names the newer signal).
    const { rows } = await this.#query<{ response_status: number; response_body: string }>(
      `SELECT k.response_status, k.response_body
       FROM signals s JOIN idempotency_keys k
         ON k.producer_id = s.producer_id AND k.idempotency_key = s.idempotency_key AND k.signal_id = s.id
       WHERE s.id = $1`,
      [id],
    );
    const row = rows[0];
    return row === undefined ? undefined : { status: row.response_status, body: row.response_body };
  }

  async listSignals(filter: SignalFilter): Promise<SignalPage> {
    const limit = pageLimit(filter);
    const cursor = filter.cursor === undefined ? undefined : decodeCursor(filter.cursor);
    const where: string[] = [];
    const values: unknown[] = [];
    const add = (clause: (n: number) => string, value: unknown) => {
      values.push(value);
      where.push(clause(values.length));
    };
    if (filter.status !== undefined) add((n) => `status = $${n}`, filter.status);
    if (filter.producerId !== undefined) add((n) => `producer_id = $${n}`, filter.producerId);
    if (filter.instrument !== undefined) add((n) => `instrument = $${n}`, filter.instrument);
    if (filter.from !== undefined) add((n) => `received_at >= $${n}`, filter.from);
    if (filter.to !== undefined) add((n) => `received_at < $${n}`, filter.to);
    if (cursor !== undefined) {
      values.push(cursor.receivedAt, cursor.id);
      where.push(`(received_at, id) < ($${values.length - 1}, $${values.length})`);
    }
    values.push(limit + 1);
    const { rows } = await this.#query<SignalRow>(
      `SELECT ${SIGNAL_COLUMNS} FROM signals${where.length > 0 ? ` WHERE ${where.join(' AND ')}` : ''}
       ORDER BY received_at DESC, id DESC LIMIT $${values.length}`,
      values,
    );
    const items = rows.slice(0, limit).map(toSignal);
    const last = items.at(-1);
    return { items, nextCursor: rows.length > limit && last !== undefined ? encodeCursor(last) : null };
  }

  async decideSignal(
    id: string,
    decision: 'approved' | 'rejected',
    by: string,
    message: string | null,
    at: number,
    channel: DecisionChannel,
  ): Promise<DecisionResult> {
    // The decision and its stream event commit together; the seq is taken last (see migration 2).
    const updated = await this.#transaction(async (client) => {
      const { rows } = await client.query<SignalRow>(
        `UPDATE signals SET status = $1, decided_at = $2, decided_by = $3, message = $4
         WHERE id = $5 AND status = 'pending_approval' RETURNING ${SIGNAL_COLUMNS}`,
        [decision, at, by, message, id],
      );
      if (rows[0] === undefined) return undefined;
      await client.query(
        `INSERT INTO stream_events (seq, signal_id, status, at, message, decided_at, decided_by, channel)
         VALUES (sigpost_take_seqs(1), $1, $2, $3, $4, $3, $5, $6)`,
        [id, decision, at, message, by, channel],
      );
      return rows[0];
    });
    if (updated !== undefined) {
      this.#committed();
      return { outcome: 'ok', signal: toSignal(updated) };
    }
    const current = await this.getSignal(id);
    return current === undefined ? { outcome: 'not-found' } : { outcome: 'not-pending', signal: current };
  }

  async countSignalsByStatus(): Promise<Record<StoredSignalStatus, number>> {
    const counts = zeroCounts();
    const { rows } = await this.#query<{ status: StoredSignalStatus; count: number }>(
      'SELECT status, count(*) AS count FROM signals GROUP BY status',
    );
    for (const row of rows) if (SIGNAL_STATUSES.includes(row.status)) counts[row.status] = row.count;
    return counts;
  }

  async createToken(token: OperatorToken): Promise<void> {
    assertTokenHash(token);
    try {
      await this.#query('INSERT INTO operator_tokens (id, name, hash, created_at) VALUES ($1, $2, $3, $4)', [
        token.id,
        token.name,
        token.hash,
        token.createdAt,
      ]);
    } catch (error) {
      if (sqlState(error) === '23505')
        throw new StoreConflictError(MESSAGES.tokenExists(token.id), { cause: error });
      throw error;
    }
  }

  async findTokenByHash(hash: string): Promise<OperatorToken | undefined> {
    const { rows } = await this.#query<OperatorToken>(
      'SELECT id, name, hash, created_at AS "createdAt" FROM operator_tokens WHERE hash = $1',
      [hash],
    );
    return rows[0];
  }

  async listTokens(): Promise<OperatorToken[]> {
    const { rows } = await this.#query<OperatorToken>(
      'SELECT id, name, hash, created_at AS "createdAt" FROM operator_tokens ORDER BY created_at, id',
    );
    return rows;
  }

  async revokeToken(id: string): Promise<boolean> {
    const { rowCount } = await this.#query('DELETE FROM operator_tokens WHERE id = $1', [id]);
    return (rowCount ?? 0) > 0;
  }

  // Live stream

  async streamPosition(): Promise<StreamPosition> {
    const { rows } = await this.#query<{ epoch: string; head: number; purged_through: number }>(
      'SELECT epoch, head, purged_through FROM stream_meta WHERE id = 1',
    );
    const row = rows[0];
    if (row === undefined) throw new StoreError('stream_meta has no row: the database was not migrated');
    return { epoch: row.epoch, head: row.head, purgedThrough: row.purged_through };
  }

  async readEvents(after: number, limit: number): Promise<StreamEvent[]> {
    const { rows } = await this.#query<EventRow>(
      EVENTS_SELECT.replace('$after', '$1').replace('$limit', '$2'),
      [eventAfter(after), eventLimit(limit)],
    );
    return rows.map(toEvent);
  }

  async readSignalEvents(signalId: string): Promise<StreamEvent[]> {
    const { rows } = await this.#query<EventRow>(SIGNAL_EVENTS_SELECT.replace('$id', '$1'), [signalId]);
    return rows.map(toEvent);
  }

  watchEvents(listener: (head?: number) => void): () => void {
    this.#watchers.add(listener);
    if (this.#listener === undefined && !this.#closed) {
      this.#listener = new StreamListener(this.#clientConfig, (head) => this.#committed(head));
    }
    return () => {
      this.#watchers.delete(listener);
      if (this.#watchers.size === 0) {
        void this.#listener?.stop();
        this.#listener = undefined;
      }
    };
  }

  async purgeSignals(before: number, chunk: number = DEFAULT_PURGE_SIGNALS_CHUNK): Promise<number> {
    let deleted = 0;
    for (;;) {
      const { rows } = await this.#query<{ deleted: number }>(
        `WITH doomed AS (
           SELECT id FROM signals WHERE received_at < $1 ORDER BY received_at, id LIMIT $2 FOR UPDATE SKIP LOCKED),
         events AS (DELETE FROM stream_events WHERE signal_id IN (SELECT id FROM doomed) RETURNING seq),
         raised AS (UPDATE stream_meta SET purged_through = greatest(purged_through, (SELECT max(seq) FROM events))
                    WHERE id = 1 AND EXISTS (SELECT 1 FROM events)),
         gone AS (DELETE FROM signals WHERE id IN (SELECT id FROM doomed) RETURNING 1)
         SELECT count(*) AS deleted FROM gone`,
        [before, chunk],
      );
      const count = rows[0]?.deleted ?? 0;
      deleted += count;
      if (count < chunk) break;
    }
    if (deleted > 0) this.#committed();
    return deleted;
  }

  // Subscribers

  async createSubscriber(subscriber: Subscriber): Promise<void> {
    assertSubscriber(subscriber);
    try {
      await this.#query(
        `INSERT INTO subscribers (id, name, hash, producers, statuses, created_at, revoked_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)`,
        [
          subscriber.id,
          subscriber.name,
          subscriber.hash,
          subscriber.producers,
          subscriber.statuses,
          subscriber.createdAt,
          subscriber.revokedAt,
        ],
      );
    } catch (error) {
      if (sqlState(error) === '23505')
        throw new StoreConflictError(MESSAGES.subscriberExists(subscriber.id), { cause: error });
      throw error;
    }
  }

  async findSubscriberByHash(hash: string): Promise<Subscriber | undefined> {
    const { rows } = await this.#query<SubscriberRow>(
      'SELECT id, name, hash, producers, statuses, created_at, revoked_at FROM subscribers WHERE hash = $1 AND revoked_at IS NULL',
      [hash],
    );
    return rows[0] === undefined ? undefined : toSubscriber(rows[0]);
  }

  async listSubscribers(): Promise<Subscriber[]> {
    const { rows } = await this.#query<SubscriberRow>(
      'SELECT id, name, hash, producers, statuses, created_at, revoked_at FROM subscribers ORDER BY created_at, id',
    );
    return rows.map(toSubscriber);
  }

  async revokeSubscriber(id: string, at: number): Promise<boolean> {
    const { rowCount } = await this.#query(
      'UPDATE subscribers SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL',
      [at, id],
    );
    return (rowCount ?? 0) > 0;
  }

  #committed(head?: number): void {
    for (const listener of this.#watchers) listener(head);
  }

  async #query<R extends pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>> {
    try {
      return await this.#pool.query<R>(text, values);
    } catch (error) {
      throw this.#unavailable(error) ?? error;
    }
  }

  async #transaction<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.#pool.connect();
    } catch (error) {
      throw this.#unavailable(error) ?? error;
    }
    let broken: unknown;
    try {
      await client.query('BEGIN');
      const result = await work(client);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch((rollbackError: unknown) => {
        broken = rollbackError;
      });
      throw this.#unavailable(error) ?? error;
    } finally {
      // A connection whose ROLLBACK failed is in an unknown state: destroy it rather than reuse it.
      client.release(broken instanceof Error ? broken : undefined);
    }
  }

  #unavailable(error: unknown): StoreUnavailableError | undefined {
    const message = connectionProblem(error, this.#target);
    return message === undefined ? undefined : new StoreUnavailableError(message, { cause: error });
  }
}

/**
 * The dedicated LISTEN connection of a store's `watchEvents`. A listener misses notifications while
 * disconnected, so after every (re)connect it calls `wake` once: the stream re-reads from the table.
 */
class StreamListener {
  readonly #config: pg.ClientConfig;
  readonly #wake: (head?: number) => void;
  #client: pg.Client | undefined;
  #schema: string | undefined;
  #failures = 0;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(config: pg.ClientConfig, wake: (head?: number) => void) {
    this.#config = config;
    this.#wake = wake;
    void this.#connect();
  }

  async #connect(): Promise<void> {
    if (this.#stopped) return;
    // Named apart from the pool's connections, so operators (and tests) can tell it in pg_stat_activity.
    const client = new pg.Client({ ...this.#config, application_name: 'sigpost-listener' });
    this.#client = client;
    let lost = false;
    const onLost = () => {
      if (lost) return;
      lost = true;
      client.removeAllListeners('notification');
      void client.end().catch(() => {});
      if (this.#client === client) this.#client = undefined;
      this.#retry();
    };
    client.on('error', onLost);
    client.on('end', onLost);
    client.on('notification', (message) => {
      const payload = message.payload ?? '';
      const colon = payload.lastIndexOf(':');
      if (payload.slice(0, colon) !== this.#schema) return;
      const head = Number(payload.slice(colon + 1));
      this.#wake(Number.isSafeInteger(head) ? head : undefined);
    });
    try {
      await client.connect();
      const { rows } = await client.query<{ schema: string }>('SELECT current_schema() AS schema');
      this.#schema = rows[0]?.schema;
      await client.query(`LISTEN ${STREAM_CHANNEL}`);
      if (this.#stopped) {
        await client.end().catch(() => {});
        return;
      }
      this.#failures = 0;
      // Anything committed while no connection listened is read now.
      this.#wake();
    } catch {
      onLost();
    }
  }

  #retry(): void {
    if (this.#stopped) return;
    const delay = LISTEN_RETRY_MS[Math.min(this.#failures, LISTEN_RETRY_MS.length - 1)] ?? 5_000;
    this.#failures++;
    this.#timer = setTimeout(() => void this.#connect(), delay);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    const client = this.#client;
    this.#client = undefined;
    if (client !== undefined) {
      client.removeAllListeners('end');
      client.removeAllListeners('notification');
      await client.end().catch(() => {});
    }
  }
}

interface Target {
  readonly host: string;
  readonly port: string;
  readonly user: string;
  readonly database: string;
  readonly redacted: string;
}

function describeTarget(connectionString: string): Target {
  let url: URL | undefined;
  try {
    url = new URL(connectionString);
  } catch {
    url = undefined;
  }
  const user = decodeURIComponent(url?.username ?? '') || 'postgres';
  return {
    host: url?.hostname || 'localhost',
    port: url?.port || '5432',
    user,
    database: decodeURIComponent(url?.pathname.slice(1) ?? '') || user,
    redacted: redactUrl(connectionString),
  };
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);

/** The text of a StoreUnavailableError for a failure to reach or log in to the server, else undefined. */
function connectionProblem(error: unknown, target: Target): string | undefined {
  const code = errorCode(error);
  const at = `${target.host}:${target.port}`;
  if (
    (code !== undefined && NETWORK_CODES.has(code)) ||
    (error instanceof Error && /^(Connection terminated|timeout expired)/.test(error.message))
  ) {
    return (
      `Cannot connect to PostgreSQL at ${at} (${code ?? (error as Error).message}): is the server running? ` +
      `Start it (e.g. \`pg_ctlcluster <version> main start\`, or \`docker run -d -p 5432:5432 -e POSTGRES_HOST_AUTH_METHOD=trust postgres:16\`) ` +
      `or fix the database URL ${target.redacted}`
    );
  }
  if (code === '3D000') {
    return `PostgreSQL at ${at} has no database "${target.database}": create it (\`createdb -h ${target.host} -p ${target.port} -U ${target.user} ${target.database}\`) or fix the database URL ${target.redacted}`;
  }
  if (code === '28P01' || code === '28000') {
    return `PostgreSQL at ${at} refused user "${target.user}" (${code}): check the user and password of the database URL ${target.redacted}`;
  }
  if (code === '57P03' || code === '53300' || code === '57P01') {
    return `PostgreSQL at ${at} is not accepting connections (${code}): ${(error as Error).message}`;
  }
  return undefined;
}

function errorCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') return code;
  // Node 20 reports a failed connection to a name with several addresses as an AggregateError.
  const first = (error as { errors?: unknown[] }).errors?.[0];
  return first === undefined ? undefined : errorCode(first);
}

function sqlState(error: unknown): string | undefined {
  return error instanceof pg.DatabaseError ? error.code : undefined;
}

function constraintOf(error: unknown): string | undefined {
  return error instanceof pg.DatabaseError ? error.constraint : undefined;
}

function conflictingSignalId(error: unknown, batch: readonly AcceptRequest[]): string {
  const detail = error instanceof pg.DatabaseError ? (error.detail ?? '') : '';
  const fromDetail = /^Key \(id\)=\((.*)\) already exists\.$/.exec(detail)?.[1];
  return fromDetail ?? batch[0]?.signal.id ?? '';
}

function parseInt8(text: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value)) {
    throw new StoreError(`A bigint from PostgreSQL (${text}) does not fit a JS number exactly`);
  }
  return value;
}

function getTypeParser(oid: number, format?: 'text' | 'binary'): unknown {
  if (oid === INT8_OID && format !== 'binary') return parseInt8;
  return format === undefined ? pg.types.getTypeParser(oid) : pg.types.getTypeParser(oid, format);
}

function toAcceptItem(item: AcceptRequest) {
  const s = item.signal;
  return {
    id: s.id,
    producer_id: s.producerId,
    idempotency_key: s.idempotencyKey,
    instrument: s.instrument,
    side: s.side,
    status: s.status,
    message: s.message,
    body: s.body,
    received_at: s.receivedAt,
    decided_at: s.decidedAt,
    decided_by: s.decidedBy,
    claim_key: s.idempotencyKey,
    request_hash: item.requestHash,
    idempotency_expires_at: item.idempotencyExpiresAt,
    signature: item.signature,
    signature_expires_at: item.signatureExpiresAt,
    response_status: item.response.status,
    response_body: item.response.body,
  };
}

function toAcceptResults(
  rows: readonly [number, string, string | null, number | null, string | null][],
  expected: number,
): AcceptResult[] {
  if (rows.length !== expected) {
    throw new StoreError(`sigpost_accept_batch answered ${rows.length} results for ${expected} requests`);
  }
  const results: AcceptResult[] = new Array(expected);
  for (const [ord, outcome, requestHash, status, body] of rows) {
    results[ord - 1] =
      outcome === 'stored'
        ? STORED
        : outcome === 'duplicate'
          ? { outcome: 'duplicate', requestHash: requestHash!, response: { status: status!, body: body! } }
          : REPLAYED;
  }
  return results;
}
