import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { STATUS_CODES } from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';
import {
  formatTimestamp,
  INGEST_PATH,
  isProblemDetails,
  isValidIdempotencyKey,
  nowMs,
  type ProblemDetails,
  parseIngestResponse,
  type SignalCandidate,
  type SignalIngestResponse,
  validateSignal,
} from '@sigpost/protocol';
import { Pool } from 'undici';
import type { OutboundConfig } from './config.js';
import {
  isOutboundError,
  OutboundClientError,
  type OutboundClientErrorCode,
  OutboundDisabledError,
  OutboundTimeoutError,
  SignalValidationError,
} from './errors.js';
import { ingestResponseFast } from './fast-validate.js';
import { assertLogger, logFields, type OutboundLogFields, type OutboundLogger } from './logger.js';
import { decideRetry, parseRetryAfter, type RetryOptions, resolveRetryOptions } from './retry.js';
import { signRequest } from './signing.js';

/** At most this much of a response body is read; the rest is discarded with the connection. */
export const MAX_RESPONSE_BYTES = 1_048_576; // bytes (1 MiB)

/** Range of the per-call `timeoutSeconds` override (below the config's 5 s minimum on purpose). */
const CALL_TIMEOUT_SECONDS = Object.freeze({ min: 0.001, max: 300 }); // s

const CLIENT_DEFAULTS = Object.freeze({
  connections: 16, // sockets to the ingest server, at most
  keepAliveTimeoutMs: 4_000, // ms an idle socket stays open (below common servers' 5 s)
});

/**
 * A signal as `postSignal` takes it: a `SignalCandidate` whose `timestamp` may also be a `Date`
 * (sent as `YYYY-MM-DDTHH:MM:SS.ffffffZ`).
 */
export type SignalInput = Omit<SignalCandidate, 'timestamp'> & { readonly timestamp: string | Date };

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
const defaultSleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  delay(ms, undefined, signal ? { signal } : {});

const NO_RETRY = Object.freeze({ limit: 1 });

