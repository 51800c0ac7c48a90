// Subscriber-side Prometheus metrics, on a registry the caller owns (never prom-client's global one).
import { Counter, Gauge, type Registry } from 'prom-client';

/** The metric names, in one place so docs and dashboards can refer to them. */
export const SUBSCRIBER_METRIC_NAMES = Object.freeze({
  events: 'sigpost_subscriber_events_total',
  reconnects: 'sigpost_subscriber_reconnects_total',
  connected: 'sigpost_subscriber_connected',
  lagSeq: 'sigpost_subscriber_lag_seq',
  lagSeconds: 'sigpost_subscriber_lag_seconds',
  cursorSeq: 'sigpost_subscriber_cursor_seq',
} as const);

/** The `outcome` label of `sigpost_subscriber_events_total`. */
export type EventOutcome = 'handled' | 'duplicate' | 'stale_skipped' | 'unknown_type';

/** The `reason` label of `sigpost_subscriber_reconnects_total`. */
export type ReconnectReason = 'closed' | 'network' | 'silent' | 'refused';

export interface SubscriberMetrics {
  /** `sigpost_subscriber_events_total{outcome}`: events received, by what became of them. */
  readonly events: Counter<'outcome'>;
  /** `sigpost_subscriber_reconnects_total{reason}`: reconnects scheduled. */
  readonly reconnects: Counter<'reason'>;
  /** `sigpost_subscriber_connected`: 1 while a connection is open and past `hello`. */
  readonly connected: Gauge;
  /** `sigpost_subscriber_lag_seq`: highest seq known on the server minus the last seq handled. */
  readonly lagSeq: Gauge;
  /** `sigpost_subscriber_lag_seconds`: now minus the event time (`at`) of the last event handled, when handled. */
  readonly lagSeconds: Gauge;
  /** `sigpost_subscriber_cursor_seq`: the last seq handled (and saved). */
  readonly cursorSeq: Gauge;
}

const shared = new WeakMap<Registry, SubscriberMetrics>();

/**
 * The subscriber metrics on `registry`, created on first use. Several subscribers given the same
 * registry share them (counters add up; the gauges show the subscriber that updated them last).
 */
export function createSubscriberMetrics(registry: Registry): SubscriberMetrics {
  const existing = shared.get(registry);
  if (existing) return existing;
  const registers = [registry];
  const metrics: SubscriberMetrics = Object.freeze({
    events: new Counter({
      name: SUBSCRIBER_METRIC_NAMES.events,
      help: 'Stream events received, by outcome (handled, duplicate, stale_skipped, unknown_type).',
      labelNames: ['outcome'] as const,
      registers,
    }),
    reconnects: new Counter({
      name: SUBSCRIBER_METRIC_NAMES.reconnects,
      help: 'Reconnects scheduled, by reason (closed, network, silent, refused).',
      labelNames: ['reason'] as const,
      registers,
    }),
    connected: new Gauge({
      name: SUBSCRIBER_METRIC_NAMES.connected,
      help: '1 while connected to the stream (past hello), else 0.',
      registers,
    }),
    lagSeq: new Gauge({
      name: SUBSCRIBER_METRIC_NAMES.lagSeq,
      help: 'Highest seq known on the server minus the last seq handled.',
      registers,
    }),
    lagSeconds: new Gauge({
      name: SUBSCRIBER_METRIC_NAMES.lagSeconds,
      help: 'Seconds between the last handled event and its handling.',
      registers,
    }),
    cursorSeq: new Gauge({
      name: SUBSCRIBER_METRIC_NAMES.cursorSeq,
      help: 'The last seq handled.',
      registers,
    }),
  });
  shared.set(registry, metrics);
  return metrics;
}
