// The durable outbox: a SQLite file that holds every signal from the moment `enqueue` returns until
// the server has accepted it (or it is given up on), so a crash of the producer loses nothing.
import { randomUUID } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { isValidIdempotencyKey, type SignalCandidate, type SignalIngestResponse } from '@sigpost/protocol';
import type BetterSqlite3 from 'better-sqlite3';
import type { DeliveryAlerts } from '../alerts/delivery-alerts.js';
import { SignalValidationError } from '../errors.js';
import { assertLogger, type OutboundLogger } from '../logger.js';
import type { OutboundMetrics, OutboxDepth } from '../metrics.js';
import { type RetryOptions, resolveRetryOptions } from '../retry.js';
import { type SignalInput, toWireSignal } from '../wire-signal.js';
import { isOutboxError, OutboxError, OutboxKeyConflictError } from './errors.js';
import {
  configureConnection,
  type EntryRow,
  inspectFile,
  type OutboxState,
  OutboxStore,
  readSchemaVersion,
  SCHEMA_VERSION,
  writeSchemaVersion,
} from './store.js';
import {
  type DeliveryClient,
  type DeliveryStateChange,
  DeliveryWorker,
  type DrainProgress,
  type DrainSummary,
} from './worker.js';

/**
 * The retry policy of the outbox, more patient than `postSignal`'s: the outbox exists to ride out an
 * outage. It still gives up after an hour, because a trading signal goes stale, and the server keeps
 * idempotency keys for 24 h, past which a re-delivery would no longer be deduplicated.
 */
export const OUTBOX_DEFAULT_RETRY: Readonly<RetryOptions> = Object.freeze({
  limit: 15, // attempts, the first included
  baseDelayMs: 500, // ms
  maxDelayMs: 60_000, // ms, cap per wait
  maxRetryAfterMs: 300_000, // ms, cap on Retry-After
  deadlineMs: 3_600_000, // ms, counted from the first attempt
});

const DRAIN_DEFAULTS = Object.freeze({
  concurrency: 8, // requests in flight
  pollIntervalMs: 1000, // ms, until: 'stopped' only
  lockTtlMs: 30_000, // ms, lease of the drain lock
});

/** Options of {@link Outbox.open}. */
export interface OutboxOptions {
  /** Where the outbox and its drains write (pino-compatible). */
  readonly logger: OutboundLogger;
  /** Metrics to keep (the outbox's depth gauges read from this outbox at scrape time). */
  readonly metrics?: OutboundMetrics;
  /** Epoch ms now, for `created_at` and scheduling. @default Date.now */
  readonly clock?: () => number;
  /**
   * `false`: a file that does not exist is refused (`OUTBOX_NOT_FOUND`) instead of created empty, so a
   * mistyped path is noticed by code that only reads.
   * @default true
   */
  readonly create?: boolean;
}

/** Options of {@link Outbox.enqueue}. */
export interface EnqueueOptions {
  /**
   * The `X-Idempotency-Key` to deliver with; a fresh UUID when omitted. Enqueueing the same key and
   * signal again returns the existing entry (`duplicate: true`); the same key with another signal throws.
   */
  readonly idempotencyKey?: string;
}

/** One item of {@link Outbox.enqueueMany}: a signal, optionally with its idempotency key. */
export interface EnqueueItem extends EnqueueOptions {
  readonly signal: SignalInput;
}

/** Where an enqueued signal went. */
export interface EnqueueResult {
  /** The entry's id: enqueue order. */
  readonly id: number;
  readonly idempotencyKey: string;
  /** True when this key and signal were already in the outbox (nothing new was written). */
  readonly duplicate: boolean;
}

/** Entry counts per state, and the age of the oldest entry not yet delivered. */
export interface OutboxStatus {
  readonly pending: number;
  readonly inFlight: number;
  readonly delivered: number;
  readonly dead: number;
  /** Age in ms of the oldest pending or in-flight entry; `null` when there is none. */
  readonly oldestPendingAgeMs: number | null;
  /**
   * The soonest next attempt of a pending entry, epoch ms (at or before now: due at once); `null`
   * when nothing is pending.
   */
  readonly nextAttemptAt: number | null;
  /** Pending entries whose next attempt is later than now: waiting for a retry's backoff. */
  readonly waiting: number;
}