function checkTimeoutSeconds(value: unknown): number {
  const { min, max } = CALL_TIMEOUT_SECONDS;
  if (typeof value !== 'number' || !(value >= min && value <= max)) {
    throw new RangeError(
      `Expected \`timeoutSeconds\` to be a number from ${min} to ${max}, received ${typeof value === 'number' ? value : typeof value}`,
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

/** The message's tail: the problem's title and detail, bounded (the server's text, never ours). */
function problemSuffix(details: ProblemDetails | undefined): string {
  if (!details) return '';
  const detail = typeof details.detail === 'string' && details.detail !== '' ? ` — ${details.detail}` : '';
  const text = `${details.title}${detail}`;
  return `: ${text.length > 300 ? `${text.slice(0, 300)}…` : text}`;
}

function statusText(status: number): string {
  const text = STATUS_CODES[status];
  return text ? `${status} ${text}` : String(status);
}

/**
 * What OpenSSL says when the other side answers a TLS handshake with something that is not TLS (an
 * `https://` URL to a plain-HTTP port): its raw text ("wrong version number") says nothing useful.
 */
const NOT_TLS_CODES: ReadonlySet<unknown> = new Set([
  'ERR_SSL_WRONG_VERSION_NUMBER',
  'ERR_SSL_PACKET_LENGTH_TOO_LONG',
  'ERR_SSL_HTTP_REQUEST',
]);

function describeNetworkError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = (error as { code?: unknown }).code;
  if (NOT_TLS_CODES.has(code)) return 'the server does not speak TLS on this port (use http:// ?)';
  // Node's connect errors can be an AggregateError with an empty message (one error per address tried).
  if (error.message !== '') return error.message;
  return typeof code === 'string' ? code : error.name;
}

/** Reads a body up to `limit` bytes; `undefined` when it is longer (the rest is never read). */
async function readBounded(
  body: AsyncIterable<Buffer> & { text(): Promise<string>; destroy(): unknown },
  contentLength: string | string[] | undefined,
  limit: number,
): Promise<string | undefined> {
  const declared = typeof contentLength === 'string' ? Number(contentLength) : Number.NaN;
  if (Number.isSafeInteger(declared)) {
    if (declared > limit) {
      body.destroy();
      return undefined;
    }
    // undici fails the body when it differs from Content-Length, so this read is bounded.
    return body.text();
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > limit) {
      body.destroy();
      return undefined;
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size).toString('utf8');
}

/**
 * The abort signal of one attempt. undici accepts an EventEmitter with `aborted`/`reason` as well as an
 * AbortSignal; this one costs a fraction of an AbortController, which showed in the client benchmark.
 */
class AttemptSignal extends EventEmitter {
  aborted = false;
  reason: unknown;

  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    this.emit('abort');
  }
}

interface AttemptContext {
  readonly body: string;
  readonly idempotencyKey: string;
  readonly attempt: number;
  readonly limit: number;
  readonly timeoutMs: number;
  readonly abortSignal: AbortSignal | undefined;
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
    this.#sleep = sleep ?? defaultSleep;
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
    const started = this.#clock();
    for (let attempt = 1; ; attempt++) {
      if (this.#closing) {
        throw this.#refusal('OUTBOUND_CLIENT_CLOSED', 'stopped: the client was closed', attempt - 1);
      }
      const elapsed = this.#clock() - started;
      // The first attempt always gets its full timeout (so OUTBOUND_TIMEOUT_SECONDS up to 300 s means what
      // it says); retries get their timeout cut to what is left of the overall deadline.
      const left =
        retry.deadlineMs === undefined || attempt === 1 ? timeoutMs : Math.ceil(retry.deadlineMs - elapsed);
      const attemptStarted = this.#clock();
      try {
        const response = await this.#attempt({
          body,
          idempotencyKey,
          attempt,
          limit: retry.limit,
          timeoutMs: Math.max(1, Math.min(timeoutMs, left)),
          abortSignal,
        });
        const now = this.#clock();
        this.#warnIfSlow(now - attemptStarted, timeoutMs, fields, attempt);
        if (this.#info) {
          this.#logger.info(
            logFields({
              ...fields,
              signal_id: response.body.signal_id,
              signal_status: response.body.status,
              http_code: response.httpCode,
              duration_ms: Math.round(now - started),
              attempt,
            }),
            'Signal posted successfully',
          );
        }
        return response.body;
      } catch (error) {
        if (!isOutboundError(error)) throw error;
        const now = this.#clock();
        const failure = {
          ...fields,
          attempt,
          attempt_limit: retry.limit,
          http_code: (error as OutboundClientError).httpCode,
          error_code: error.code,
          error_message: error.message,
          problem_type: (error as OutboundClientError).details?.type,
          duration_ms: Math.round(now - attemptStarted),
        };
        if (error.code === 'OUTBOUND_ABORTED') {
          this.#logger.info(logFields(failure), 'Signal delivery aborted by the caller');
          throw error;
        }
        const decision = decideRetry({
          error,
          attempt,
          elapsedMs: now - started,
          options: retry,
          random: this.#random,
        });
        if (!decision.retry && options.retry === false) {
          // The caller schedules any retry (the outbox does): this is one failed attempt, not a give-up,
          // so no retry_stop_reason; the caller logs what it decides.
          this.#logger.warn(
            logFields(failure),
            'Signal delivery attempt failed; the caller decides on a retry',
          );
          throw error;
        }
        if (!decision.retry) {
          this.#logger.error(
            logFields({
              ...failure,
              duration_ms: Math.round(now - started),
              retry_stop_reason: decision.reason,
            }),
            'Signal delivery failed',
          );
          throw error;
        }
        this.#logger.warn(
          logFields({ ...failure, delay_ms: decision.delayMs }),
          'Signal delivery attempt failed; retrying',
        );
        await this.#wait(decision.delayMs, abortSignal, attempt, retry.limit, error);
      }
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
    let wire: unknown = signal;
    if (typeof signal === 'object' && signal !== null && signal.timestamp instanceof Date) {
      const time = signal.timestamp.getTime();
      if (!Number.isFinite(time))
        this.#invalid(['timestamp: expected a valid Date, received Invalid Date'], fields);
      let timestamp: string;
      try {
        timestamp = formatTimestamp(time);
      } catch (cause) {
        // RFC 3339 has 4-digit years: a Date outside 0000–9999 is bad data, not a programmer error.
        return this.#invalid(['timestamp: expected a Date in the years 0000–9999'], fields, cause);
      }
      wire = { ...signal, timestamp };
    }
    // validateSignal tries its allocation-free fast path first and uses zod only when it says no.
    const result = validateSignal(wire);
    if (!result.ok) this.#invalid(result.errors, fields);
    const valid: SignalCandidate = result.value;
    fields.instrument = valid.instrument;
    try {
      return JSON.stringify(valid);
    } catch (cause) {
      // BigInt or a cycle inside `payload`.
      const reason = cause instanceof Error ? cause.message.split('\n')[0] : String(cause);
      return this.#invalid([`payload: expected JSON-serialisable values (${reason})`], fields, cause);
    }
  }

  #invalid(errors: readonly string[], fields: OutboundLogFields, cause?: unknown): never {
    const error = new SignalValidationError(errors, { cause });
    this.#logger.error(
      logFields({ ...fields, error_code: error.code, validation_errors: error.errors }),
      'Signal failed validation',
    );
    throw error;
  }

  async #attempt(ctx: AttemptContext): Promise<{ body: SignalIngestResponse; httpCode: number }> {
    const { config } = this;
    const { attempt, limit, timeoutMs, abortSignal } = ctx;
    const pool = this.#pool!;
    const headers = signRequest({
      secret: config.producerSecret,
      producerId: config.producerId,
      body: ctx.body,
      timestamp: formatTimestamp(this.#clock()),
      idempotencyKey: ctx.idempotencyKey,
    });
    const signal = new AttemptSignal();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      signal.abort(new DOMException(`The attempt timed out after ${timeoutMs} ms`, 'TimeoutError'));
    }, timeoutMs);
    const onAbort = () => signal.abort(abortSignal?.reason);
    abortSignal?.addEventListener('abort', onAbort, { once: true });

    let status: number;
    let text: string | undefined;
    let retryAfter: string | string[] | undefined;
    let contentType: string | string[] | undefined;
    try {
      const response = await pool.request({
        path: this.#path,
        method: 'POST',
        headers,
        body: ctx.body,
        signal,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      });
      status = response.statusCode;
      retryAfter = response.headers['retry-after'];
      contentType = response.headers['content-type'];
      text = await readBounded(response.body, response.headers['content-length'], MAX_RESPONSE_BYTES);
    } catch (cause) {
      throw this.#transportError(cause, { timedOut, attempt, limit, timeoutMs, abortSignal });
    } finally {
      clearTimeout(timer);
      abortSignal?.removeEventListener('abort', onAbort);
    }

    const where = `POST ${config.ingestUrl}`;
    const tally = `(attempt ${attempt}/${limit})`;
    if (status >= 200 && status <= 299) {
      const invalid = (what: string, cause?: unknown) =>
        new OutboundClientError(`${where} answered ${statusText(status)} with ${what} ${tally}`, {
          code: 'OUTBOUND_INVALID_RESPONSE',
          method: 'POST',
          url: config.ingestUrl,
          attempts: attempt,
          httpCode: status,
          cause,
        });
      if (text === undefined) throw invalid(`a body over ${MAX_RESPONSE_BYTES} bytes`);
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch (cause) {
        throw invalid('a body that is not JSON', cause);
      }
      const fast = ingestResponseFast(json);
      if (fast) return { body: fast, httpCode: status };
      const parsed = parseIngestResponse(json);
      if (!parsed.ok) {
        throw invalid(`a body that is not a SignalIngestResponse (${parsed.errors.join('; ')})`);
      }
      return { body: parsed.value, httpCode: status };
    }

    const details = parseProblem(text, contentType);
    const retryAfterMs = parseRetryAfter(
      typeof retryAfter === 'string' ? retryAfter : undefined,
      this.#clock(),
    );
    throw new OutboundClientError(
      `${where} failed with ${statusText(status)} ${tally}${problemSuffix(details)}`,
      {
        code: 'OUTBOUND_HTTP_ERROR',
        method: 'POST',
        url: config.ingestUrl,
        attempts: attempt,
        httpCode: status,
        details,
        retryAfterMs,
      },
    );
  }

  #transportError(
    cause: unknown,
    at: {
      timedOut: boolean;
      attempt: number;
      limit: number;
      timeoutMs: number;
      abortSignal: AbortSignal | undefined;
    },
  ): Error {
    const { attempt, limit, timeoutMs, abortSignal } = at;
    const url = this.config.ingestUrl;
    const where = `POST ${url}`;
    const tally = `(attempt ${attempt}/${limit})`;
    const code = (cause as { code?: unknown } | null)?.code;
    if (abortSignal?.aborted && !at.timedOut) return this.#aborted(abortSignal, attempt, limit);
    if (
      at.timedOut ||
      code === 'UND_ERR_HEADERS_TIMEOUT' ||
      code === 'UND_ERR_BODY_TIMEOUT' ||
      code === 'UND_ERR_CONNECT_TIMEOUT'
    ) {
      return new OutboundTimeoutError(`${where} timed out after ${timeoutMs} ms ${tally}`, {
        method: 'POST',
        url,
        attempts: attempt,
        timeoutMs,
        cause,
      });
    }
    if (code === 'UND_ERR_CLOSED' || code === 'UND_ERR_DESTROYED') {
      return this.#refusal(
        'OUTBOUND_CLIENT_CLOSED',
        `stopped: the client was closed ${tally}`,
        attempt - 1,
        cause,
      );
    }
    // An invalid argument to undici is our bug, not the network's: surface it as it is, never retried.
    if (code === 'UND_ERR_INVALID_ARG' || !(cause instanceof Error)) {
      return cause instanceof Error ? cause : new TypeError(String(cause));
    }
    return new OutboundClientError(
      `${where} failed with a network error: ${describeNetworkError(cause)} ${tally}`,
      { code: 'OUTBOUND_NETWORK_ERROR', method: 'POST', url, attempts: attempt, cause },
    );
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
    const tally = attempts === 0 ? 'before the first attempt' : `(attempt ${attempts}/${limit})`;
    return new OutboundClientError(`POST ${this.config.ingestUrl} aborted by the caller ${tally}`, {
      code: 'OUTBOUND_ABORTED',
      method: 'POST',
      url: this.config.ingestUrl,
      attempts,
      cause: signal.reason,
    });
  }

  #refusal(code: OutboundClientErrorCode, what: string, attempts = 0, cause?: unknown): OutboundClientError {
    return new OutboundClientError(`POST ${this.config.ingestUrl} ${what}`, {
      code,
      method: 'POST',
      url: this.config.ingestUrl,
      attempts,
      cause,
    });
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

/** The server's problem+json, when the body is one. */
function parseProblem(
  text: string | undefined,
  contentType: string | string[] | undefined,
): ProblemDetails | undefined {
  if (text === undefined || typeof contentType !== 'string' || !/[/+]json\b/i.test(contentType))
    return undefined;
  try {
    const json: unknown = JSON.parse(text);
    return isProblemDetails(json) ? json : undefined;
  } catch {
    return undefined;
  }
}
