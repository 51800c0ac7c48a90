/**
 * The storage contract of the ingest server. Two implementations: SQLite (embedded default) and
 * PostgreSQL (scale-out: several server processes share one database). One contract test suite runs
 * against both.
 *
 * Times are epoch milliseconds (integers). Ids are opaque strings chosen by the caller.
 * Secrets reach the store only as ciphertext (see `SecretBox` in ../secrets.ts): a read of the database
 * alone does not give an attacker usable signing secrets.
 */

import type { TelegramStore } from './telegram.js';

export type { TelegramCursor, TelegramMessage, TelegramStore } from './telegram.js';

export type ApprovalMode = 'auto' | 'manual';
export type StoredSignalStatus = import('@sigpost/protocol').StoredSignalStatus;

export interface ProducerSecret {
  readonly id: string;
  /** Encrypted secret, as produced by SecretBox.seal. */
  readonly ciphertext: string;
  readonly createdAt: number;
}

export interface Producer {
  readonly id: string;
  readonly approval: ApprovalMode;
  /** Allowed instruments; `null` means any. */
  readonly instruments: readonly string[] | null;
  readonly createdAt: number;
  /** Active (not retired) secrets, oldest first. */
  readonly secrets: readonly ProducerSecret[];
}

export interface NewProducer {
  readonly id: string;
  readonly approval: ApprovalMode;
  readonly instruments: readonly string[] | null;
  readonly secret: ProducerSecret;
  readonly createdAt: number;
}

/** A stored signal. `body` is the exact JSON text that was received and verified. */
export interface SignalRecord {
  readonly id: string;
  readonly producerId: string;
  readonly idempotencyKey: string | null;
  readonly instrument: string;
  readonly side: 'buy' | 'sell';
  readonly status: StoredSignalStatus;
  /** Why a signal was rejected (by policy or by an operator), or a note from the approval. */
  readonly message: string | null;
  readonly body: string;
  readonly receivedAt: number;
  readonly decidedAt: number | null;
  readonly decidedBy: string | null;
}

/** The HTTP answer stored with an idempotency record and sent again on a repeat. */
export interface StoredResponse {
  readonly status: number;
  /** The exact response body text. */
  readonly body: string;
}

/** One accepted request, to be committed (signal + idempotency record + seen signature) atomically. */
export interface AcceptRequest {
  /** Its `idempotencyKey` is `null` when the request carried none (replay guard only). */
  readonly signal: SignalRecord;
  /** Hex SHA-256 of the body bytes: decides "same body" for a repeated key. */
  readonly requestHash: string;
  readonly idempotencyExpiresAt: number;
  /** The X-Signature value, remembered until `signatureExpiresAt` to refuse replays under a new key. */
  readonly signature: string;
  /**
   * The request's X-Timestamp in epoch ms (whole). The signature covers it, so a replay carries the
   * same value: the SQLite store files seen signatures under it, which keeps that index append-mostly.
   */
  readonly signedAt: number;
  readonly signatureExpiresAt: number;
  readonly response: StoredResponse;
}

export type AcceptResult =
  /** The signal and its records were committed. */
  | { readonly outcome: 'stored' }
  /** The (producer, key) pair already has a committed record; nothing was written. */
  | { readonly outcome: 'duplicate'; readonly requestHash: string; readonly response: StoredResponse }
  /** The signature was already accepted (under another key, or without one); nothing was written. */
  | { readonly outcome: 'replayed-signature' };

export interface SignalFilter {
  readonly status?: StoredSignalStatus;
  readonly producerId?: string;
  readonly instrument?: string;
  /** receivedAt >= from */
  readonly from?: number;
  /** receivedAt < to */
  readonly to?: number;
  /** 1–500, default 50 */
  readonly limit?: number;
  /** Opaque cursor from a previous page's `nextCursor`. */
  readonly cursor?: string;
}

export interface SignalPage {
  /** Newest first. */
  readonly items: readonly SignalRecord[];
  readonly nextCursor: string | null;
}

export type DecisionResult =
  | { readonly outcome: 'ok'; readonly signal: SignalRecord }
  | { readonly outcome: 'not-found' }
  | { readonly outcome: 'not-pending'; readonly signal: SignalRecord };

