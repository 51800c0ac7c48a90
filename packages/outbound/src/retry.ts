// Retry policy and the one retry runner. The policy (whether to retry, how long to wait) is pure: no
// timers, no I/O, so it can be tested exhaustively without a clock, like ky's core/retry-timing.ts.
// The runner, `runRetry`, wraps any `attempt()` the way undici's RetryAgent wraps any dispatcher:
// `HmacClient.postSignal` runs its HTTP attempts through it, waiting in memory; the outbox runs one
// attempt per claim through it and writes the next attempt's time to its file instead of waiting.
import { setTimeout as delay } from 'node:timers/promises';
import { describeValue } from '@sigpost/protocol';
import { isOutboundError } from './errors.js';

/**
 * How `postSignal` retries a failed delivery.
 *
 * @example
 * new HmacClient(config, logger, { retry: { limit: 3, deadlineMs: 10_000 } });
 */
export interface RetryOptions {
  /**
   * Attempts at most, the first one included (1 = never retry).
   * @default 5
   */
  limit: number;
  /**
   * Base of the exponential backoff: the wait before retry n is random in [0, baseDelayMs·2^(n-1)).
   * @default 200
   */
  baseDelayMs: number;
  /**
   * Cap on one backoff wait, in ms (at most 2^31 - 1, setTimeout's limit).
   * @default 10_000
   */
  maxDelayMs: number;
  /**
   * Cap on a server's `Retry-After`, in ms: a longer ask is shortened to this (at most 2^31 - 1).
   * @default 60_000
   */
  maxRetryAfterMs: number;
  /**
   * Overall deadline across all attempts and waits, in ms; `undefined` for none.
   * No retry is scheduled that would start after it, and each attempt's timeout is cut to what is left.
   * @default 60_000
   */
  deadlineMs: number | undefined;
}

/** The retry defaults (ms). */
export const DEFAULT_RETRY: Readonly<RetryOptions> = Object.freeze({
  limit: 5, // attempts, the first included
  baseDelayMs: 200, // ms
  maxDelayMs: 10_000, // ms, cap per wait
  maxRetryAfterMs: 60_000, // ms, cap on Retry-After
  deadlineMs: 60_000, // ms, across all attempts
});

const RETRY_KEYS: readonly (keyof RetryOptions)[] = [
  'limit',
  'baseDelayMs',
  'maxDelayMs',
  'maxRetryAfterMs',
  'deadlineMs',
];

/** Names other retry libraries use, and ours. */
const RENAMED_RETRY_OPTIONS: Readonly<Record<string, keyof RetryOptions>> = {
  retries: 'limit',
  maxRetries: 'limit',
  attempts: 'limit',
  minTimeout: 'baseDelayMs',
  baseDelay: 'baseDelayMs',
  maxTimeout: 'maxDelayMs',
  backoffLimit: 'maxDelayMs',
  maxDelay: 'maxDelayMs',
  maxRetryAfter: 'maxRetryAfterMs',
  totalTimeout: 'deadlineMs',
  deadline: 'deadlineMs',
  maxRetryTime: 'deadlineMs',
};

/** The longest wait setTimeout can schedule: a longer one fires after 1 ms instead (with a warning). */
export const MAX_TIMER_MS = 2_147_483_647; // ms (2^31 - 1, about 24.8 days)

function checkNumber(name: string, value: unknown, min: number, integer = false, max = Infinity): number {
  if (typeof value !== 'number' || Number.isNaN(value)) {
    throw new TypeError(`Expected \`${name}\` to be a number, received ${describeValue(value)}`);
  }
  if (!Number.isFinite(value)) throw new RangeError(`Expected \`${name}\` to be a finite number`);
  if (integer && !Number.isInteger(value)) throw new RangeError(`Expected \`${name}\` to be an integer`);
  if (value < min) throw new RangeError(`Expected \`${name}\` to be ≥ ${min}`);
  if (value > max) throw new RangeError(`Expected \`${name}\` to be ≤ ${max}`);
  return value;
}