/** One entry as stored. Times are epoch ms. */
export interface OutboxEntry {
  readonly id: number;
  readonly idempotencyKey: string;
  readonly instrument: string;
  readonly state: OutboxState;
  /** Attempts whose outcome was recorded. */
  readonly attempts: number;
  readonly nextAttemptAt: number;
  /** The last failure: the error's message, then the server's problem detail and field errors. */
  readonly lastError: string | null;
  /** The `OutboundError` code of the last failure. */
  readonly lastErrorCode: string | null;
  /** The HTTP status of the last answer (201 once delivered). */
  readonly lastHttpCode: number | null;
  /** The server's answer, once delivered. */
  readonly response: SignalIngestResponse | null;
  readonly signal: SignalCandidate;
  readonly createdAt: number;
  readonly updatedAt: number;
  /** When it was delivered or moved to dead-letter. */
  readonly finishedAt: number | null;
}

/** Options of {@link Outbox.drain}. */
export interface DrainOptions {
  /** Sends the signals: an `HmacClient` (one attempt per call; the outbox schedules retries). */
  readonly client: DeliveryClient;
  /**
   * Requests in flight at most.
   * @default 8
   */
  readonly concurrency?: number;
  /**
   * `'instrument'`: never two entries of one instrument in flight, and each instrument's entries
   * delivered in enqueue order (a later one waits while an earlier one is retried; a dead one no longer blocks).
   * @default false
   */
  readonly preserveOrder?: 'instrument' | false;
  /**
   * The retry policy, over {@link OUTBOX_DEFAULT_RETRY}. `limit` counts attempts per entry;
   * `deadlineMs` counts from the entry's first attempt.
   */
  readonly retry?: Partial<RetryOptions>;
  /**
   * `'idle'`: resolve once nothing is pending or in flight (waiting out scheduled retries).
   * `'stopped'`: keep running, picking up new entries, until `signal` aborts.
   * @default 'idle'
   */
  readonly until?: 'idle' | 'stopped';
  /**
   * With `until: 'stopped'`, how often to look for entries enqueued by other processes, in ms
   * (entries enqueued through this `Outbox` wake the drain at once).
   * @default 1000
   */
  readonly pollIntervalMs?: number;
  /** Stops the drain: requests in flight are aborted and their entries stay pending. */
  readonly signal?: AbortSignal;
  /** Called after each batch of outcomes is written, and once at the start and at the end. */
  readonly onProgress?: (progress: DrainProgress) => void;
  /**
   * Called when delivery starts failing (a failed attempt scheduled for retry while the last ones
   * went through, or a different kind of failure than the last one) and when it works again: once
   * per change of state, never per attempt.
   */
  readonly onDeliveryState?: (change: DeliveryStateChange) => void;
  /** Alerts on dead-letters and on persistent failures. */
  readonly alerts?: DeliveryAlerts;
  /**
   * Lease of the drain lock in ms, renewed every third of it. A drain whose process died is taken
   * over at once on the same host; elsewhere, after the lease.
   * @default 30_000
   */
  readonly lockTtlMs?: number;
  /** Epoch ms now. @default the outbox's clock */
  readonly clock?: () => number;
  /** Waits `ms` (backoff, polling). @default real timers */
  readonly sleep?: (ms: number) => Promise<void>;
  /** Numbers in [0, 1) for the backoff jitter. @default Math.random */
  readonly random?: () => number;
}

type SqliteConstructor = typeof BetterSqlite3;

function loadSqlite(): SqliteConstructor {
  const require = createRequire(import.meta.url);
  try {
    return require('better-sqlite3') as SqliteConstructor;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND') {
      throw new Error(
        '@sigpost/outbound/outbox needs the optional peer dependency better-sqlite3: run `npm install better-sqlite3@12`',
        { cause: error },
      );
    }
    throw error;
  }
}