export interface OperatorToken {
  readonly id: string;
  readonly name: string;
  /** Hex SHA-256 of the token; the token itself is never stored. */
  readonly hash: string;
  readonly createdAt: number;
}

/** Where an operator decision was taken (recorded with its stream event). */
export type DecisionChannel = 'api' | 'cli' | 'console' | 'telegram';
export const DECISION_CHANNELS: readonly DecisionChannel[] = Object.freeze([
  'api',
  'cli',
  'console',
  'telegram',
]);

/**
 * One event of the live stream: a signal accepted, or a decision taken on it. Written in the same
 * transaction as the change it describes. `seq` is strictly increasing in commit order (also with
 * several servers on one PostgreSQL) and never reused.
 */
export interface StreamEvent {
  readonly seq: number;
  /** When the change happened (epoch ms): receivedAt for an accepted signal, decidedAt for a decision. */
  readonly at: number;
  /** The signal as of this event: `status`, `message`, `decidedAt`, `decidedBy` are those the event recorded. */
  readonly signal: SignalRecord;
  /** Where the decision was taken; null for an accepted signal. */
  readonly channel: DecisionChannel | null;
}

/** The stream's position in the store. */
export interface StreamPosition {
  /** Random id of this database's stream, created with it: a seq means nothing under another epoch. */
  readonly epoch: string;
  /** The highest committed seq (0 when no event was ever written). */
  readonly head: number;
  /** Every event with seq ≤ this was purged (retention): a resume point below it cannot be served. 0 when nothing was purged. */
  readonly purgedThrough: number;
}

/** A subscriber of the live stream: a hashed token with a scope. */
export interface Subscriber {
  readonly id: string;
  readonly name: string;
  /** Hex SHA-256 of the token; the token itself is never stored. */
  readonly hash: string;
  /** Producers whose signals it may see; null = all. */
  readonly producers: readonly string[] | null;
  /** Statuses it may see; null = all. */
  readonly statuses: readonly StoredSignalStatus[] | null;
  readonly createdAt: number;
  /** When it was revoked; null while active. */
  readonly revokedAt: number | null;
}

/** Options of `Store.migrate`. */
export interface MigrateOptions {
  /**
   * Called before migrations are applied to a database that already has a schema (`from` ≥ 1), so
   * that a long upgrade (SQLite schema 2 copies the signals table) can be announced. Not called for
   * a new database or one already up to date.
   */
  readonly onUpgrade?: (from: number, to: number) => void;
}

export interface Store {
  readonly kind: 'sqlite' | 'postgres';
  /**
   * How many `acceptBatch` calls are worth having in flight at once (the group commit's `Batcher`
   * sends no more): more only help a store that commits queued batches together. @default 1
   */
  readonly acceptBatchesInFlight?: number;
  /** Applies pending versioned migrations. Idempotent; safe to run from several processes at once. */
  migrate(options?: MigrateOptions): Promise<void>;
  /** Resolves when the database answers. */
  ping(): Promise<void>;
  close(): Promise<void>;

  // Producers and secrets
  /** Throws StoreConflictError when the id exists. */
  createProducer(producer: NewProducer): Promise<void>;
  getProducer(id: string): Promise<Producer | undefined>;
  listProducers(): Promise<Producer[]>;
  /** Adds an active secret. Throws StoreNotFoundError for an unknown producer. */
  addSecret(producerId: string, secret: ProducerSecret): Promise<void>;
  /** Retires a secret. Returns false when no such active secret exists. Refuses (StoreConflictError) to retire the last one. */
  retireSecret(producerId: string, secretId: string, at: number): Promise<boolean>;
  /**
   * Replaces the sealed form of one active secret (moving it to another key-encryption key) if it is
   * still `expected`; answers whether it was replaced (false once retired or removed). Throws TypeError unless `next` is SecretBox output.
   */
  replaceSecretCiphertext(
    producerId: string,
    secretId: string,
    expected: string,
    next: string,
  ): Promise<boolean>;
  /** Returns false when the producer does not exist. Its stored signals are kept. */
  removeProducer(id: string): Promise<boolean>;

