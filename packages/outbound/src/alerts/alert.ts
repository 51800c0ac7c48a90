/** How urgent an alert is; `resolved` marks the end of an earlier `warning` or `critical`. */
export type AlertSeverity = 'critical' | 'warning' | 'resolved' | 'info';

/** What an alert is about. The delivery alerts use the first three; anything else is `custom`. */
export type AlertKind = 'dead_letter' | 'delivery_failing' | 'delivery_recovered' | 'custom';

/** One alert, as plain text: sinks format it, they never parse it. */
export interface Alert {
  readonly kind: AlertKind;
  readonly severity: AlertSeverity;
  /** The message, plain text (no markup); one line is best, several are allowed. */
  readonly text: string;
  /** When it happened, in epoch ms. */
  readonly at: number;
}

/**
 * Where alerts go. `send` never blocks and never throws: it queues the alert and returns, so alerting
 * can never slow or break delivery. `flush` waits until everything queued has been handed over (or
 * given up on, which the sink logs); `close` stops accepting alerts and flushes, without waiting out
 * a pause before a retry (what waits for one is given up on).
 *
 * @example
 * const sink: AlertSink = TelegramAlertSink.fromEnv(process.env, { logger }) ?? NO_ALERTS;
 * sink.send({ kind: 'custom', severity: 'info', text: 'producer started', at: Date.now() });
 * await sink.close();
 */
export interface AlertSink {
  send(alert: Alert): void;
  flush(): Promise<void>;
  close(): Promise<void>;
}

/** A sink that discards every alert: the default when no alerting is configured. */
export const NO_ALERTS: AlertSink = Object.freeze({
  send(): void {},
  flush: () => Promise.resolve(),
  close: () => Promise.resolve(),
});
