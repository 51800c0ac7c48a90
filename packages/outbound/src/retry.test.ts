import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  OutboundClientError,
  type OutboundClientErrorCode,
  OutboundConfigError,
  OutboundDisabledError,
  OutboundSignatureError,
  OutboundTimeoutError,
  SignalValidationError,
} from './errors.js';
import {
  type AttemptInfo,
  backoffDelay,
  DEFAULT_RETRY,
  decideRetry,
  isPermanent,
  isRetryable,
  parseRetryAfter,
  type RetryFailure,
  type RetryOptions,
  resolveRetryOptions,
  runRetry,
} from './retry.js';
import { fakeTime } from './test-helpers/fake-time.js';

const URL_ = 'http://127.0.0.1:8080/api/v1/signals/ingest';

function clientError(
  code: OutboundClientErrorCode,
  httpCode?: number,
  retryAfterMs?: number,
): OutboundClientError {
  return new OutboundClientError('test', {
    code,
    method: 'POST',
    url: URL_,
    attempts: 1,
    httpCode,
    retryAfterMs,
  });
}
const http = (status: number, retryAfterMs?: number) =>
  clientError('OUTBOUND_HTTP_ERROR', status, retryAfterMs);
const timeout = () => new OutboundTimeoutError('t', { method: 'POST', url: URL_, attempts: 1, timeoutMs: 5 });
const OPTIONS: RetryOptions = {
  limit: 5,
  baseDelayMs: 100,
  maxDelayMs: 1_000,
  maxRetryAfterMs: 5_000,
  deadlineMs: 10_000,
};

describe('resolveRetryOptions', () => {
  it('returns the defaults when given nothing', () => {
    expect(resolveRetryOptions()).toEqual({
      limit: 5,
      baseDelayMs: 200,
      maxDelayMs: 10_000,
      maxRetryAfterMs: 60_000,
      deadlineMs: 60_000,
    });
    expect(Object.isFrozen(DEFAULT_RETRY)).toBe(true);
  });

  it('applies a partial over the defaults', () => {
    expect(resolveRetryOptions({ limit: 3 })).toEqual({ ...DEFAULT_RETRY, limit: 3 });
  });

  it('applies a partial over a given base', () => {
    expect(resolveRetryOptions({ baseDelayMs: 0 }, { ...DEFAULT_RETRY, limit: 2 })).toEqual({
      ...DEFAULT_RETRY,
      limit: 2,
      baseDelayMs: 0,
    });
  });

  it('removes the deadline on an explicit deadlineMs: undefined and keeps it when the key is missing', () => {
    expect(resolveRetryOptions({ deadlineMs: undefined }).deadlineMs).toBeUndefined();
    expect(resolveRetryOptions({}).deadlineMs).toBe(60_000);
  });

  it.each([
    [{ limit: 0 }, RangeError, 'Expected `limit` to be ≥ 1'],
    [{ limit: 1.5 }, RangeError, 'Expected `limit` to be an integer'],
    [{ limit: Number.POSITIVE_INFINITY }, RangeError, 'Expected `limit` to be a finite number'],
    [{ limit: '3' }, TypeError, 'Expected `limit` to be a number, received "3"'],
    [{ baseDelayMs: -1 }, RangeError, 'Expected `baseDelayMs` to be ≥ 0'],
    [{ maxDelayMs: Number.NaN }, TypeError, 'Expected `maxDelayMs` to be a number, received NaN'],
    [{ maxRetryAfterMs: -5 }, RangeError, 'Expected `maxRetryAfterMs` to be ≥ 0'],
    // setTimeout fires a longer wait after 1 ms: the cap would turn into a tight retry loop.
    [{ maxDelayMs: 2 ** 31 }, RangeError, 'Expected `maxDelayMs` to be ≤ 2147483647'],
    [{ maxRetryAfterMs: 2 ** 31 }, RangeError, 'Expected `maxRetryAfterMs` to be ≤ 2147483647'],
    [{ deadlineMs: 0 }, RangeError, 'Expected `deadlineMs` to be ≥ 1'],
    [{ deadlineMs: null }, TypeError, 'Expected `deadlineMs` to be a number, received null'],
    [{ retries: 3 }, TypeError, 'Unknown retry option `retries`; use `limit`'],
    [{ totalTimeout: 3 }, TypeError, 'Unknown retry option `totalTimeout`; use `deadlineMs`'],
    [
      { jitter: true },
      TypeError,
      'Unknown retry option `jitter`; expected one of `limit`, `baseDelayMs`, `maxDelayMs`, `maxRetryAfterMs`, `deadlineMs`',
    ],
  ])('refuses %o', (partial, type, message) => {
    expect(() => resolveRetryOptions(partial as Partial<RetryOptions>)).toThrow(new type(message));
  });
});

