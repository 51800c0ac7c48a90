import { randomUUID } from 'node:crypto';
import {
  describeValue,
  formatTimestamp,
  INGEST_PATH,
  isValidIdempotencyKey,
  nowMs,
  type SignalIngestResponse,
} from '@sigpost/protocol';
import { Pool } from 'undici';
import type { OutboundConfig } from './config.js';
import {
  isOutboundError,
  type OutboundClientError,
  type OutboundClientErrorCode,
  OutboundDisabledError,
  SignalValidationError,
} from './errors.js';
import { abortedError, refusalError, sendAttempt } from './http-attempt.js';
import { assertLogger, logFields, type OutboundLogFields, type OutboundLogger } from './logger.js';
import {
  abortableSleep,
  type RetryFailure,
  type RetryOptions,
  resolveRetryOptions,
  runRetry,
} from './retry.js';
import { signRequest } from './signing.js';
import { type SignalInput, toWireSignal } from './wire-signal.js';

export type { SignalInput } from './wire-signal.js';

/** Range of the per-call `timeoutSeconds` override (below the config's 5 s minimum on purpose). */
const CALL_TIMEOUT_SECONDS = Object.freeze({ min: 0.001, max: 300 }); // s

const CLIENT_DEFAULTS = Object.freeze({
  connections: 16, // sockets to the ingest server, at most
  keepAliveTimeoutMs: 4_000, // ms an idle socket stays open (below common servers' 5 s)
});

/** Options of `new HmacClient(config, logger, options)`. */
export interface HmacClientOptions {
  /**
   * Retry policy of every `postSignal`, merged over `DEFAULT_RETRY`; `false` sends each signal once.
   * @default DEFAULT_RETRY (5 attempts, 200 ms base, 10 s cap, 60 s deadline)
   */
  readonly retry?: Partial<RetryOptions> | false;
  /**
   * Wall clock in ms since the epoch (fractions give microseconds): stamps `X-Timestamp` and measures durations.
   * @default nowMs from @sigpost/protocol (Date.now() with the sub-ms digits of performance.now())
   */
  readonly clock?: () => number;
  /**
   * Waits between attempts; must reject when `signal` aborts.
   * @default setTimeout from node:timers/promises
   */
  readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /**
   * Source of jitter in [0, 1).
   * @default Math.random
   */
  readonly random?: () => number;
  /**
   * Most sockets kept open to the ingest server (keep-alive).
   * @default 16
   */
  readonly connections?: number;
}

/** Options of one `postSignal` call. */
export interface PostSignalOptions {
  /**
   * `X-Idempotency-Key`: 1–255 visible ASCII characters, the same on every retry.
   * @default crypto.randomUUID()
   */
  readonly idempotencyKey?: string;
  /**
   * Timeout of each attempt, in seconds (0.001–300); overrides the config's `timeoutSeconds`.
   * @default config.timeoutSeconds
   */
  readonly timeoutSeconds?: number;
  /** Cancels the delivery: the attempt in flight and any wait before the next one. */
  readonly abortSignal?: AbortSignal;
  /**
   * Retry policy of this call, merged over the client's; `false` sends once and leaves any retry to the
   * caller (a failure is then logged at warn as one failed attempt, without `retry_stop_reason`).
   * @default the client's `retry`
   */
  readonly retry?: Partial<RetryOptions> | false;
}

// Not performance.timeOrigin + performance.now() alone: that clock drifts from the wall clock in a
// long-lived process (clock steps, suspend), and the server refuses X-Timestamps outside ±300 s.
const defaultClock = nowMs;

const NO_RETRY = Object.freeze({ limit: 1 });

function checkTimeoutSeconds(value: unknown): number {
  const { min, max } = CALL_TIMEOUT_SECONDS;
  if (typeof value !== 'number' || !(value >= min && value <= max)) {
    throw new RangeError(
      `Expected \`timeoutSeconds\` to be a number from ${min} to ${max}, received ${describeValue(value)}`,
    );
  }
  return value;
}

function describeKey(key: unknown): string {
  if (typeof key !== 'string') return key === null ? 'null' : typeof key;
  if (key === '') return 'an empty string';
  if (key.length > 255) return `${key.length} characters`;
  const bad = key.search(/[^\x21-\x7e]/);
  return `${JSON.stringify(key[bad])} at index ${bad}`;
}