/**
 * Applies `partial` over `base` (the defaults unless given) and validates the result.
 * An explicit `deadlineMs: undefined` removes the deadline; a missing one keeps the base's.
 *
 * @throws {TypeError} a value of the wrong type, or an unknown/renamed option (the message names the replacement)
 * @throws {RangeError} a value out of range, naming the option: ``Expected `limit` to be ≥ 1``
 * @example
 * resolveRetryOptions({ limit: 3 }); // { limit: 3, baseDelayMs: 200, … }
 */
export function resolveRetryOptions(
  partial: Partial<RetryOptions> = {},
  base: Readonly<RetryOptions> = DEFAULT_RETRY,
): RetryOptions {
  if (typeof partial !== 'object' || partial === null) {
    throw new TypeError(`Expected retry options to be an object, received ${describeValue(partial)}`);
  }
  for (const key of Object.keys(partial)) {
    if ((RETRY_KEYS as readonly string[]).includes(key)) continue;
    const replacement = RENAMED_RETRY_OPTIONS[key];
    throw new TypeError(
      replacement
        ? `Unknown retry option \`${key}\`; use \`${replacement}\``
        : `Unknown retry option \`${key}\`; expected one of ${RETRY_KEYS.map((k) => `\`${k}\``).join(', ')}`,
    );
  }
  const pick = <K extends keyof RetryOptions>(key: K): RetryOptions[K] =>
    Object.hasOwn(partial, key) ? (partial[key] as RetryOptions[K]) : base[key];
  const deadline = pick('deadlineMs');
  return {
    limit: checkNumber('limit', pick('limit'), 1, true),
    baseDelayMs: checkNumber('baseDelayMs', pick('baseDelayMs'), 0),
    // Both cap a wait that a timer schedules.
    maxDelayMs: checkNumber('maxDelayMs', pick('maxDelayMs'), 0, false, MAX_TIMER_MS),
    maxRetryAfterMs: checkNumber('maxRetryAfterMs', pick('maxRetryAfterMs'), 0, false, MAX_TIMER_MS),
    deadlineMs: deadline === undefined ? undefined : checkNumber('deadlineMs', deadline, 1),
  };
}

/**
 * The wait before the next attempt, with full jitter:
 * `random() · min(maxDelayMs, baseDelayMs · 2^(attempt-1))`, floored to whole ms.
 *
 * @param attempt attempts made so far (1 after the first failure)
 * @param random a source of numbers in [0, 1) (`Math.random`; tests inject their own)
 */
export function backoffDelay(attempt: number, options: RetryOptions, random: () => number): number {
  const ceiling = backoffCeiling(attempt, options);
  if (ceiling === 0) return 0;
  const r = random();
  // A misbehaving random source must not produce a negative or over-cap wait.
  const unit = Number.isFinite(r) ? Math.min(Math.max(r, 0), 1) : 0;
  return Math.min(Math.floor(unit * ceiling), ceiling);
}

/** `min(maxDelayMs, baseDelayMs · 2^(attempt-1))`: the longest backoff wait before the next attempt (no jitter). */
function backoffCeiling(attempt: number, options: RetryOptions): number {
  if (!Number.isInteger(attempt) || attempt < 1) {
    throw new RangeError(`Expected \`attempt\` to be an integer ≥ 1, received ${attempt}`);
  }
  if (options.baseDelayMs === 0 || options.maxDelayMs === 0) return 0;
  // 2 ** 1100 is Infinity; min() still caps it.
  return Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** (attempt - 1));
}

// RFC 9110 §5.6.7: IMF-fixdate, plus the obsolete RFC 850 and asctime forms recipients must accept.
const IMF_FIXDATE = /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/;
const RFC850_DATE = /^[A-Z][a-z]+, \d{2}-[A-Z][a-z]{2}-\d{2} \d{2}:\d{2}:\d{2} GMT$/;
const ASCTIME_DATE = /^[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2} \d{4}$/;

