import type { TextSink } from './io.js';

export interface ProgressOptions {
  /** How many items the work has. */
  readonly total: number;
  /** Where the bar is drawn: stderr, so that stdout stays clean for results. */
  readonly stream: TextSink;
  /** Draw the bar only on a terminal; elsewhere only `log` lines and the summary are written. */
  readonly isTTY: boolean;
  /** Milliseconds, for the rate and the ETA. */
  readonly now: () => number;
  /**
   * Least time between two redraws, in ms, so that thousands of ticks do not flood the terminal.
   * @default 100
   */
  readonly throttleMs?: number;
  /**
   * Width of the bar itself, in characters.
   * @default 24
   */
  readonly width?: number;
}

// Carriage return + "erase line" (ECMA-48 EL 2): the bar is redrawn in place.
const CLEAR_LINE = '\r\x1b[2K';

/**
 * A one-line progress bar for long work: `[#########---------------] 42/100  35.2/s  ETA 2s`.
 * Drawn on a terminal only, at most every `throttleMs`; `finish` always writes a plain summary line.
 *
 * @example
 * const bar = new ProgressBar({ total: lines, stream: io.stderr, isTTY: io.isTTY, now: Date.now });
 * for (const item of items) { await work(item); bar.tick(); }
 * bar.finish(`sent ${lines} in ${formatDuration(bar.elapsedMs())}`);
 */
export class ProgressBar {
  readonly #options: ProgressOptions;
  readonly #startedAt: number;
  #done = 0;
  #lastDrawAt = Number.NEGATIVE_INFINITY;
  #drawn = false;

  constructor(options: ProgressOptions) {
    this.#options = options;
    this.#startedAt = options.now();
  }

  /** Items finished so far. */
  get done(): number {
    return this.#done;
  }

  /** Milliseconds since the bar was created. */
  elapsedMs(): number {
    return this.#options.now() - this.#startedAt;
  }

  /** Counts finished items, and redraws when the throttle allows (always on the last item). */
  tick(count = 1): void {
    this.#done += count;
    if (!this.#options.isTTY) return;
    const now = this.#options.now();
    const last = this.#done >= this.#options.total;
    if (!last && now - this.#lastDrawAt < (this.#options.throttleMs ?? 100)) return;
    this.#lastDrawAt = now;
    this.#draw(now);
  }

  /** Writes a line (a per-item error) above the bar, then redraws the bar under it. */
  log(line: string): void {
    if (!this.#drawn) {
      this.#options.stream.write(`${line}\n`);
      return;
    }
    this.#options.stream.write(`${CLEAR_LINE}${line}\n`);
    this.#draw(this.#options.now());
  }

  /** Removes the bar and writes the summary line, on a terminal or not. */
  finish(summary: string): void {
    this.#options.stream.write(`${this.#drawn ? CLEAR_LINE : ''}${summary}\n`);
    this.#drawn = false;
  }

  /** The bar's text at a given time (no control characters). */
  render(now: number): string {
    const { total } = this.#options;
    const width = this.#options.width ?? 24;
    const fraction = total > 0 ? Math.min(1, this.#done / total) : 1;
    const filled = Math.round(fraction * width);
    const seconds = (now - this.#startedAt) / 1000;
    const rate = seconds > 0 ? this.#done / seconds : undefined;
    const left = total - this.#done;
    const eta = left <= 0 ? '0s' : rate ? formatDuration((left / rate) * 1000, 0) : '?';
    const rateText = rate === undefined ? '–/s' : `${rate.toFixed(1)}/s`;
    return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${this.#done}/${total}  ${rateText}  ETA ${eta}`;
  }

  #draw(now: number): void {
    this.#options.stream.write(`${CLEAR_LINE}${this.render(now)}`);
    this.#drawn = true;
  }
}

/**
 * A duration for people: `0.4s`, `12.3s`, `2m05s`, `1h02m`.
 * @param digits decimals of the seconds under a minute.
 */
export function formatDuration(ms: number, digits = 1): string {
  const seconds = Math.max(0, ms) / 1000;
  const shown = seconds.toFixed(digits);
  if (Number(shown) < 60) return `${shown}s`;
  const whole = Math.round(seconds);
  if (whole < 3600) return `${Math.floor(whole / 60)}m${String(whole % 60).padStart(2, '0')}s`;
  return `${Math.floor(whole / 3600)}h${String(Math.floor((whole % 3600) / 60)).padStart(2, '0')}m`;
}