/**
 * Signs trading signals and posts them to a Sigpost ingest server over one keep-alive connection pool.
 * Retries transient failures with backoff, re-signing each attempt with the same idempotency key.
 *
 * @example
 * await using client = new HmacClient(OutboundConfig.fromEnv(), pino());
 * const response = await client.postSignal(signal, { idempotencyKey: 'sig-20251025-001' });
 */
export class HmacClient {
  /** The validated, frozen config this client sends with. */
  readonly config: OutboundConfig;
  readonly #logger: OutboundLogger;
  readonly #retry: Readonly<RetryOptions>;
  readonly #clock: () => number;
  readonly #sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  readonly #random: () => number;
  readonly #path: string;
  readonly #pool: Pool | undefined;
  /** Aborted by close(), so that waits between attempts end at once. */
  readonly #lifetime = new AbortController();
  /** Whether debug and info lines are wanted; asked once (pino has `isLevelEnabled`; others log everything). */
  readonly #debug: boolean;
  readonly #info: boolean;
  #closing: Promise<void> | undefined;

  constructor(config: OutboundConfig, logger: OutboundLogger, options: HmacClientOptions = {}) {
    if (typeof config !== 'object' || config === null || typeof config.ingestUrl !== 'string') {
      throw new TypeError('Expected `config` to be an OutboundConfig');
    }
    assertLogger(logger);
    const { retry, clock, sleep, random, connections = CLIENT_DEFAULTS.connections } = options;
    for (const [name, fn] of Object.entries({ clock, sleep, random })) {
      if (fn !== undefined && typeof fn !== 'function') {
        throw new TypeError(`Expected \`${name}\` to be a function, received ${typeof fn}`);
      }
    }
    if (!Number.isInteger(connections) || connections < 1) {
      throw new RangeError(`Expected \`connections\` to be an integer ≥ 1, received ${String(connections)}`);
    }
    this.config = config;
    this.#logger = logger;
    const enabled = (level: string) =>
      typeof logger.isLevelEnabled === 'function' ? logger.isLevelEnabled(level) : true;
    this.#debug = enabled('debug');
    this.#info = enabled('info');
    this.#retry = Object.freeze(resolveRetryOptions(retry === false ? NO_RETRY : retry));
    this.#clock = clock ?? defaultClock;
    this.#sleep = sleep ?? abortableSleep;
    this.#random = random ?? Math.random;
    const base = new URL(config.serverBaseUrl);
    this.#path = `${base.pathname.replace(/\/+$/, '')}${INGEST_PATH}`;
    // A disabled client must not touch the network, so it gets no pool at all.
    this.#pool = config.enabled
      ? new Pool(base.origin, { connections, keepAliveTimeout: CLIENT_DEFAULTS.keepAliveTimeoutMs })
      : undefined;
  }

  /** True once `close()` has been called. */
  get closed(): boolean {
    return this.#closing !== undefined;
  }