/**
 * Parses a `Retry-After` header (RFC 9110 §10.2.3): delay-seconds or an HTTP-date.
 * Returns the wait in ms (≥ 0; a date in the past is 0), or `undefined` when absent or malformed.
 *
 * @example
 * parseRetryAfter('120', Date.now()); // 120000
 */
export function parseRetryAfter(value: string | null | undefined, nowMs: number): number | undefined {
  if (typeof value !== 'string') return undefined;
  const text = value.trim();
  if (/^\d{1,12}$/.test(text)) return Number(text) * 1000;
  if (!IMF_FIXDATE.test(text) && !RFC850_DATE.test(text) && !ASCTIME_DATE.test(text)) return undefined;
  // asctime carries no zone; it is GMT by definition.
  const at = Date.parse(ASCTIME_DATE.test(text) ? `${text} GMT` : text);
  if (!Number.isFinite(at)) return undefined;
  return Math.max(0, Math.ceil(at - nowMs));
}

/** Statuses worth another attempt: the server or the path may recover (RFC 9110, RFC 6585). */
const RETRYABLE_STATUSES: ReadonlySet<number> = new Set([408, 409, 429]);

/** Error codes Node and undici give to transient network failures (for errors not wrapped by the client). */
const NETWORK_ERROR_CODES: ReadonlySet<string> = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'ENETUNREACH',
  'ENETDOWN',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);

function isRetryableStatus(status: number | undefined): boolean {
  return status !== undefined && (RETRYABLE_STATUSES.has(status) || (status >= 500 && status <= 599));
}

/**
 * True when another attempt may succeed: network errors, timeouts, 408, 409, 429 and 5xx.
 * False for 400/401/413/415/422 and other 4xx, local refusals (body too large, invalid signal),
 * an invalid 2xx body (the server stored the signal; a repeat gets the same answer), the caller's
 * abort, a closed or disabled client, and programmer errors (TypeError/RangeError not from the network).
 */
export function isRetryable(error: unknown): boolean {
  if (isOutboundError(error)) {
    switch (error.code) {
      case 'OUTBOUND_NETWORK_ERROR':
      case 'OUTBOUND_TIMEOUT':
        return true;
      case 'OUTBOUND_HTTP_ERROR':
        return isRetryableStatus((error as { httpCode?: number }).httpCode);
      default:
        return false;
    }
  }
  if (typeof error !== 'object' || error === null) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && NETWORK_ERROR_CODES.has(code)) return true;
  // fetch() reports network failures as TypeError('fetch failed') with the socket error as cause.
  if (error instanceof TypeError && error.message === 'fetch failed') return true;
  return false;
}

/**
 * True when sending the same request again can never succeed: a 4xx other than 408/409/429, or a
 * local refusal (body too large, invalid signal, invalid 2xx body, invalid config or signature).
 * Neither retryable nor permanent: the caller's abort, a closed client and a disabled client (the
 * request was stopped, not refused), and anything that is not an `OutboundError`.
 */
export function isPermanent(error: unknown): boolean {
  if (!isOutboundError(error)) return false;
  switch (error.code) {
    case 'OUTBOUND_HTTP_ERROR': {
      const status = (error as { httpCode?: number }).httpCode;
      return status !== undefined && status >= 400 && status <= 499 && !isRetryableStatus(status);
    }
    case 'OUTBOUND_BODY_TOO_LARGE':
    case 'OUTBOUND_INVALID_SIGNAL':
    case 'OUTBOUND_INVALID_RESPONSE':
    case 'OUTBOUND_CONFIG_INVALID':
    case 'OUTBOUND_SIGNATURE_INVALID':
      return true;
    default:
      return false;
  }
}

/** What to do after a failed attempt. */
export type RetryDecision =
  | { readonly retry: true; readonly delayMs: number }
  | { readonly retry: false; readonly reason: 'not-retryable' | 'attempts-exhausted' | 'deadline' };

