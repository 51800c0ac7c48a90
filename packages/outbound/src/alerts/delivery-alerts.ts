// When delivery deserves a human's attention: a signal given up on (dead-letter), and failures that
// go on past a threshold, followed by one recovery message. Pure state plus a sink; no timers.
import type { AlertSink } from './alert.js';

/** Options of {@link DeliveryAlerts}. */
export interface DeliveryAlertsOptions {
  /**
   * Consecutive failed attempts that raise the "delivery failing" alert.
   * @default 5
   */
  readonly failureThreshold?: number;
  /**
   * Failing without a single success for this long (ms) also raises it, however few the attempts.
   * @default 60_000
   */
  readonly failureWindowMs?: number;
  /** Epoch ms now. @default Date.now */
  readonly clock?: () => number;
}

/** A signal that was given up on, as the alert describes it. */
export interface DeadLetterInfo {
  readonly idempotencyKey: string;
  readonly instrument: string;
  readonly attempts: number;
  /** The last error's message (messages never carry the secret or signature). */
  readonly lastError: string;
}

/**
 * Turns delivery outcomes into alerts on a sink: one per dead-lettered signal (critical), one when
 * failures persist past `failureThreshold` consecutive attempts or `failureWindowMs` (warning), and
 * one when a delivery succeeds again after that (resolved). The outbox's worker calls it; other
 * delivery loops can too.
 *
 * @example
 * const alerts = new DeliveryAlerts(TelegramAlertSink.fromEnv(process.env, { logger }) ?? NO_ALERTS);
 * await outbox.drain({ client, concurrency: 8, alerts });
 */
export class DeliveryAlerts {
  readonly #sink: AlertSink;
  readonly #threshold: number;
  readonly #windowMs: number;
  readonly #clock: () => number;
  #failures = 0;
  #failingSince: number | undefined;
  #alerting = false;

  constructor(sink: AlertSink, options: DeliveryAlertsOptions = {}) {
    const threshold = options.failureThreshold ?? 5;
    const windowMs = options.failureWindowMs ?? 60_000;
    if (!Number.isInteger(threshold) || threshold < 1) {
      throw new RangeError(`Expected \`failureThreshold\` to be an integer ≥ 1, received ${threshold}`);
    }
    if (!Number.isFinite(windowMs) || windowMs < 0) {
      throw new RangeError(`Expected \`failureWindowMs\` to be a finite number ≥ 0, received ${windowMs}`);
    }
    this.#sink = sink;
    this.#threshold = threshold;
    this.#windowMs = windowMs;
    this.#clock = options.clock ?? Date.now;
  }

  /** The sink alerts go to. */
  get sink(): AlertSink {
    return this.#sink;
  }

  /** Records a failed attempt; raises the "failing" alert when the threshold is crossed. */
  attemptFailed(errorMessage: string): void {
    const now = this.#clock();
    this.#failures += 1;
    this.#failingSince ??= now;
    if (this.#alerting) return;
    const failingForMs = now - this.#failingSince;
    if (this.#failures >= this.#threshold || failingForMs >= this.#windowMs) {
      this.#alerting = true;
      this.#sink.send({
        kind: 'delivery_failing',
        severity: 'warning',
        text: `Delivery failing: ${plural(this.#failures, 'consecutive failed attempt')} over ${seconds(failingForMs)}; last error: ${errorMessage}`,
        at: now,
      });
    }
  }

  /** Records a delivered signal; sends the recovery message when a "failing" alert was raised. */
  delivered(): void {
    const now = this.#clock();
    if (this.#alerting && this.#failingSince !== undefined) {
      this.#sink.send({
        kind: 'delivery_recovered',
        severity: 'resolved',
        text: `Delivery recovered: a signal was accepted after ${plural(this.#failures, 'failed attempt')} over ${seconds(now - this.#failingSince)}`,
        at: now,
      });
    }
    this.#failures = 0;
    this.#failingSince = undefined;
    this.#alerting = false;
  }

  /** Records a signal moved to dead-letter. */
  deadLettered(info: DeadLetterInfo): void {
    this.#sink.send({
      kind: 'dead_letter',
      severity: 'critical',
      text: `Signal moved to dead-letter after ${plural(info.attempts, 'attempt')}: ${info.instrument}, idempotency key ${info.idempotencyKey}; last error: ${info.lastError}`,
      at: this.#clock(),
    });
  }
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function seconds(ms: number): string {
  return `${Math.round(ms / 1000)} s`;
}
