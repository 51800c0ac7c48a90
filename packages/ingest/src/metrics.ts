import type { Server } from 'node:net';
import { STORED_SIGNAL_STATUSES } from '@sigpost/protocol';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Store } from './store/store.js';

/** How an ingest request ended, as a metric label. */

/** How long one count of stored signals serves /metrics scrapes. */
const SIGNAL_COUNT_TTL_MS = 5_000;
export type IngestOutcome = 'accepted' | 'replayed' | 'refused' | 'error' | 'aborted';

/**
 * The app's Prometheus metrics, on a registry of its own (two apps in one process never share
 * counters; the process-wide default registry is left alone).
 */
export class IngestMetrics {
  readonly registry = new Registry();
  readonly requests: Counter<'route' | 'outcome' | 'problem'>;
  readonly verificationFailures: Counter<'reason'>;
  readonly ingestDuration: Histogram<'outcome'>;
  readonly batchSize: Histogram;
  readonly connectionsRefused: Counter;

  // Label sets seen so far, bound once: prom-client hashes the label object on every call otherwise.
  readonly #requestChildren = new Map<string, { inc(): void }>();
  readonly #durationChildren = new Map<string, { observe(value: number): void }>();

  constructor(store: Store) {
    const registers = [this.registry];
    this.requests = new Counter({
      name: 'sigpost_requests_total',
      help: 'HTTP requests by route, outcome (accepted, replayed, refused, error, ok; aborted: the client closed the connection mid-request) and problem type ("" when none).',
      labelNames: ['route', 'outcome', 'problem'] as const,
      registers,
    });
    this.verificationFailures = new Counter({
      name: 'sigpost_verification_failures_total',
      help: 'Ingest requests refused by authentication: missing-auth-headers, timestamp-out-of-window, invalid-signature.',
      labelNames: ['reason'] as const,
      registers,
    });
    this.ingestDuration = new Histogram({
      name: 'sigpost_ingest_duration_seconds',
      help: 'Time from request start to response for POST /api/v1/signals/ingest, by outcome.',
      labelNames: ['outcome'] as const,
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    this.batchSize = new Histogram({
      name: 'sigpost_commit_batch_size',
      help: 'Accepted requests per group-commit batch handed to the store (SQLite commits the batches that queue up in its writer thread together).',
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024],
      registers,
    });
    this.connectionsRefused = new Counter({
      name: 'sigpost_connections_refused_total',
      help: 'TCP connections closed as soon as accepted because maxConnections were already open (or maxConnectionsPerAddress from its address).',
      registers,
    });
    // /metrics is unauthenticated and the count scans the signals table, so one count serves every
    // scrape for SIGNAL_COUNT_TTL_MS: a flood of scrapes costs at most one query per interval.
    let cached: { at: number; counts: Promise<Record<string, number>> } | undefined;
    new Gauge({
      name: 'sigpost_signals',
      help: `Stored signals by status (read from the store at scrape time, at most every ${SIGNAL_COUNT_TTL_MS / 1000} s).`,
      labelNames: ['status'] as const,
      registers,
      async collect() {
        const now = Date.now();
        if (!cached || now - cached.at >= SIGNAL_COUNT_TTL_MS) {
          const counts = store.countSignalsByStatus();
          cached = { at: now, counts };
          counts.catch(() => {
            cached = undefined;
          });
        }
        const counts = await cached.counts;
        for (const status of STORED_SIGNAL_STATUSES) this.set({ status }, counts[status] ?? 0);
      },
    });
  }

  /** Exports `sigpost_open_connections`, read from the listening server at scrape time. */
  trackConnections(server: Server): void {
    new Gauge({
      name: 'sigpost_open_connections',
      help: 'TCP connections open on the server (compare with maxConnections).',
      registers: [this.registry],
      async collect() {
        const count = await new Promise<number>((resolve) => {
          server.getConnections((error, n) => resolve(error ? 0 : n));
        });
        this.set(count);
      },
    });
  }

  /** Counts one finished request. Label values are bounded: routes, outcomes and problem codes are fixed sets. */
  countRequest(route: string, outcome: IngestOutcome | 'ok', problem: string): void {
    const key = `${route}\n${outcome}\n${problem}`;
    let child = this.#requestChildren.get(key);
    if (!child) {
      child = this.requests.labels({ route, outcome, problem });
      this.#requestChildren.set(key, child);
    }
    child.inc();
  }

  /** Records the duration of one ingest request, in seconds. */
  observeIngest(outcome: IngestOutcome | 'ok', seconds: number): void {
    let child = this.#durationChildren.get(outcome);
    if (!child) {
      child = this.ingestDuration.labels({ outcome });
      this.#durationChildren.set(outcome, child);
    }
    child.observe(seconds);
  }
}