describe('backoffDelay', () => {
  it('doubles the ceiling per attempt and applies full jitter', () => {
    expect(backoffDelay(1, OPTIONS, () => 0.5)).toBe(50);
    expect(backoffDelay(2, OPTIONS, () => 0.5)).toBe(100);
    expect(backoffDelay(3, OPTIONS, () => 0.5)).toBe(200);
    expect(backoffDelay(3, OPTIONS, () => 0)).toBe(0);
  });

  it('caps the ceiling at maxDelayMs, however many attempts', () => {
    expect(backoffDelay(5, OPTIONS, () => 0.999)).toBe(999);
    expect(backoffDelay(2000, OPTIONS, () => 0.5)).toBe(500);
  });

  it('is 0 when baseDelayMs is 0, even after very many attempts', () => {
    expect(backoffDelay(2000, { ...OPTIONS, baseDelayMs: 0 }, () => 0.5)).toBe(0);
  });

  it('refuses an attempt number below 1', () => {
    expect(() => backoffDelay(0, OPTIONS, Math.random)).toThrow(
      new RangeError('Expected `attempt` to be an integer ≥ 1, received 0'),
    );
  });

  it('stays within [0, min(maxDelayMs, baseDelayMs·2^(attempt-1))] for any attempt, options and random value', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5000 }),
        fc.integer({ min: 0, max: 100_000 }),
        fc.integer({ min: 0, max: 1_000_000 }),
        fc.double({ min: -1, max: 2, noNaN: false }),
        (attempt, baseDelayMs, maxDelayMs, r) => {
          const options = { ...OPTIONS, baseDelayMs, maxDelayMs };
          const d = backoffDelay(attempt, options, () => r);
          // 0 · 2^1024 is NaN: a zero base means no wait at all.
          const ceiling = baseDelayMs === 0 ? 0 : Math.min(maxDelayMs, baseDelayMs * 2 ** (attempt - 1));
          return Number.isInteger(d) && d >= 0 && d <= ceiling;
        },
      ),
    );
  });

  it('never decreases in its ceiling as attempts grow (same random value)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 60 }),
        fc.double({ min: 0, max: 0.999999, noNaN: true }),
        (a, r) => {
          return backoffDelay(a + 1, OPTIONS, () => r) >= backoffDelay(a, OPTIONS, () => r);
        },
      ),
    );
  });
});

describe('parseRetryAfter', () => {
  const now = Date.UTC(2025, 9, 25, 14, 30, 45);

  it.each([
    ['120', 120_000],
    ['0', 0],
    [' 3 ', 3_000],
    ['Sat, 25 Oct 2025 14:31:45 GMT', 60_000],
    ['Saturday, 25-Oct-25 14:31:45 GMT', 60_000],
    ['Sat Oct 25 14:31:45 2025', 60_000],
    ['Sat Oct  5 14:31:45 2025', 0],
    ['Sat, 25 Oct 2025 14:29:45 GMT', 0],
  ])('reads %j as %d ms', (value, ms) => {
    expect(parseRetryAfter(value, now)).toBe(ms);
  });

  it.each([
    [null],
    [undefined],
    [''],
    ['-1'],
    ['1.5'],
    ['soon'],
    ['2025-10-25T14:31:45Z'],
    ['Sat, 25 Oct 2025'],
  ])('reads %j as absent', (value) => {
    expect(parseRetryAfter(value, now)).toBeUndefined();
  });
});