/**
 * A durable outbox on a SQLite file. `enqueue` returns once the signal is on disk; `drain` delivers
 * everything pending through an `HmacClient`, retrying with backoff, and keeps each entry's outcome.
 * Delivery is at least once; the idempotency key fixed at enqueue makes it exactly once as the
 * server sees it.
 *
 * @example
 * const outbox = Outbox.open('./data/outbox.db', { logger });
 * outbox.enqueue(signal);                       // durable when it returns
 * const summary = await outbox.drain({ client, concurrency: 8 });
 * await outbox.close();
 * @see docs/outbox.md
 */
export class Outbox {
  /** The outbox file, as an absolute path. */
  readonly path: string;
  readonly #store: OutboxStore;
  readonly #logger: OutboundLogger;
  readonly #metrics: OutboundMetrics | undefined;
  readonly #clock: () => number;
  readonly #untrack: (() => void) | undefined;
  readonly #drains = new Set<{ worker: DeliveryWorker; done: Promise<unknown> }>();
  #closed = false;

  private constructor(path: string, db: BetterSqlite3.Database, options: OutboxOptions) {
    this.path = path;
    this.#store = new OutboxStore(db);
    this.#logger = options.logger;
    this.#metrics = options.metrics;
    this.#clock = options.clock ?? Date.now;
    this.#untrack = options.metrics?.trackOutbox(() => this.#depth());
  }

  /**
   * Opens (or creates, with its directory) the outbox at `path`. A file it creates is readable by
   * its owner only (0600, and so are SQLite's `-wal` and `-shm` beside it); a directory, 0700.
   *
   * @throws {OutboxError} `OUTBOX_NOT_FOUND` when the file does not exist and `create` is false,
   *   `OUTBOX_NOT_AN_OUTBOX` when an existing file is another database (or, with `create: false`, empty),
   *   `OUTBOX_OPEN_FAILED` when the file cannot be opened as an outbox,
   *   `OUTBOX_SCHEMA_UNSUPPORTED` when it was written by a newer version
   * @example
   * const outbox = Outbox.open('./data/outbox.db', { logger, metrics: createOutboundMetrics(registry) });
   */
  static open(path: string, options: OutboxOptions): Outbox {
    if (typeof path !== 'string' || path.trim() === '') {
      throw new TypeError('Expected `path` to be a file path, received an empty string');
    }
    assertLogger(options?.logger);
    const absolute = resolve(path);
    const Sqlite = loadSqlite();
    const create = options.create ?? true;
    if (!create && !existsSync(absolute)) {
      throw new OutboxError(`No outbox at ${absolute}: the file does not exist`, {
        code: 'OUTBOX_NOT_FOUND',
        path: absolute,
      });
    }
    let db: BetterSqlite3.Database | undefined;
    try {
      // Checked read-only before anything writes (a pragma, the schema), so a --db naming another
      // program's database is refused untouched. Only an empty file may become a new outbox, and only
      // with `create`.
      const empty = !existsSync(absolute) || statSync(absolute).size === 0;
      if (empty && !create) throw notAnOutbox(absolute, 'the file is empty');
      if (!empty) {
        const found = inspectFile(Sqlite, absolute);
        if (found.version > SCHEMA_VERSION) throw newerSchema(absolute, found.version);
        if (!found.hasOutbox) throw notAnOutbox(absolute, 'the database has no outbox tables');
      }
      if (create) createPrivateFile(absolute);
      db = new Sqlite(absolute, { fileMustExist: true });
      configureConnection(db);
      const version = readSchemaVersion(db);
      if (version > SCHEMA_VERSION) throw newerSchema(absolute, version);
      const outbox = new Outbox(absolute, db, options);
      if (version < SCHEMA_VERSION) writeSchemaVersion(db);
      return outbox;
    } catch (error) {
      db?.close();
      if (isOutboxError(error)) throw error;
      throw new OutboxError(`Cannot open outbox ${absolute}: ${(error as Error).message}`, {
        code: 'OUTBOX_OPEN_FAILED',
        path: absolute,
        cause: error,
      });
    }
  }

