// Producer-side Prometheus metrics. They live on a registry the caller owns (a new one by default),
// never on prom-client's global registry, so embedding the SDK cannot collide with the host's metrics.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { isOutboundError } from './errors.js';

/** The states an outbox entry can be in, as the `state` label of `sigpost_outbox_entries`. */
export const OUTBOX_STATES = Object.freeze(['pending', 'in_flight', 'delivered', 'dead'] as const);

export type OutboxStateLabel = (typeof OUTBOX_STATES)[number];

/** What one delivery attempt led to: accepted, scheduled again, or given up on. */
export type AttemptOutcome = 'delivered' | 'retry' | 'failed';

/** A snapshot of an outbox for the depth gauges: entry counts per state and the oldest pending age. */
export interface OutboxDepth {
  readonly counts: Readonly<Record<OutboxStateLabel, number>>;
  /** Age of the oldest pending entry in ms; `null` when nothing is pending. */
  readonly oldestPendingAgeMs: number | null;
}

/** The metric names, in one place so docs and dashboards can refer to them. */
export const METRIC_NAMES = Object.freeze({
  attempts: 'sigpost_outbound_attempts_total',
  attemptDuration: 'sigpost_outbound_attempt_duration_seconds',
  retries: 'sigpost_outbound_retries_total',
  deliveries: 'sigpost_outbound_deliveries_total',
  deliveryLatency: 'sigpost_outbound_delivery_latency_seconds',
  outboxEntries: 'sigpost_outbox_entries',
  outboxOldestPendingAge: 'sigpost_outbox_oldest_pending_age_seconds',
  deadLetters: 'sigpost_outbox_dead_letters_total',
} as const);

/** Producer metrics on one registry. Create it once per registry: prom-client refuses duplicate names. */
export interface OutboundMetrics {
  readonly registry: Registry;
  /** `sigpost_outbound_attempts_total{status,outcome}`: every HTTP attempt; `status` is the HTTP code or the failure kind. */
  readonly attempts: Counter<'status' | 'outcome'>;
  /** `sigpost_outbound_attempt_duration_seconds{outcome}`: time of one attempt, request to answer. */
  readonly attemptDuration: Histogram<'outcome'>;
  /** `sigpost_outbound_retries_total`: attempts that failed and were scheduled again. */
  readonly retries: Counter;
  /** `sigpost_outbound_deliveries_total{outcome}`: signals finished, `delivered` or `dead`. */
  readonly deliveries: Counter<'outcome'>;
  /** `sigpost_outbound_delivery_latency_seconds`: from enqueue to the server's 201, retries included. */
  readonly deliveryLatency: Histogram;
  /** `sigpost_outbox_entries{state}`: entries per state, read from the tracked outboxes at scrape time. */
  readonly outboxEntries: Gauge<'state'>;
  /** `sigpost_outbox_oldest_pending_age_seconds`: age of the oldest pending entry (0 when none). */
  readonly outboxOldestPendingAge: Gauge;
  /** `sigpost_outbox_dead_letters_total`: entries moved to dead-letter. */
  readonly deadLetters: Counter;
  /**
   * Records one HTTP attempt.
   * @param status the HTTP status, or a failure kind from {@link attemptStatusLabel}.
   */
  recordAttempt(status: string, outcome: AttemptOutcome, durationMs: number): void;
  /**
   * Adds a source for the outbox gauges, read at every scrape. Returns a function that removes it.
   * A source that throws (a closed outbox) is skipped.
   */
  trackOutbox(source: () => OutboxDepth): () => void;
}

/**
 * Creates the producer metrics on `registry`.
 *
 * @default registry a new `Registry` (never prom-client's global one)
 * @example
 * const registry = new Registry();
 * const metrics = createOutboundMetrics(registry);
 * const outbox = Outbox.open('./data/outbox.db', { logger, metrics });
 * http.createServer(async (_req, res) => res.end(await registry.metrics()));
 * @see docs/outbox.md#metrics
 */
export function createOutboundMetrics(registry: Registry = new Registry()): OutboundMetrics {
  const registers = [registry];
  const sources = new Set<() => OutboxDepth>();

  const readSources = (): OutboxDepth[] => {
    const depths: OutboxDepth[] = [];
    for (const source of sources) {
      try {
        depths.push(source());
      } catch {
        // A source whose outbox was closed between scrapes has nothing to report.
      }
    }
    return depths;
  };

  const attempts = new Counter({
    name: METRIC_NAMES.attempts,
    help: 'Delivery attempts by HTTP status (or failure kind) and outcome.',
    labelNames: ['status', 'outcome'] as const,
    registers,
  });
  const attemptDuration = new Histogram({
    name: METRIC_NAMES.attemptDuration,
    help: 'Duration of one delivery attempt, from request to answer, in seconds.',
    labelNames: ['outcome'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers,
  });
  const retries = new Counter({
    name: METRIC_NAMES.retries,
    help: 'Failed attempts that were scheduled to be tried again.',
    registers,
  });
  const deliveries = new Counter({
    name: METRIC_NAMES.deliveries,
    help: 'Signals finished, by outcome (delivered or dead).',
    labelNames: ['outcome'] as const,
    registers,
  });
  const deliveryLatency = new Histogram({
    name: METRIC_NAMES.deliveryLatency,
    help: 'Time from enqueue to the server accepting the signal, retries included, in seconds.',
    buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600],
    registers,
  });
  const outboxEntries = new Gauge({
    name: METRIC_NAMES.outboxEntries,
    help: 'Outbox entries by state.',
    labelNames: ['state'] as const,
    registers,
    collect() {
      const totals = Object.fromEntries(OUTBOX_STATES.map((s) => [s, 0])) as Record<OutboxStateLabel, number>;
      for (const depth of readSources()) {
        for (const state of OUTBOX_STATES) totals[state] += depth.counts[state];
      }
      for (const state of OUTBOX_STATES) this.set({ state }, totals[state]);
    },
  });
  const outboxOldestPendingAge = new Gauge({
    name: METRIC_NAMES.outboxOldestPendingAge,
    help: 'Age of the oldest pending outbox entry in seconds (0 when none is pending).',
    registers,
    collect() {
      let oldest = 0;
      for (const depth of readSources()) oldest = Math.max(oldest, depth.oldestPendingAgeMs ?? 0);
      this.set(oldest / 1000);
    },
  });
  const deadLetters = new Counter({
    name: METRIC_NAMES.deadLetters,
    help: 'Outbox entries moved to dead-letter.',
    registers,
  });

  return Object.freeze({
    registry,
    attempts,
    attemptDuration,
    retries,
    deliveries,
    deliveryLatency,
    outboxEntries,
    outboxOldestPendingAge,
    deadLetters,
    recordAttempt(status: string, outcome: AttemptOutcome, durationMs: number): void {
      attempts.inc({ status, outcome });
      attemptDuration.observe({ outcome }, durationMs / 1000);
    },
    trackOutbox(source: () => OutboxDepth): () => void {
      sources.add(source);
      return () => {
        sources.delete(source);
      };
    },
  });
}

/**
 * The `status` label of an attempt: the HTTP status when the server answered (`"503"`), otherwise
 * the kind of failure (`"timeout"`, `"network_error"`, `"aborted"`, …), so the label set stays bounded.
 */
export function attemptStatusLabel(error: unknown): string {
  if (!isOutboundError(error)) return 'error';
  const { httpCode } = error as { httpCode?: unknown };
  if (typeof httpCode === 'number') return String(httpCode);
  return error.code.slice('OUTBOUND_'.length).toLowerCase();
}