describe('isRetryable and isPermanent', () => {
  const table: [string, unknown, boolean, boolean][] = [
    ['a network error', clientError('OUTBOUND_NETWORK_ERROR'), true, false],
    ['a timeout', timeout(), true, false],
    ['408', http(408), true, false],
    ['409', http(409), true, false],
    ['429', http(429), true, false],
    ['500', http(500), true, false],
    ['503', http(503), true, false],
    ['599', http(599), true, false],
    ['400', http(400), false, true],
    ['401', http(401), false, true],
    ['403', http(403), false, true],
    ['413', http(413), false, true],
    ['415', http(415), false, true],
    ['422', http(422), false, true],
    ['a redirect (302)', http(302), false, false],
    ['a body too large for maxBodySize', clientError('OUTBOUND_BODY_TOO_LARGE'), false, true],
    ['an invalid 2xx body', clientError('OUTBOUND_INVALID_RESPONSE', 201), false, true],
    ['an invalid signal', new SignalValidationError(['side: expected "buy" or "sell"']), false, true],
    ['an invalid config', new OutboundConfigError([]), false, true],
    ['a bad signature', new OutboundSignatureError('x'), false, true],
    ["the caller's abort", clientError('OUTBOUND_ABORTED'), false, false],
    ['a closed client', clientError('OUTBOUND_CLIENT_CLOSED'), false, false],
    ['a disabled client', new OutboundDisabledError(), false, false],
    ['a raw ECONNRESET', Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }), true, false],
    [
      'a raw undici socket error',
      Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' }),
      true,
      false,
    ],
    ["fetch's network TypeError", new TypeError('fetch failed'), true, false],
    ['a programmer TypeError', new TypeError('x is not a function'), false, false],
    ['a RangeError', new RangeError('Expected `limit` to be ≥ 1'), false, false],
    ['a string', 'boom', false, false],
    ['null', null, false, false],
  ];
  it.each(table)('%s: retryable %s, permanent %s', (_name, error, retryable, permanent) => {
    expect(isRetryable(error)).toBe(retryable);
    expect(isPermanent(error)).toBe(permanent);
  });
});

