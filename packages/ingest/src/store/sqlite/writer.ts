// Every write of SqliteStore, with all of its write SQL: producers and secrets, the accept decision
// of ingest (idempotency, then the replay guard, then the insert), decisions, retention and purges,
// subscribers, tokens, and the Telegram bot's tables. `SqliteWriter` runs on a connection of its own,
// normally in the writer thread (transport.ts), so that a commit and its fsync never block the event
// loop; for `:memory:` it runs in-process on the store's connection.
import Database from 'better-sqlite3';
import { idempotencyKeyHash, MESSAGES, SIGNAL_COLUMNS, type SignalRow, toSignal } from '../common.js';
import {
  type DecisionChannel,
  type DecisionResult,
  type NewProducer,
  type OperatorToken,
  type ProducerSecret,
  StoreConflictError,
  StoreError,
  StoreNotFoundError,
  type Subscriber,
} from '../store.js';
import { runTelegramOp, type TelegramOp } from '../telegram-sqlite.js';
import { applyMigrations } from './migrations.js';
import {
  AcceptBatchReader,
  type AcceptBatchWire,
  type AcceptResultsWire,
  REPLAYED,
  type AcceptBatchReader as Reader,
  STORED,
} from './wire.js';

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
    // The stream events of the signals just inserted (seq first to last), in one statement: the
    // AUTOINCREMENT counter (sqlite_sequence) is then read and written once per batch, not per signal.
    insertEventsOfSignals: p(
      `INSERT INTO stream_events (signal_id, status, at, message, decided_at, decided_by, channel)
       SELECT id, status, received_at, message, decided_at, decided_by, NULL FROM signals
       WHERE seq >= ? AND seq <= ? ORDER BY seq`,
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
/** What became of one batch of `acceptBatches`. */
export type BatchOutcome =
  | { readonly ok: true; readonly value: AcceptResultsWire }
  | { readonly ok: false; readonly error: unknown };

export class SqliteWriter {
  readonly #db: Database.Database;
  #statements: ReturnType<typeof prepareWrites> | undefined;
  #accept: ((batch: AcceptBatchWire) => AcceptResultsWire) | undefined;
  #acceptMany: Database.Transaction<(wires: readonly AcceptBatchWire[]) => AcceptResultsWire[]> | undefined;
  /** `seen_signatures` (schema 1) still has rows the replay guard must honour. */
  #legacyGuard = false;

  constructor(db: Database.Database) {
    this.#db = db;
  }

  migrate(): void {
    applyMigrations(this.#db);
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

  /**
   * Decides and writes a batch of accepted requests in ONE transaction, in order (the same decisions
   * as PostgreSQL's sigpost_accept_batch in migrations-postgres.ts), each against the state left by
   * the requests before it:
   * 1. idempotency: a live record of the (producer, key) answers `duplicate` with the stored response;
   * 2. replay guard: a signature already remembered answers `replayed-signature`;
   * 3. insert: the signal, its key's record and its stream event are written, and its signature remembered.
   */
  acceptBatch(batch: AcceptBatchWire): AcceptResultsWire {
    this.#accept ??= this.#acceptTransaction();
    return this.#accept(batch);
  }

  /**
   * Several batches in ONE transaction: the writer thread's group commit of the batches that queued
   * up while it was committing (transport.ts). One outcome per batch, in order; a batch that fails
   * fails alone. The batches run one after the other in a plain transaction, without a savepoint
   * each: a savepoint copies every page a batch first touches to a sub-journal, which cost the writer
   * about as much as the batch itself. If a batch throws, that transaction is rolled back whole and
   * each batch is run again in a transaction of its own, so that the others still commit.
   */
  acceptBatches(batches: readonly AcceptBatchWire[]): BatchOutcome[] {
    this.#acceptMany ??= this.#db.transaction((wires: readonly AcceptBatchWire[]) => {
      const values: AcceptResultsWire[] = [];
      for (const wire of wires) {
        try {
          values.push(this.#acceptBody(wire));
        } catch (error) {
          throw new BatchFailed(error);
        }
      }
      return values;
    });
    try {
      return this.#acceptMany.immediate(batches).map((value) => ({ ok: true, value }));
    } catch (error) {
      // Not a batch's own failure (the lock, the commit): every batch gets it, nothing was written.
      if (!(error instanceof BatchFailed)) return batches.map(() => ({ ok: false, error }));
      return batches.map((wire): BatchOutcome => {
        try {
          return { ok: true, value: this.acceptBatch(wire) };
        } catch (failure) {
          return { ok: false, error: failure };
        }
      });
    }
  }

  #acceptTransaction(): (batch: AcceptBatchWire) => AcceptResultsWire {
    const transaction = this.#db.transaction((wire: AcceptBatchWire) => this.#acceptBody(wire));
    return (wire) => transaction.immediate(wire);
  }

  /** The decisions and writes of one batch, in the caller's transaction (see acceptBatch). */
  #acceptBody(wire: AcceptBatchWire): AcceptResultsWire {
    const request = new AcceptBatchReader(wire);
    const outcomes: AcceptResultsWire['outcomes'] = [];
    let stored = 0;
    let firstSeq = 0;
    let lastSeq = 0;
    while (request.next()) {
      const keyHash =
        request.idempotencyKey === null
          ? undefined
          : idempotencyKeyHash(request.producerId, request.idempotencyKey);
      const duplicate = keyHash === undefined ? undefined : this.#idempotentAnswer(keyHash, request);
      if (duplicate !== undefined) outcomes.push(duplicate);
      else if (!this.#rememberSignature(request)) outcomes.push(REPLAYED);
      else {
        lastSeq = this.#insertSignal(request, keyHash);
        if (firstSeq === 0) firstSeq = lastSeq;
        stored++;
        outcomes.push(STORED);
      }
    }
    // Their stream events, in the same transaction (an event exists iff its signal committed) and
    // in batch order: the batch's signals got consecutive seqs, as this transaction is the only writer.
    if (stored === 0) return { outcomes, firstEventSeq: 0 };
    // One statement's AUTOINCREMENT seqs are consecutive: the last one tells the first.
    const lastEventSeq = this.#s().insertEventsOfSignals.run(firstSeq, lastSeq).lastInsertRowid as number;
    return { outcomes, firstEventSeq: lastEventSeq - stored + 1 };
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

  // The accept decision, step by step (see acceptBatch).

  /**
   * Idempotency: the stored answer when the request's (producer, key) has a record still live at its
   * `receivedAt`; undefined when the key is new or its record expired (the request goes on).
   */
  #idempotentAnswer(keyHash: Buffer, request: Reader): [string, number, string] | undefined {
    const record = this.#s().selectIdempotency.get(keyHash) as [number, number] | undefined;
    if (record === undefined || record[1] <= request.receivedAt) return undefined;
    return this.#storedResponse(record[0], request.producerId, request.idempotencyKey as string);
  }

  /**
   * Replay guard: remembers the request's signature until `signatureExpiresAt`. False, writing
   * nothing, when the signature is already remembered and not expired at the request's `receivedAt`.
   */
  #rememberSignature(request: Reader): boolean {
    const s = this.#s();
    if (this.#legacyGuard && s.legacySeen.get(request.signature, request.receivedAt) === 1) return false;
    return (
      s.upsertGuard.run(request.signedAt, request.signature, request.signatureExpiresAt, request.receivedAt)
        .changes > 0
    );
  }

  /** Insert: the signal with its response, and its key's record. Returns the signal's seq (its stream event is written after the batch). */
  #insertSignal(request: Reader, keyHash: Buffer | undefined): number {
    const s = this.#s();
    const keyed = keyHash !== undefined;
    let seq: number;
    try {
      seq = s.insertSignal.run(
        request.id,
        request.producerId,
        request.idempotencyKey,
        request.instrument,
        request.side,
        request.status,
        request.message,
        request.body,
        request.receivedAt,
        request.decidedAt,
        request.decidedBy,
        keyed ? request.requestHash : null,
        keyed ? request.responseStatus : null,
        keyed ? request.responseBody : null,
      ).lastInsertRowid as number;
    } catch (error) {
      if (isConstraint(error, 'UNIQUE')) {
        throw new StoreConflictError(MESSAGES.signalExists(request.id), { cause: error });
      }
      throw error;
    }
    if (keyed) s.upsertIdempotency.run(keyHash, seq, request.idempotencyExpiresAt);
    return seq;
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

/** A batch of `acceptBatches` threw `cause`: the shared transaction is rolled back. */
class BatchFailed extends Error {
  constructor(cause: unknown) {
    super('An accept batch failed', { cause });
  }
}

function isConstraint(error: unknown, kind: 'PRIMARYKEY' | 'UNIQUE' | 'FOREIGNKEY'): boolean {
  return error instanceof Database.SqliteError && error.code === `SQLITE_CONSTRAINT_${kind}`;
}