  /**
   * Validates `signal` and stores it; returns once it is durably on disk (WAL, synchronous=FULL).
   *
   * @throws {SignalValidationError} the signal fails the protocol's validation (nothing is stored)
   * @throws {OutboxKeyConflictError} `idempotencyKey` is already used by another signal
   * @example
   * const { id, idempotencyKey } = outbox.enqueue(signal, { idempotencyKey: 'sig-20251025-001' });
   */
  enqueue(signal: SignalInput, options: EnqueueOptions = {}): EnqueueResult {
    this.#assertOpen();
    const prepared = prepare(signal, options.idempotencyKey, undefined);
    // One statement commits on its own: no BEGIN/COMMIT round trip on the path every signal takes.
    const result = this.#insert(prepared, this.#clock());
    if (!result.duplicate) this.#wakeDrains();
    return result;
  }

  /**
   * Validates and stores several signals in one transaction: all or none. Each item is a signal, or
   * `{ signal, idempotencyKey }`.
   *
   * @throws {SignalValidationError} any signal fails validation; every problem is listed, prefixed with its index (`[3] stop_loss: …`)
   * @example
   * outbox.enqueueMany([signalA, { signal: signalB, idempotencyKey: 'b-1' }]);
   */
  enqueueMany(items: readonly (SignalInput | EnqueueItem)[]): EnqueueResult[] {
    this.#assertOpen();
    if (!Array.isArray(items)) throw new TypeError('Expected `items` to be an array of signals');
    const prepared: Prepared[] = [];
    const problems: string[] = [];
    items.forEach((item, index) => {
      const isItem = typeof item === 'object' && item !== null && 'signal' in item;
      const signal = isItem ? (item as EnqueueItem).signal : item;
      const key = isItem ? (item as EnqueueItem).idempotencyKey : undefined;
      try {
        prepared.push(prepare(signal, key, index));
      } catch (error) {
        if (!(error instanceof SignalValidationError)) throw error;
        problems.push(...error.errors);
      }
    });
    if (problems.length > 0) throw new SignalValidationError(problems);
    const now = this.#clock();
    const results = this.#store.transaction(() => prepared.map((p) => this.#insert(p, now)));
    this.#wakeDrains();
    return results;
  }

  /** Entry counts per state, and the oldest pending entry's age. */
  status(): OutboxStatus {
    this.#assertOpen();
    const { counts, oldestPendingAgeMs } = this.#depth();
    const next = this.#store.nextAttempt(this.#clock());
    return {
      pending: counts.pending,
      inFlight: counts.in_flight,
      delivered: counts.delivered,
      dead: counts.dead,
      oldestPendingAgeMs,
      nextAttemptAt: next.at ?? null,
      waiting: next.waiting,
    };
  }

  /**
   * Makes every pending entry that waits for a retry's backoff due at once (after an outage, say),
   * keeping its attempts and deadline. A drain of this `Outbox` picks them up at once; a drain in
   * another process, when its current wait ends. Returns how many entries were made due.
   *
   * @example
   * outbox.retryWaitingNow(); // the server is back: do not wait out the backoff
   */
  retryWaitingNow(): number {
    this.#assertOpen();
    const moved = this.#store.makeDue(this.#clock());
    if (moved > 0) this.#wakeDrains();
    return moved;
  }

  /** One entry by id, or `undefined`. */
  get(id: number): OutboxEntry | undefined {
    this.#assertOpen();
    const row = this.#store.byId(id);
    return row === undefined ? undefined : toEntry(row);
  }

  /**
   * Dead-letter entries, oldest first, with their last error.
   *
   * @param options.limit at most this many @default 1000
   * @param options.afterId only entries with a larger id (to page through)
   */
  dead(options: { limit?: number; afterId?: number } = {}): OutboxEntry[] {
    this.#assertOpen();
    const limit = options.limit ?? 1000;
    if (!Number.isInteger(limit) || limit < 1) {
      throw new RangeError(`Expected \`limit\` to be an integer ≥ 1, received ${limit}`);
    }
    return this.#store.dead(options.afterId ?? 0, limit).map(toEntry);
  }