describe('decideRetry', () => {
  const base = { attempt: 1, elapsedMs: 0, options: OPTIONS, random: () => 0.5 };

  it('retries a retryable error after the jittered backoff', () => {
    expect(decideRetry({ ...base, error: http(503) })).toEqual({ retry: true, delayMs: 50 });
    expect(decideRetry({ ...base, attempt: 3, error: timeout() })).toEqual({ retry: true, delayMs: 200 });
  });

  it('does not retry a permanent error', () => {
    expect(decideRetry({ ...base, error: http(422) })).toEqual({ retry: false, reason: 'not-retryable' });
  });

  it('stops once the attempt limit is reached', () => {
    expect(decideRetry({ ...base, attempt: 5, error: http(503) })).toEqual({
      retry: false,
      reason: 'attempts-exhausted',
    });
  });

  it('honours Retry-After instead of the backoff', () => {
    expect(decideRetry({ ...base, error: http(429, 2_000) })).toEqual({ retry: true, delayMs: 2_000 });
  });

  it('honours Retry-After: 0 and retries immediately', () => {
    expect(decideRetry({ ...base, error: http(503, 0) })).toEqual({ retry: true, delayMs: 0 });
  });

  it('clamps Retry-After to maxRetryAfterMs', () => {
    expect(decideRetry({ ...base, error: http(429, 3_600_000) })).toEqual({ retry: true, delayMs: 5_000 });
  });

  it('refuses a retry whose wait would reach the deadline', () => {
    expect(decideRetry({ ...base, elapsedMs: 9_000, error: http(429, 1_000) })).toEqual({
      retry: false,
      reason: 'deadline',
    });
    expect(decideRetry({ ...base, elapsedMs: 8_999, error: http(429, 1_000) })).toEqual({
      retry: true,
      delayMs: 1_000,
    });
  });

  it("with jitter: 'none', waits the whole backoff ceiling whatever the random source says", () => {
    const options = { ...OPTIONS, limit: 9 };
    const waits = [1, 2, 3, 4, 5, 8].map((attempt) =>
      decideRetry({ ...base, attempt, options, jitter: 'none', random: () => 0, error: http(503) }),
    );
    // 100·2^(n-1), capped at maxDelayMs (1 s).
    expect(waits.map((d) => d.retry && d.delayMs)).toEqual([100, 200, 400, 800, 1_000, 1_000]);
    // A server's delay is used as given, jitter or not.
    expect(decideRetry({ ...base, jitter: 'none', error: http(429, 1_234) })).toEqual({
      retry: true,
      delayMs: 1_234,
    });
  });

  it('classifies with the caller’s isRetryable instead of the default, when given', () => {
    const own = Object.assign(new Error('own'), { retryable: true, retryAfterMs: 700 });
    const ownRetryable = (error: unknown) => (error as { retryable?: unknown }).retryable === true;
    expect(decideRetry({ ...base, error: own })).toEqual({ retry: false, reason: 'not-retryable' });
    expect(decideRetry({ ...base, error: own, isRetryable: ownRetryable })).toEqual({
      retry: true,
      delayMs: 700,
    });
    // The default would retry a 503; the caller's classifier says no.
    expect(decideRetry({ ...base, error: http(503), isRetryable: ownRetryable })).toEqual({
      retry: false,
      reason: 'not-retryable',
    });
  });

  it('has no deadline when deadlineMs is undefined', () => {
    const options = { ...OPTIONS, deadlineMs: undefined };
    expect(decideRetry({ ...base, options, elapsedMs: 1e12, error: http(500) })).toEqual({
      retry: true,
      delayMs: 50,
    });
  });

  it('never schedules a wait past the deadline or over the caps, for any input', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 0, max: 20_000 }),
        fc.option(fc.integer({ min: 0, max: 10_000_000 }), { nil: undefined }),
        fc.double({ min: 0, max: 0.999999, noNaN: true }),
        (attempt, elapsedMs, retryAfterMs, r) => {
          const d = decideRetry({
            error: http(503, retryAfterMs),
            attempt,
            elapsedMs,
            options: OPTIONS,
            random: () => r,
          });
          if (!d.retry) return true;
          const cap = retryAfterMs === undefined ? OPTIONS.maxDelayMs : OPTIONS.maxRetryAfterMs;
          return (
            d.delayMs >= 0 && d.delayMs <= cap && elapsedMs + d.delayMs < 10_000 && attempt < OPTIONS.limit
          );
        },
      ),
    );
  });
});

