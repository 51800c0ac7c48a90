import { INGEST_PATH } from '@sigpost/protocol';
import type { IngestMetrics } from '../metrics.js';
import type { Store, StoredSignalStatus } from '../store/store.js';

/** How long one count of stored signals serves the console's stats polls (the count scans the table). */
const COUNT_TTL_MS = 5_000;

/**
 * One reading of the server's own metrics for the console's Stats view: cumulative counters since
 * the process started (the page turns consecutive readings into rates and per-interval percentiles).
 */
export interface StatsSnapshot {
  /** Epoch ms of the reading. */
  readonly at: number;
  /** Ingest requests by outcome (`accepted`, `replayed`, `refused`, `error`), since start. */
  readonly ingest: Readonly<Record<string, number>>;
  /** Refused ingest requests by problem type, since start. */
  readonly refusals: Readonly<Record<string, number>>;
  /** Histogram of accepted ingest requests' durations (seconds): cumulative counts per upper bound. */
  readonly latency: { readonly buckets: readonly { le: number; count: number }[]; readonly count: number };
  /** Stored signals by status (read from the store at most every 5 s). */
  readonly signals: Readonly<Record<StoredSignalStatus, number>>;
}

/** Reads a `StatsSnapshot` from a metrics registry and a store. */
export function statsReader(
  metrics: IngestMetrics,
  store: Store,
  now: () => number,
): () => Promise<StatsSnapshot> {
  let cached: { at: number; counts: Promise<Record<StoredSignalStatus, number>> } | undefined;
  return async () => {
    const at = now();
    if (!cached || at - cached.at >= COUNT_TTL_MS) {
      const counts = store.countSignalsByStatus();
      cached = { at, counts };
      counts.catch(() => {
        cached = undefined;
      });
    }
    const [requests, durations, signals] = await Promise.all([
      metrics.requests.get(),
      metrics.ingestDuration.get(),
      cached.counts,
    ]);
    const ingest: Record<string, number> = {};
    const refusals: Record<string, number> = {};
    for (const { labels, value } of requests.values) {
      if (labels.route !== INGEST_PATH) continue;
      const outcome = String(labels.outcome);
      ingest[outcome] = (ingest[outcome] ?? 0) + value;
      if (labels.problem) refusals[String(labels.problem)] = (refusals[String(labels.problem)] ?? 0) + value;
    }
    const buckets: { le: number; count: number }[] = [];
    let count = 0;
    for (const { labels, value, metricName } of durations.values) {
      if (labels.outcome !== 'accepted') continue;
      if (metricName?.endsWith('_bucket')) {
        const bound = (labels as { le?: string | number }).le;
        const le = bound === '+Inf' ? Number.POSITIVE_INFINITY : Number(bound);
        if (Number.isFinite(le)) buckets.push({ le, count: value });
      } else if (metricName?.endsWith('_count')) {
        count = value;
      }
    }
    buckets.sort((a, b) => a.le - b.le);
    return { at, ingest, refusals, latency: { buckets, count }, signals };
  };
}