  /**
   * Validates, serialises, signs and posts one signal; retries transient failures.
   *
   * @returns the server's `SignalIngestResponse`
   * @throws {SignalValidationError} the signal fails the protocol's rules (nothing sent)
   * @throws {OutboundDisabledError} the config has `enabled: false` (nothing sent)
   * @throws {OutboundClientError} the delivery failed: `code` says how, `httpCode`/`details` hold the server's answer
   * @throws {OutboundTimeoutError} the last attempt timed out
   * @throws {TypeError | RangeError} a malformed option (programmer error, never retried)
   * @example
   * const { signal_id, status } = await client.postSignal(
   *   { instrument: 'GOLD', side: 'buy', entry_price: 1950.5, stop_loss: 1945, take_profit: 1960,
   *     confidence: 0.85, reason: 'breakout', timestamp: new Date() },
   *   { idempotencyKey: 'sig-20251025-001' },
   * );
   */
  async postSignal(signal: SignalInput, options: PostSignalOptions = {}): Promise<SignalIngestResponse> {
    const { config } = this;
    const { abortSignal } = options;
    if (options.idempotencyKey !== undefined && !isValidIdempotencyKey(options.idempotencyKey)) {
      throw new RangeError(
        `Expected \`idempotencyKey\` to be 1–255 visible ASCII characters (0x21–0x7E), received ${describeKey(options.idempotencyKey)}`,
      );
    }
    const idempotencyKey = options.idempotencyKey ?? randomUUID();
    const timeoutSeconds =
      options.timeoutSeconds === undefined
        ? config.timeoutSeconds
        : checkTimeoutSeconds(options.timeoutSeconds);
    const retry =
      options.retry === undefined
        ? this.#retry
        : resolveRetryOptions(options.retry === false ? NO_RETRY : options.retry, this.#retry);
    // One shape from the start: the fields are filled in as they become known.
    const fields: OutboundLogFields = {
      producer_id: config.producerId,
      idempotency_key: idempotencyKey,
      instrument: undefined,
      body_bytes: undefined,
    };

    if (this.#closing) throw this.#refusal('OUTBOUND_CLIENT_CLOSED', 'refused: the client is closed');
    if (!config.enabled) {
      this.#logger.debug(logFields(fields), 'Signal not sent: delivery is disabled');
      throw new OutboundDisabledError();
    }
    if (abortSignal?.aborted) throw this.#aborted(abortSignal, 0, retry.limit);

    const body = this.#serialise(signal, fields);
    const bodyBytes = Buffer.byteLength(body, 'utf8');
    fields.body_bytes = bodyBytes;
    if (bodyBytes > config.maxBodySize) {
      const error = this.#refusal(
        'OUTBOUND_BODY_TOO_LARGE',
        `refused before sending: the body is ${bodyBytes} bytes, over maxBodySize ${config.maxBodySize} bytes`,
      );
      this.#logger.error(logFields({ ...fields, error_code: error.code }), 'Signal refused: body too large');
      throw error;
    }
    if (this.#debug) this.#logger.debug(logFields(fields), 'Signal serialised');

    const timeoutMs = Math.max(1, Math.round(timeoutSeconds * 1000));
    /** The failure that led to the current wait, for the error of a wait cut short. */
    let last: { attempt: number; error: unknown } = { attempt: 0, error: undefined };
    let closedBeforeAttempt = false;
    const callerRetries = options.retry === false;
    const result = await runRetry(
      // Not async: one promise fewer per attempt (runRetry catches a synchronous throw too).
      ({ attempt, remainingMs }) => {
        if (this.#closing) {
          closedBeforeAttempt = true;
          throw this.#refusal('OUTBOUND_CLIENT_CLOSED', 'stopped: the client was closed', attempt - 1);
        }
        // The first attempt always gets its full timeout (so OUTBOUND_TIMEOUT_SECONDS up to 300 s means
        // what it says); retries get their timeout cut to what is left of the overall deadline.
        const left = remainingMs === undefined ? timeoutMs : Math.ceil(remainingMs);
        return sendAttempt({
          dispatcher: this.#pool!,
          url: config.ingestUrl,
          path: this.#path,
          headers: signRequest({
            secret: config.producerSecret,
            producerId: config.producerId,
            body,
            timestamp: formatTimestamp(this.#clock()),
            idempotencyKey,
          }),
          body,
          attempt,
          // The caller runs the retries (retry: false): its count, not our 1/1, is the one that means
          // something, so messages carry no tally.
          limit: callerRetries ? undefined : retry.limit,
          timeoutMs: Math.max(1, Math.min(timeoutMs, left)),
          abortSignal,
          clock: this.#clock,
        });
      },
      {
        retry,
        clock: this.#clock,
        random: this.#random,
        sleep: (ms) => this.#wait(ms, abortSignal, last.attempt, retry.limit, last.error),
        onFailure: (failure) => {
          last = failure;
          if (!closedBeforeAttempt) this.#logFailure(failure, fields, retry.limit, callerRetries);
        },
      },
    );
    if (!result.ok) throw result.error;
    const { value: response, attempt, at } = result;
    this.#warnIfSlow(at - result.attemptStartedAt, timeoutMs, fields, attempt);
    if (this.#info) {
      this.#logger.info(
        logFields({
          ...fields,
          signal_id: response.body.signal_id,
          signal_status: response.body.status,
          http_code: response.httpCode,
          duration_ms: Math.round(at - result.startedAt),
          attempt,
        }),
        'Signal posted successfully',
      );
    }
    return response.body;
  }

  /** Logs a failed attempt: aborted (info), retrying (warn), left to the caller (warn) or given up (error). */
  #logFailure(failure: RetryFailure, fields: OutboundLogFields, limit: number, callerRetries: boolean): void {
    const { error, attempt, decision, at } = failure;
    // Not ours (a programmer error surfaced as it is): thrown without a log line.
    if (!isOutboundError(error)) return;
    const entry = {
      ...fields,
      attempt,
      // Under `retry: false` the caller counts the attempts (and logs its own limit): 1 of 1 would
      // read as a final attempt.
      attempt_limit: callerRetries ? undefined : limit,
      http_code: (error as OutboundClientError).httpCode,
      error_code: error.code,
      error_message: error.message,
      problem_type: (error as OutboundClientError).details?.type,
      duration_ms: Math.round(at - failure.attemptStartedAt),
    };
    if (error.code === 'OUTBOUND_ABORTED') {
      this.#logger.info(logFields(entry), 'Signal delivery aborted by the caller');
    } else if (decision.retry) {
      this.#logger.warn(
        logFields({ ...entry, delay_ms: decision.delayMs }),
        'Signal delivery attempt failed; retrying',
      );
    } else if (callerRetries) {
      // The caller schedules any retry (the outbox does): this is one failed attempt, not a give-up,
      // so no retry_stop_reason; the caller logs what it decides.
      this.#logger.warn(logFields(entry), 'Signal delivery attempt failed; the caller decides on a retry');
    } else {
      this.#logger.error(
        logFields({
          ...entry,
          duration_ms: Math.round(failure.elapsedMs),
          retry_stop_reason: decision.reason,
        }),
        'Signal delivery failed',
      );
    }
  }

  /**
   * Closes the connection pool after the requests in flight finish; waits between retries end at
   * once with `OUTBOUND_CLIENT_CLOSED`. Idempotent: later calls return the same promise.
   */
  close(): Promise<void> {
    if (!this.#closing) {
      this.#lifetime.abort();
      this.#closing = this.#pool ? this.#pool.close() : Promise.resolve();
    }
    return this.#closing;
  }

  /** `await using client = new HmacClient(…)` closes the client at the end of the block. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #serialise(signal: SignalInput, fields: OutboundLogFields): string {
    const wire = toWireSignal(signal);
    if (!wire.ok) return this.#invalid(wire.errors, fields, wire.cause);
    fields.instrument = wire.value.instrument;
    return wire.json;
  }

  #invalid(errors: readonly string[], fields: OutboundLogFields, cause?: unknown): never {
    const error = new SignalValidationError(errors, { cause });
    this.#logger.error(
      logFields({ ...fields, error_code: error.code, validation_errors: error.errors }),
      'Signal failed validation',
    );
    throw error;
  }

  async #wait(
    ms: number,
    abortSignal: AbortSignal | undefined,
    attempt: number,
    limit: number,
    lastError: unknown,
  ): Promise<void> {
    // One signal for both the caller's abort and close().
    const both = new AbortController();
    const stop = () => both.abort();
    abortSignal?.addEventListener('abort', stop, { once: true });
    this.#lifetime.signal.addEventListener('abort', stop, { once: true });
    try {
      if (abortSignal?.aborted || this.#lifetime.signal.aborted) both.abort();
      else await this.#sleep(ms, both.signal);
    } catch (error) {
      if (!both.signal.aborted) throw error;
    } finally {
      abortSignal?.removeEventListener('abort', stop);
      this.#lifetime.signal.removeEventListener('abort', stop);
    }
    if (abortSignal?.aborted) throw this.#aborted(abortSignal, attempt, limit);
    if (this.#closing) {
      // The failure that led to the wait is the underlying error of giving up.
      throw this.#refusal('OUTBOUND_CLIENT_CLOSED', 'stopped: the client was closed', attempt, lastError);
    }
  }

  #aborted(signal: AbortSignal, attempts: number, limit: number): OutboundClientError {
    return abortedError(this.config.ingestUrl, signal, attempts, limit);
  }

  #refusal(code: OutboundClientErrorCode, what: string, attempts = 0, cause?: unknown): OutboundClientError {
    return refusalError(this.config.ingestUrl, code, what, attempts, cause);
  }

  #warnIfSlow(durationMs: number, timeoutMs: number, fields: OutboundLogFields, attempt: number): void {
    // Half the timeout used up is the early warning before timeouts start.
    if (durationMs >= timeoutMs / 2) {
      this.#logger.warn(
        logFields({ ...fields, attempt, duration_ms: Math.round(durationMs) }),
        'Slow response from the ingest server',
      );
    }
  }
}