export interface RetryInput {
  /** The error of the attempt that just failed. */
  readonly error: unknown;
  /** Attempts made so far, the failed one included (1-based). */
  readonly attempt: number;
  /** Time since the first attempt started, in ms. */
  readonly elapsedMs: number;
  readonly options: RetryOptions;
  readonly random: () => number;
  /**
   * Which failures are worth another attempt, for a caller whose errors carry their own classification.
   * @default {@link isRetryable}
   */
  readonly isRetryable?: ((error: unknown) => boolean) | undefined;
  /**
   * `'full'`: a backoff wait is random in [0, ceiling). `'none'`: it is the ceiling itself,
   * `min(maxDelayMs, baseDelayMs·2^(attempt-1))`, for a caller that is the only sender on its path and
   * paces itself (nobody to spread out from). A server's `retryAfterMs` is never jittered either way.
   * @default 'full'
   */
  readonly jitter?: 'full' | 'none' | undefined;
}

/**
 * Decides whether to retry after a failed attempt and how long to wait first.
 * A server's `retryAfterMs` (from `Retry-After`, or any error that carries one) replaces the backoff,
 * capped at `maxRetryAfterMs`; a retry whose wait would end past `deadlineMs` is refused.
 *
 * @example
 * const d = decideRetry({ error, attempt: 1, elapsedMs: 120, options: DEFAULT_RETRY, random: Math.random });
 * if (d.retry) await sleep(d.delayMs);
 */
export function decideRetry(input: RetryInput): RetryDecision {
  const { error, attempt, elapsedMs, options, random } = input;
  if (!(input.isRetryable ?? isRetryable)(error)) return { retry: false, reason: 'not-retryable' };
  if (attempt >= options.limit) return { retry: false, reason: 'attempts-exhausted' };
  const retryAfterMs = (error as { retryAfterMs?: unknown }).retryAfterMs;
  const delayMs =
    typeof retryAfterMs === 'number' && Number.isFinite(retryAfterMs) && retryAfterMs >= 0
      ? Math.min(retryAfterMs, options.maxRetryAfterMs)
      : input.jitter === 'none'
        ? backoffCeiling(attempt, options)
        : backoffDelay(attempt, options, random);
  if (options.deadlineMs !== undefined && elapsedMs + delayMs >= options.deadlineMs) {
    return { retry: false, reason: 'deadline' };
  }
  return { retry: true, delayMs };
}

/** What the runner tells each attempt. */
export interface AttemptInfo {
  /** This attempt's number, 1-based, counting the attempts made before a `resume`. */
  readonly attempt: number;
  /**
   * What is left of `deadlineMs` for this attempt, in ms: `undefined` for the first attempt (it always
   * gets its full timeout) and without a deadline. A retry's timeout should be cut to it.
   */
  readonly remainingMs: number | undefined;
}

/** One failed attempt and what the policy decided about it. */
export interface RetryFailure {
  readonly ok: false;
  readonly error: unknown;
  readonly attempt: number;
  readonly decision: RetryDecision;
  /** `clock()` when the failure was seen. */
  readonly at: number;
  /** `clock()` when this attempt started. */
  readonly attemptStartedAt: number;
  /** Since the first attempt of the delivery started (before a `resume`, too), in ms. */
  readonly elapsedMs: number;
}

/** A successful run: the attempt's value, which attempt it was, and when it ended. */
export interface RetrySuccess<T> {
  readonly ok: true;
  readonly value: T;
  readonly attempt: number;
  readonly at: number;
  readonly attemptStartedAt: number;
  /** `clock()` when the first attempt of the delivery started. */
  readonly startedAt: number;
}