  // Ingest
  /**
   * Commits a batch in ONE transaction (group commit), in order. Each item is decided against the
   * database state including earlier items of the same batch. Durable (fsync'd per the store's
   * settings) when the promise resolves.
   *
   * An item's idempotency record and seen signature count as expired when their `expiresAt` is at or
   * before the item's `signal.receivedAt`; expired ones are treated as absent and overwritten. Throws
   * StoreConflictError (and commits nothing of the batch) when a signal id already exists.
   */
  acceptBatch(batch: readonly AcceptRequest[]): Promise<AcceptResult[]>;
  /** Deletes idempotency records and seen signatures that expired before `now`. Returns rows deleted. */
  purgeExpired(now: number): Promise<number>;

  // Operator
  getSignal(id: string): Promise<SignalRecord | undefined>;
  /**
   * The answer the request that stored a keyed signal was given (its `201`, sent again to a repeat of
   * the key), while the store keeps it: SQLite keeps it with the signal, PostgreSQL with the key's
   * idempotency record, until `purgeExpired` deletes that. Undefined for a signal stored without an
   * idempotency key, and for an unknown id.
   */
  getSignalResponse(id: string): Promise<StoredResponse | undefined>;
  /**
   * One page of signals, newest first by (receivedAt, id). Throws RangeError for a `limit` outside
   * 1–500 and StoreInvalidCursorError for a cursor this store did not issue.
   */
  listSignals(filter: SignalFilter): Promise<SignalPage>;
  /** Moves a pending_approval signal to approved/rejected. */
  decideSignal(
    id: string,
    decision: 'approved' | 'rejected',
    by: string,
    message: string | null,
    at: number,
    channel: DecisionChannel,
  ): Promise<DecisionResult>;
  countSignalsByStatus(): Promise<Record<StoredSignalStatus, number>>;

  createToken(token: OperatorToken): Promise<void>;
  findTokenByHash(hash: string): Promise<OperatorToken | undefined>;
  listTokens(): Promise<OperatorToken[]>;
  revokeToken(id: string): Promise<boolean>;

  // Live stream
  /** The stream's epoch, head and purge point. */
  streamPosition(): Promise<StreamPosition>;
  /** Up to `limit` (1–1000) events with seq > `after`, oldest first. */
  readEvents(after: number, limit: number): Promise<StreamEvent[]>;
  /** The events of one signal still held, oldest first (its history: accepted, then decided); [] when none. */
  readSignalEvents(signalId: string): Promise<StreamEvent[]>;
  /**
   * Calls `listener` whenever events may have been committed: by this store at once, by another
   * process or server within a short poll (SQLite, ~150 ms) or notification (PostgreSQL
   * LISTEN/NOTIFY; also after a reconnect of the listening connection, which may have missed
   * some). The listener reads with `readEvents`; it is never given events, at most the head seq
   * the commit reached when known (a NOTIFY payload), so that it can skip a read it has already
   * made. Returns a function that stops watching.
   */
  watchEvents(listener: (head?: number) => void): () => void;
  /**
   * Deletes signals received before `before`, with their events, at most `chunk` signals per
   * transaction; returns the number of signals deleted. Raises `purgedThrough` to the highest seq deleted.
   */
  purgeSignals(before: number, chunk?: number): Promise<number>;

  // Subscribers
  /** Throws StoreConflictError when the id or hash exists. */
  createSubscriber(subscriber: Subscriber): Promise<void>;
  /** An active (not revoked) subscriber by token hash. */
  findSubscriberByHash(hash: string): Promise<Subscriber | undefined>;
  /** Every subscriber, revoked ones included, oldest first. */
  listSubscribers(): Promise<Subscriber[]>;
  /** Marks a subscriber revoked; false when no active subscriber has this id. */
  revokeSubscriber(id: string, at: number): Promise<boolean>;

  /** The Telegram approval bot's lease, cursors and sent messages (src/telegram/). */
  readonly telegram: TelegramStore;
}

// The store's errors are in ./errors.ts; re-exported here, where stores and callers import them from.
export type { StoreErrorCode } from './errors.js';
export {
  isStoreError,
  StoreConflictError,
  StoreError,
  StoreInvalidCursorError,
  StoreNotFoundError,
  StoreSchemaTooNewError,
  StoreUnavailableError,
} from './errors.js';