  /**
   * Moves dead-letter entries back to pending with their attempts reset (all of them, or those in
   * `ids`), due at once. Returns how many were moved. Their last error is kept until the next attempt.
   *
   * @example
   * outbox.retryDead();         // every dead entry
   * outbox.retryDead([12, 13]); // just these
   */
  retryDead(ids?: readonly number[]): number {
    this.#assertOpen();
    if (
      ids !== undefined &&
      (!Array.isArray(ids) || !ids.every((id) => Number.isSafeInteger(id) && id > 0))
    ) {
      throw new TypeError('Expected `ids` to be an array of entry ids (positive integers)');
    }
    const moved = this.#store.retryDead(ids, this.#clock());
    if (moved > 0) this.#wakeDrains();
    return moved;
  }

  /**
   * Deletes delivered entries finished before `deliveredBefore` (epoch ms), so the file stays small.
   * Pending and dead entries are never pruned. Returns how many were deleted.
   */
  prune(options: { deliveredBefore: number }): number {
    this.#assertOpen();
    if (!Number.isFinite(options?.deliveredBefore)) {
      throw new TypeError('Expected `deliveredBefore` to be a time in epoch ms');
    }
    return this.#store.pruneDelivered(options.deliveredBefore);
  }

  /**
   * Delivers pending entries until none is left (or until `signal` aborts with `until: 'stopped'`).
   * Only one drain runs on an outbox file at a time, across processes; a crashed drain's claims are
   * taken back when the next one starts.
   *
   * @throws {OutboxLockedError} another live drain holds the outbox
   * @throws the client's `OutboundDisabledError`, or an unexpected error (entries stay pending)
   * @example
   * const { delivered, dead, remaining } = await outbox.drain({ client, concurrency: 8, preserveOrder: 'instrument' });
   */
  async drain(options: DrainOptions): Promise<DrainSummary> {
    this.#assertOpen();
    const concurrency = options.concurrency ?? DRAIN_DEFAULTS.concurrency;
    if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 1024) {
      throw new RangeError(
        `Expected \`concurrency\` to be an integer from 1 to 1024, received ${concurrency}`,
      );
    }
    if (typeof options.client?.postSignal !== 'function') {
      throw new TypeError('Expected `client` to have a postSignal() method (an HmacClient)');
    }
    const preserve = options.preserveOrder ?? false;
    if (preserve !== false && preserve !== 'instrument') {
      throw new TypeError(
        `Expected \`preserveOrder\` to be 'instrument' or false, received ${String(preserve)}`,
      );
    }
    const until = options.until ?? 'idle';
    if (until !== 'idle' && until !== 'stopped') {
      throw new TypeError(`Expected \`until\` to be 'idle' or 'stopped', received ${String(until)}`);
    }
    const pollIntervalMs = positive(
      'pollIntervalMs',
      options.pollIntervalMs ?? DRAIN_DEFAULTS.pollIntervalMs,
    );
    const lockTtlMs = positive('lockTtlMs', options.lockTtlMs ?? DRAIN_DEFAULTS.lockTtlMs);
    const retry = resolveRetryOptions(options.retry ?? {}, OUTBOX_DEFAULT_RETRY);
    const worker = new DeliveryWorker({
      path: this.path,
      store: this.#store,
      client: options.client,
      logger: this.#logger,
      metrics: this.#metrics,
      alerts: options.alerts,
      concurrency,
      preserveOrder: preserve === 'instrument',
      retry,
      until,
      pollIntervalMs,
      lockTtlMs,
      clock: options.clock ?? this.#clock,
      sleep: options.sleep,
      random: options.random ?? Math.random,
      signal: options.signal,
      onProgress: options.onProgress,
      onDeliveryState: options.onDeliveryState,
    });
    const done = worker.run();
    const handle = { worker, done: done.catch(() => {}) };
    this.#drains.add(handle);
    try {
      return await done;
    } finally {
      this.#drains.delete(handle);
    }
  }

  /** Stops running drains (their requests in flight go back to pending), then closes the file. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const { worker } of this.#drains) worker.stop();
    await Promise.all([...this.#drains].map((d) => d.done));
    this.#untrack?.();
    this.#store.db.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #insert(prepared: Prepared, now: number): EnqueueResult {
    const { key, instrument, json } = prepared;
    const id = this.#store.insert(key, instrument, json, now);
    if (id !== undefined) {
      return { id, idempotencyKey: key, duplicate: false };
    }
    const existing = this.#store.byKey(key);
    if (existing === undefined || existing.signal !== json) {
      throw new OutboxKeyConflictError(this.path, key, existing?.id ?? 0);
    }
    return { id: existing.id, idempotencyKey: key, duplicate: true };
  }

  #depth(): OutboxDepth {
    const counts = this.#store.counts();
    const oldest = this.#store.oldestOpenCreatedAt();
    return { counts, oldestPendingAgeMs: oldest === undefined ? null : Math.max(0, this.#clock() - oldest) };
  }

  #wakeDrains(): void {
    for (const { worker } of this.#drains) worker.wake();
  }

  #assertOpen(): void {
    if (this.#closed) {
      throw new OutboxError(`Outbox ${this.path} is closed`, { code: 'OUTBOX_CLOSED', path: this.path });
    }
  }
}

interface Prepared {
  readonly key: string;
  readonly instrument: string;
  /** The validated signal's JSON: stored as is, and sent as these exact bytes on every attempt. */
  readonly json: string;
}