/** Options of {@link runRetry}. */
export interface RetryRunOptions {
  /** The policy, e.g. `resolveRetryOptions({ limit: 3 })`. */
  readonly retry: Readonly<RetryOptions>;
  /** Epoch ms now. @default Date.now */
  readonly clock?: () => number;
  /** Waits between attempts; must reject when `signal` aborts. @default setTimeout of node:timers/promises */
  readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Numbers in [0, 1) for the backoff jitter. @default Math.random */
  readonly random?: () => number;
  /** Which failures are worth another attempt ({@link RetryInput.isRetryable}). @default {@link isRetryable} */
  readonly isRetryable?: (error: unknown) => boolean;
  /** `'none'`: backoff waits are not jittered ({@link RetryInput.jitter}). @default 'full' */
  readonly jitter?: 'full' | 'none';
  /** Stops the run: no attempt starts once it has aborted (the run rejects with its reason), and a wait ends. */
  readonly signal?: AbortSignal;
  /**
   * Attempts already made and when the first one started, for a delivery whose earlier attempts
   * were recorded elsewhere (the outbox keeps them in its file): `limit` and `deadlineMs` count them.
   */
  readonly resume?: { readonly attempts: number; readonly firstAttemptAt: number | undefined };
  /**
   * `'sleep'`: wait out each retry's delay and attempt again, until success or a decision to stop.
   * `'return'`: make one attempt and return its failure with the decision, for a caller that
   * schedules the next attempt durably instead of waiting (the outbox).
   * @default 'sleep'
   */
  readonly schedule?: 'sleep' | 'return';
  /** Called after each failed attempt with the decision, before any wait (to log it); a throw ends the run. */
  readonly onFailure?: (failure: RetryFailure) => void;
}

/** `setTimeout` of node:timers/promises: waits `ms`, rejects when `signal` aborts. The runner's default sleep. */
export const abortableSleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  delay(ms, undefined, signal ? { signal } : {});

/**
 * Runs `attempt` until it succeeds or the policy says stop: each failure goes through
 * {@link decideRetry} (elapsed time counted from the first attempt), then the runner waits the
 * decided delay and tries again. Resolves to the success, or to the last failure with the reason to
 * stop (`decision.retry` false), or, with `schedule: 'return'`, to the first failure whatever the
 * decision. Rejects only when `signal` aborts, `sleep` rejects or `onFailure` throws.
 *
 * @example
 * const result = await runRetry(({ attempt }) => send(attempt), { retry: resolveRetryOptions({ limit: 3 }) });
 * if (!result.ok) throw result.error;
 */
export async function runRetry<T>(
  attempt: (info: AttemptInfo) => Promise<T>,
  options: RetryRunOptions,
): Promise<RetrySuccess<T> | RetryFailure> {
  const { retry, signal, resume, onFailure } = options;
  const clock = options.clock ?? Date.now;
  const sleep = options.sleep ?? abortableSleep;
  const random = options.random ?? Math.random;
  let startedAt = resume?.firstAttemptAt;
  for (let n = (resume?.attempts ?? 0) + 1; ; n++) {
    if (signal?.aborted) throw signal.reason;
    const attemptStartedAt = clock();
    startedAt ??= attemptStartedAt;
    const remainingMs =
      retry.deadlineMs === undefined || n === 1
        ? undefined
        : retry.deadlineMs - (attemptStartedAt - startedAt);
    let value: T;
    try {
      value = await attempt({ attempt: n, remainingMs });
    } catch (error) {
      const at = clock();
      const elapsedMs = at - startedAt;
      const decision = decideRetry({
        error,
        attempt: n,
        elapsedMs,
        options: retry,
        random,
        isRetryable: options.isRetryable,
        jitter: options.jitter,
      });
      const failure: RetryFailure = {
        ok: false,
        error,
        attempt: n,
        decision,
        at,
        attemptStartedAt,
        elapsedMs,
      };
      onFailure?.(failure);
      if (!decision.retry || options.schedule === 'return') return failure;
      await sleep(decision.delayMs, signal);
      continue;
    }
    return { ok: true, value, attempt: n, at: clock(), attemptStartedAt, startedAt };
  }
}
