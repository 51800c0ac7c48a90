// Reconnect policy: pure (no timers), like the producer SDK's retry.ts (packages/outbound/src/retry.ts),
// which this package does not import so that a subscriber installs without the producer's dependencies.

/** How the subscriber waits between reconnects. */
export interface ReconnectOptions {
  /**
   * Base of the exponential backoff: the wait before reconnect n is random in [0, baseDelayMs·2^(n-1)).
   * @default 250
   */
  readonly baseDelayMs: number;
  /**
   * Cap on one wait, in ms.
   * @default 30_000
   */
  readonly maxDelayMs: number;
}

/** The reconnect defaults (ms). */
export const DEFAULT_RECONNECT: Readonly<ReconnectOptions> = Object.freeze({
  baseDelayMs: 250,
  maxDelayMs: 30_000,
});

/** The longest wait setTimeout can schedule. */
const MAX_TIMER_MS = 2_147_483_647;

/**
 * The wait before reconnect `attempt`, with full jitter (AWS "Exponential Backoff and Jitter"):
 * `random() · min(maxDelayMs, baseDelayMs · 2^(attempt-1))`, floored to whole ms.
 *
 * @param attempt failed connections in a row so far (1 after the first)
 * @param random a source of numbers in [0, 1) (`Math.random`; tests inject their own)
 */
export function reconnectDelay(attempt: number, options: ReconnectOptions, random: () => number): number {
  if (!Number.isInteger(attempt) || attempt < 1) {
    throw new RangeError(`Expected \`attempt\` to be an integer ≥ 1, received ${attempt}`);
  }
  const ceiling = Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** Math.min(attempt - 1, 1000));
  const r = random();
  const unit = Number.isFinite(r) ? Math.min(Math.max(r, 0), 1) : 0;
  return Math.min(Math.floor(unit * ceiling), ceiling);
}

/** Validates and completes reconnect options; throws TypeError/RangeError naming the option. */
export function resolveReconnectOptions(partial: Partial<ReconnectOptions> = {}): ReconnectOptions {
  const out = { ...DEFAULT_RECONNECT, ...partial };
  for (const key of ['baseDelayMs', 'maxDelayMs'] as const) {
    const value = out[key];
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      throw new TypeError(`Expected \`reconnect.${key}\` to be a finite number, received ${String(value)}`);
    }
    if (value < 0 || value > MAX_TIMER_MS) {
      throw new RangeError(`Expected \`reconnect.${key}\` to be from 0 to ${MAX_TIMER_MS}`);
    }
  }
  return out;
}