function prepare(signal: unknown, key: unknown, index: number | undefined): Prepared {
  if (key !== undefined && !isValidIdempotencyKey(key)) {
    const name = index === undefined ? 'idempotencyKey' : `items[${index}].idempotencyKey`;
    const received = typeof key === 'string' ? `${key.length} characters` : typeof key;
    throw new TypeError(`Expected \`${name}\` to be 1–255 visible ASCII characters, received ${received}`);
  }
  // The client's serialiser: a Date timestamp is written as postSignal writes it (UTC, microseconds).
  const wire = toWireSignal(signal);
  if (!wire.ok) {
    const prefix = index === undefined ? '' : `[${index}] `;
    throw new SignalValidationError(
      wire.errors.map((e) => `${prefix}${e}`),
      { cause: wire.cause },
    );
  }
  return {
    key: typeof key === 'string' ? key : randomUUID(),
    instrument: wire.value.instrument,
    json: wire.json,
  };
}

function toEntry(row: EntryRow): OutboxEntry {
  return {
    id: row.id,
    idempotencyKey: row.idempotency_key,
    instrument: row.instrument,
    state: row.state,
    attempts: row.attempts,
    nextAttemptAt: row.next_attempt_at,
    lastError: row.last_error,
    lastErrorCode: row.last_error_code,
    lastHttpCode: row.last_http_code,
    response: row.response === null ? null : (JSON.parse(row.response) as SignalIngestResponse),
    signal: JSON.parse(row.signal) as SignalCandidate,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    finishedAt: row.finished_at,
  };
}

/**
 * Creates an empty file (SQLite takes a 0-byte file as an empty database) readable by its owner only,
 * and its directory (0700) when missing. SQLite gives the `-wal` and `-shm` files the database's mode.
 */
function newerSchema(path: string, version: number): OutboxError {
  return new OutboxError(
    `Outbox ${path} has schema version ${version}; this version of @sigpost/outbound reads up to ${SCHEMA_VERSION}`,
    { code: 'OUTBOX_SCHEMA_UNSUPPORTED', path: path },
  );
}

function notAnOutbox(path: string, why: string): OutboxError {
  return new OutboxError(`${path} is not a Sigpost outbox: ${why}; nothing was written to it`, {
    code: 'OUTBOX_NOT_AN_OUTBOX',
    path: path,
  });
}

function createPrivateFile(path: string): void {
  if (existsSync(path)) return;
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  try {
    closeSync(openSync(path, 'wx', 0o600));
  } catch (error) {
    // Created meanwhile by another process: open that one.
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
}

function positive(name: string, value: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new RangeError(`Expected \`${name}\` to be a finite number > 0, received ${String(value)}`);
  }
  return value;
}