describe('runRetry', () => {
  /** An attempt that always fails with `error`, recording what the runner told each call. */
  function failing(error: () => Error) {
    const calls: AttemptInfo[] = [];
    const attempt = async (info: AttemptInfo): Promise<never> => {
      calls.push(info);
      throw error();
    };
    return { calls, attempt };
  }

  it('attempts again after each retryable failure, waiting the decided delay, until one succeeds', async () => {
    const { time, clock, sleep } = fakeTime(1_000);
    const errors = [http(503), timeout()];
    const seen: number[] = [];
    const result = await runRetry(
      async ({ attempt }) => {
        seen.push(attempt);
        const error = errors.shift();
        if (error) throw error;
        return 'ok';
      },
      { retry: OPTIONS, clock, sleep, random: () => 0.5 },
    );
    expect(seen).toEqual([1, 2, 3]);
    // Full jitter at 0.5: half of 100 ms, then half of 200 ms.
    expect(time.delays).toEqual([50, 100]);
    expect(result).toEqual({
      ok: true,
      value: 'ok',
      attempt: 3,
      at: 1_150,
      attemptStartedAt: 1_150,
      startedAt: 1_000,
    });
  });

  it('stops at a permanent failure without waiting, and returns it with the reason', async () => {
    const { time, clock, sleep } = fakeTime(1_000);
    const failures: RetryFailure[] = [];
    const result = await runRetry(failing(() => http(422)).attempt, {
      retry: OPTIONS,
      clock,
      sleep,
      onFailure: (f) => failures.push(f),
    });
    expect(time.delays).toEqual([]);
    expect(result.ok).toBe(false);
    expect(!result.ok && result.decision).toEqual({ retry: false, reason: 'not-retryable' });
    expect(failures).toHaveLength(1);
    expect(failures[0]?.error).toBe(!result.ok && result.error);
  });

  it('stops after `limit` attempts', async () => {
    const { time, clock, sleep } = fakeTime(1_000);
    const { calls, attempt } = failing(() => http(503));
    const result = await runRetry(attempt, {
      retry: { ...OPTIONS, limit: 3 },
      clock,
      sleep,
      random: () => 0,
    });
    expect(calls.map((c) => c.attempt)).toEqual([1, 2, 3]);
    expect(time.delays).toEqual([0, 0]);
    expect(!result.ok && result.decision).toEqual({ retry: false, reason: 'attempts-exhausted' });
  });

  it('gives a retry what is left of the deadline, and the first attempt nothing to cut', async () => {
    const { clock, sleep } = fakeTime(1_000);
    const { calls, attempt } = failing(() => http(503, 1_500));
    await runRetry(attempt, { retry: { ...OPTIONS, deadlineMs: 4_000 }, clock, sleep });
    // Retry-After 1.5 s each time: attempts at 0, 1.5 s and 3 s; a fourth would start at 4.5 s.
    expect(calls.map((c) => c.remainingMs)).toEqual([undefined, 2_500, 1_000]);
  });

  it("with schedule: 'return', makes one attempt and returns the decision instead of waiting", async () => {
    const { time, clock, sleep } = fakeTime(1_000);
    const { calls, attempt } = failing(() => http(503));
    const result = await runRetry(attempt, {
      retry: OPTIONS,
      clock,
      sleep,
      random: () => 0.5,
      schedule: 'return',
    });
    expect(calls).toHaveLength(1);
    expect(time.delays).toEqual([]);
    expect(!result.ok && result.decision).toEqual({ retry: true, delayMs: 50 });
  });

  it('resumes the count: `limit` and `deadlineMs` include the attempts made before', async () => {
    const { time, clock, sleep } = fakeTime(1_000);
    const { calls, attempt } = failing(() => http(503));
    const exhausted = await runRetry(attempt, {
      retry: OPTIONS,
      clock,
      sleep,
      schedule: 'return',
      resume: { attempts: 4, firstAttemptAt: 0 },
    });
    expect(calls.map((c) => c.attempt)).toEqual([5]);
    expect(!exhausted.ok && exhausted.decision).toEqual({ retry: false, reason: 'attempts-exhausted' });
    expect(!exhausted.ok && exhausted.elapsedMs).toBe(time.now);

    const late = await runRetry(failing(() => http(503)).attempt, {
      retry: OPTIONS,
      clock,
      sleep,
      schedule: 'return',
      resume: { attempts: 1, firstAttemptAt: time.now - 9_999 },
    });
    expect(!late.ok && late.decision).toEqual({ retry: false, reason: 'deadline' });
  });

  it('passes isRetryable and jitter on to the policy', async () => {
    const { time, clock, sleep } = fakeTime(1_000);
    const busy = () => Object.assign(new Error('busy'), { retryable: true });
    const { calls, attempt } = failing(busy);
    const result = await runRetry(attempt, {
      retry: { ...OPTIONS, limit: 4 },
      clock,
      sleep,
      random: () => 0.5,
      jitter: 'none',
      isRetryable: (error) => (error as { retryable?: unknown }).retryable === true,
    });
    expect(calls).toHaveLength(4);
    expect(time.delays).toEqual([100, 200, 400]);
    expect(!result.ok && result.decision).toEqual({ retry: false, reason: 'attempts-exhausted' });
  });

  it('rejects with the reason once its signal has aborted, and passes the signal to sleep', async () => {
    const controller = new AbortController();
    const reason = new Error('stop');
    const { calls, attempt } = failing(timeout);
    const run = runRetry(attempt, {
      retry: OPTIONS,
      signal: controller.signal,
      sleep: async (_ms, signal) => {
        expect(signal).toBe(controller.signal);
        controller.abort(reason);
      },
    });
    await expect(run).rejects.toBe(reason);
    expect(calls).toHaveLength(1);
  });
});
