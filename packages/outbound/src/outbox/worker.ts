// The delivery loop behind `Outbox.drain`. One async loop owns the database; each claimed entry is one
// attempt (`postSignal` with `retry: false`) run through retry.ts's runner, and the outbox schedules
// the next attempt itself by writing `next_attempt_at`, so a retry survives a crash. Outcomes that
// arrive together are written in one transaction together with the next claim (a group commit).
import { randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { STATUS_CODES } from 'node:http';
import { setTimeout as sleepFor } from 'node:timers/promises';
import type { SignalCandidate, SignalIngestResponse } from '@sigpost/protocol';
import type { DeliveryAlerts } from '../alerts/delivery-alerts.js';
import { isOutboundError } from '../errors.js';
import type { OutboundLogger } from '../logger.js';
import { type AttemptOutcome, attemptStatusLabel, type OutboundMetrics } from '../metrics.js';
import { isPermanent, isRetryable, type RetryFailure, type RetryOptions, runRetry } from '../retry.js';
import { OutboxError, OutboxLockedError } from './errors.js';
import type { Completion, EntryRow, OutboxStore } from './store.js';

/** What the worker needs of a client: one attempt per call. `HmacClient` fits. */
export interface DeliveryClient {
  postSignal(
    signal: SignalCandidate,
    options: { idempotencyKey: string; retry: false; abortSignal?: AbortSignal },
  ): Promise<SignalIngestResponse>;
}

/** Counts reported while a drain runs. */
export interface DrainProgress {
  /** Entries delivered by this drain so far. */
  readonly delivered: number;
  /** Entries this drain moved to dead-letter so far. */
  readonly dead: number;
  /** Failed attempts this drain scheduled again. */
  readonly retried: number;
  /** Requests in flight now. */
  readonly inFlight: number;
  /** Entries not yet delivered nor dead (pending or in flight): recounted from the file about once a second. */
  readonly remaining: number;
}

/**
 * A change in how delivery goes, reported once per change (never per attempt).
 * - `failing`: an attempt failed and was scheduled again, while the attempts before it went through
 *   (or failed another way: the server became unreachable, or answered with another status).
 *   `reachable` is false when no answer came (connection refused, reset, timeout).
 * - `resumed`: a signal was delivered after a `failing`.
 */
export type DeliveryStateChange =
  | {
      readonly state: 'failing';
      /** The URL the attempt went to, when the error names one. */
      readonly url: string | undefined;
      /** False when the server could not be reached at all; true when it answered (5xx, 429, 409). */
      readonly reachable: boolean;
      /** What went wrong, short: `connect ECONNREFUSED 127.0.0.1:8080`, `503 Service Unavailable`. */
      readonly reason: string;
      /** The `OutboundError` code of the failure. */
      readonly errorCode: string | undefined;
      /** The HTTP status of the answer, when there was one. */
      readonly httpCode: number | undefined;
      /** When the failure was recorded, epoch ms. */
      readonly at: number;
      /** When the failed entry is tried again, epoch ms. */
      readonly nextAttemptAt: number;
    }
  | {
      readonly state: 'resumed';
      readonly url: string | undefined;
      /** When the delivery that ended the failures was recorded, epoch ms. */
      readonly at: number;
      /** When the failures started (the `failing` change's `at`), epoch ms. */
      readonly failingSince: number;
      /** Failed attempts scheduled again in between. */
      readonly retried: number;
    };

/** What a finished drain did. */
export interface DrainSummary {
  readonly delivered: number;
  readonly dead: number;
  readonly retried: number;
  /** Entries left pending (only when the drain was stopped before the outbox was empty). */
  readonly remaining: number;
  /** True when the drain ended because its `signal` was aborted. */
  readonly aborted: boolean;
}

export interface WorkerSettings {
  readonly path: string;
  readonly store: OutboxStore;
  readonly client: DeliveryClient;
  readonly logger: OutboundLogger;
  readonly metrics: OutboundMetrics | undefined;
  readonly alerts: DeliveryAlerts | undefined;
  readonly concurrency: number;
  readonly preserveOrder: boolean;
  readonly retry: RetryOptions;
  readonly until: 'idle' | 'stopped';
  readonly pollIntervalMs: number;
  readonly lockTtlMs: number;
  readonly clock: () => number;
  /** The injected sleep, or `undefined` for real (cancellable) timers. */
  readonly sleep: ((ms: number) => Promise<void>) | undefined;
  readonly random: () => number;
  readonly signal: AbortSignal | undefined;
  readonly onProgress: ((progress: DrainProgress) => void) | undefined;
  readonly onDeliveryState: ((change: DeliveryStateChange) => void) | undefined;
}

/** Effects to run once the outcome that causes them is committed. */
type Effect = () => void;

const MAX_ERROR_TEXT = 2000;
/** How often `remaining` is recounted from the file (between counts it is kept up to date locally). */
const RECOUNT_EVERY_MS = 1000;

export class DeliveryWorker {
  readonly #s: WorkerSettings;
  readonly #owner = randomUUID();
  /** Aborts requests in flight: on the caller's abort, on close, and on a fatal error. */
  readonly #stop = new AbortController();
  readonly #inFlight = new Set<number>();
  #completions: Completion[] = [];
  #effects: Effect[] = [];
  #woken = false;
  #waiter: (() => void) | undefined;
  #fatal: unknown;
  #delivered = 0;
  #dead = 0;
  #retried = 0;
  #lastCountAt = Number.NEGATIVE_INFINITY;
  #remaining = 0;
  /** Set while delivery fails: what kind of failure, since when, and retries since. */
  #failing: { kind: string; url: string | undefined; since: number; retried: number } | undefined;

  constructor(settings: WorkerSettings) {
    this.#s = settings;
    // Each request in flight listens on the stop signal.
    setMaxListeners(settings.concurrency + 10, this.#stop.signal);
  }

  /** Wakes the loop: an outcome arrived, something was enqueued, or it should stop. */
  wake(): void {
    this.#woken = true;
    this.#waiter?.();
  }

  /** Stops claiming, aborts requests in flight (they go back to pending) and lets `run` finish. */
  stop(): void {
    this.#stop.abort();
    this.wake();
  }

  async run(): Promise<DrainSummary> {
    const { store, path, signal } = this.#s;
    const holder = store.acquireLock(this.#owner, this.#s.lockTtlMs, Date.now());
    if (holder !== undefined) throw new OutboxLockedError(path, holder);
    const heartbeat = setInterval(() => this.#renewLock(), Math.max(1, Math.floor(this.#s.lockTtlMs / 3)));
    heartbeat.unref();
    const onAbort = () => this.stop();
    signal?.addEventListener('abort', onAbort, { once: true });
    if (signal?.aborted) this.stop();
    try {
      await this.#loop();
    } catch (error) {
      this.#fail(error);
    } finally {
      signal?.removeEventListener('abort', onAbort);
      clearInterval(heartbeat);
      await this.#settle();
      store.releaseLock(this.#owner);
    }
    if (this.#fatal !== undefined) throw this.#fatal;
    const summary: DrainSummary = {
      delivered: this.#delivered,
      dead: this.#dead,
      retried: this.#retried,
      remaining: this.#remaining,
      aborted: signal?.aborted === true,
    };
    this.#s.logger.info(
      {},
      `outbox drain finished: ${summary.delivered} delivered, ${summary.dead} dead, ${summary.remaining} remaining`,
    );
    return summary;
  }

  async #loop(): Promise<void> {
    const { store, concurrency, preserveOrder, clock, until } = this.#s;
    this.#progress(true);
    for (;;) {
      // Lets outcomes that arrive in the same turn of the event loop share one commit.
      await new Promise<void>((resolve) => setImmediate(resolve));
      this.#woken = false;
      const stopping = this.#stop.signal.aborted;
      const free = stopping ? 0 : concurrency - this.#inFlight.size;
      const claimed = this.#commit(free);
      for (const row of claimed) this.#start(row);
      if (stopping) {
        if (this.#inFlight.size === 0 && this.#completions.length === 0) return;
        await this.#wait(undefined);
        continue;
      }
      if (claimed.length > 0) continue;
      const freeNow = concurrency - this.#inFlight.size;
      const nextDue = freeNow > 0 ? store.nextDueAt(preserveOrder) : undefined;
      if (nextDue === undefined && this.#inFlight.size === 0 && this.#completions.length === 0) {
        if (until === 'idle') return;
        await this.#wait(this.#s.pollIntervalMs);
        continue;
      }
      await this.#wait(nextDue === undefined ? undefined : Math.max(0, nextDue - clock()));
    }
  }

  /** Writes the outcomes gathered so far, claims up to `limit` entries, then runs the outcomes' effects. */
  #commit(limit: number): EntryRow[] {
    const completions = this.#completions;
    const effects = this.#effects;
    this.#completions = [];
    this.#effects = [];
    const claimed = this.#s.store.completeAndClaim(
      completions,
      this.#s.clock(),
      limit,
      this.#s.preserveOrder,
    );
    for (const effect of effects) effect();
    if (completions.length > 0) this.#progress(false);
    return claimed;
  }

  #start(row: EntryRow): void {
    this.#inFlight.add(row.id);
    void this.#deliver(row).finally(() => {
      this.#inFlight.delete(row.id);
      this.wake();
    });
  }

  async #deliver(row: EntryRow): Promise<void> {
    const { client, clock, metrics, retry, random } = this.#s;
    const started = performance.now();
    // One attempt through the retry runner, resumed from the counts in the file; the next attempt's
    // time is written to the file (schedule: 'return') rather than waited for, so it survives a crash.
    const result = await runRetry(
      () =>
        client.postSignal(JSON.parse(row.signal) as SignalCandidate, {
          idempotencyKey: row.idempotency_key,
          retry: false,
          abortSignal: this.#stop.signal,
        }),
      {
        retry,
        clock,
        random,
        resume: { attempts: row.attempts, firstAttemptAt: row.first_attempt_at ?? undefined },
        schedule: 'return',
      },
    );
    if (!result.ok) {
      this.#failed(row, result, performance.now() - started);
      return;
    }
    const { value: response, attemptStartedAt: startedAt, attempt, at } = result;
    metrics?.recordAttempt('201', 'delivered', performance.now() - started);
    this.#completions.push({
      kind: 'delivered',
      id: row.id,
      startedAt,
      at,
      response: JSON.stringify(response),
    });
    this.#effects.push(() => {
      this.#delivered += 1;
      this.#remaining = Math.max(0, this.#remaining - 1);
      metrics?.deliveries.inc({ outcome: 'delivered' });
      metrics?.deliveryLatency.observe(Math.max(0, at - row.created_at) / 1000);
      this.#s.alerts?.delivered();
      this.#resumed(at);
      this.#s.logger.debug(
        {
          idempotency_key: row.idempotency_key,
          instrument: row.instrument,
          signal_id: response.signal_id,
          signal_status: response.status,
          attempt,
        },
        'outbox entry delivered',
      );
    });
  }

  #failed(row: EntryRow, failure: RetryFailure, durationMs: number): void {
    const { metrics, logger, retry, alerts } = this.#s;
    const { error, at, attempt, decision, attemptStartedAt: startedAt } = failure;
    const code = isOutboundError(error) ? error.code : undefined;
    if (code === 'OUTBOUND_ABORTED' || code === 'OUTBOUND_DISABLED' || code === 'OUTBOUND_CLIENT_CLOSED') {
      // Not an attempt the server answered: the entry waits for the next drain, attempts unchanged.
      this.#completions.push({ kind: 'release', id: row.id, at });
      if (!this.#stop.signal.aborted) this.#fail(error);
      return;
    }
    if (!isRetryable(error) && !isPermanent(error)) {
      // A bug (a TypeError from a wrong argument, say) would fail every entry the same way: stop and
      // report it rather than move the whole outbox to dead-letter.
      this.#completions.push({ kind: 'release', id: row.id, at });
      this.#fail(error);
      return;
    }
    const outcome: AttemptOutcome = decision.retry ? 'retry' : 'failed';
    metrics?.recordAttempt(attemptStatusLabel(error), outcome, durationMs);
    const reason = describeFailure(error);
    // The client leaves its tally out under `retry: false`: the attempt that counts is the outbox's.
    const text = `${reason} (attempt ${attempt}/${retry.limit})`;
    const httpCode = (error as { httpCode?: unknown }).httpCode;
    const base = {
      id: row.id,
      startedAt,
      at,
      error: text,
      errorCode: code ?? null,
      httpCode: typeof httpCode === 'number' ? httpCode : null,
    };
    const fields = {
      idempotency_key: row.idempotency_key,
      instrument: row.instrument,
      attempt,
      attempt_limit: retry.limit,
      error_code: code,
      error_message: text,
      ...(typeof httpCode === 'number' ? { http_code: httpCode } : {}),
    };
    if (decision.retry) {
      const nextAttemptAt = at + decision.delayMs;
      this.#completions.push({ kind: 'retry', nextAttemptAt, ...base });
      this.#effects.push(() => {
        this.#retried += 1;
        metrics?.retries.inc();
        alerts?.attemptFailed(reason);
        // Not a give-up: no retry_stop_reason, and when the next attempt is.
        logger.warn(
          {
            ...fields,
            retry: 'scheduled',
            delay_ms: decision.delayMs,
            next_attempt_at: new Date(nextAttemptAt).toISOString(),
          },
          'outbox delivery failed; retry scheduled',
        );
        this.#deliveryFailing(error, at, nextAttemptAt);
      });
      return;
    }
    this.#completions.push({ kind: 'dead', nextAttemptAt: at, ...base });
    this.#effects.push(() => {
      this.#dead += 1;
      this.#remaining = Math.max(0, this.#remaining - 1);
      metrics?.deliveries.inc({ outcome: 'dead' });
      metrics?.deadLetters.inc();
      alerts?.attemptFailed(reason);
      alerts?.deadLettered({
        idempotencyKey: row.idempotency_key,
        instrument: row.instrument,
        attempts: attempt,
        lastError: reason,
      });
      logger.error(
        { ...fields, retry: 'stopped', retry_stop_reason: decision.reason },
        'outbox entry moved to dead-letter',
      );
    });
  }

  /** After a failed attempt scheduled again: reports `failing` when it starts or changes kind. */
  #deliveryFailing(error: unknown, at: number, nextAttemptAt: number): void {
    const httpCode = (error as { httpCode?: unknown }).httpCode;
    const status = typeof httpCode === 'number' ? httpCode : undefined;
    const kind = status === undefined ? 'unreachable' : `http ${status}`;
    const url = (error as { url?: unknown }).url;
    const where = typeof url === 'string' ? url : undefined;
    if (this.#failing !== undefined) {
      this.#failing.retried += 1;
      if (this.#failing.kind === kind) return;
      this.#failing.kind = kind;
    } else {
      this.#failing = { kind, url: where, since: at, retried: 1 };
    }
    this.#s.onDeliveryState?.({
      state: 'failing',
      url: where,
      reachable: status !== undefined,
      reason: shortReason(error, status),
      errorCode: isOutboundError(error) ? error.code : undefined,
      httpCode: status,
      at,
      nextAttemptAt,
    });
  }

  /**
   * After a delivery: reports `resumed` when delivery was failing, and makes the entries still waiting
   * out a backoff from the outage due now (attempts and deadline kept), as `retryWaitingNow()` does.
   */
  #resumed(at: number): void {
    const failing = this.#failing;
    if (failing === undefined) return;
    this.#failing = undefined;
    if (this.#s.store.makeDue(this.#s.clock()) > 0) this.wake();
    this.#s.onDeliveryState?.({
      state: 'resumed',
      url: failing.url,
      at,
      failingSince: failing.since,
      retried: failing.retried,
    });
  }

  /** Waits for a wake-up, `ms` (when given) or the stop signal, whichever comes first. */
  async #wait(ms: number | undefined): Promise<void> {
    if (this.#woken) return;
    const cancel = new AbortController();
    const waits: Promise<unknown>[] = [new Promise<void>((resolve) => (this.#waiter = resolve))];
    if (ms !== undefined) {
      waits.push(
        this.#s.sleep
          ? this.#s.sleep(ms)
          : sleepFor(ms, undefined, { signal: cancel.signal }).catch(() => {}),
      );
    }
    try {
      await Promise.race(waits);
    } finally {
      this.#waiter = undefined;
      cancel.abort();
    }
  }

  /** Records a fatal error (the first one wins) and stops. */
  #fail(error: unknown): void {
    this.#fatal ??= error;
    this.stop();
  }

  /** After the loop: lets requests in flight end (they were aborted) and writes their outcomes. */
  async #settle(): Promise<void> {
    while (this.#inFlight.size > 0) {
      this.#woken = false;
      if (this.#inFlight.size > 0) await this.#wait(undefined);
    }
    try {
      this.#commit(0);
      this.#progress(true);
    } catch (error) {
      this.#fatal ??= error;
    }
  }

  /** Recounts `remaining` (when `recount`, or once a second), then reports progress. */
  #progress(recount: boolean): void {
    const now = performance.now();
    if (recount || now - this.#lastCountAt >= RECOUNT_EVERY_MS) {
      this.#lastCountAt = now;
      this.#remaining = this.#s.store.openCount();
    }
    this.#s.onProgress?.({
      delivered: this.#delivered,
      dead: this.#dead,
      retried: this.#retried,
      inFlight: this.#inFlight.size,
      remaining: this.#remaining,
    });
  }

  #renewLock(): void {
    try {
      if (this.#s.store.renewLock(this.#owner, this.#s.lockTtlMs, Date.now())) return;
      this.#fail(
        new OutboxError(
          `Lost the drain lock of outbox ${this.#s.path}: another drain took it over after this one stalled`,
          { code: 'OUTBOX_LOCK_LOST', path: this.#s.path },
        ),
      );
    } catch (error) {
      this.#fail(error);
    }
  }
}

/**
 * The failure without the request and the tally the client's message wraps it in:
 * `connect ECONNREFUSED 127.0.0.1:8080`, `timed out after 10000 ms`, `503 Service Unavailable`.
 */
function shortReason(error: unknown, status: number | undefined): string {
  if (status !== undefined) return [status, STATUS_CODES[status]].filter(Boolean).join(' ');
  const message = error instanceof Error ? error.message : String(error);
  return message
    .replace(/^POST \S+ /, '')
    .replace(/ \(attempt \d+\/\d+\)$/, '')
    .replace(/^failed with a network error: /, '');
}

/** The text kept as `last_error` (before the outbox's tally): the message, then the server's problem detail and field errors. */
function describeFailure(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const details = (error as { details?: { detail?: unknown; errors?: unknown } } | null)?.details;
  const parts = [message];
  if (typeof details?.detail === 'string' && !message.includes(details.detail)) parts.push(details.detail);
  if (Array.isArray(details?.errors)) {
    parts.push(...details.errors.filter((e): e is string => typeof e === 'string'));
  }
  const text = parts.join('; ');
  return text.length > MAX_ERROR_TEXT ? `${text.slice(0, MAX_ERROR_TEXT - 1)}…` : text;
}
