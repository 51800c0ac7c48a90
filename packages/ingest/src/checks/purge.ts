// Expired idempotency records (idempotency.ts) and remembered signatures (replay-guard.ts) are
// deleted every `purgeIntervalSeconds` by `store.purgeExpired`, in chunks so ingest is not held up.
import type { FastifyBaseLogger } from 'fastify';
import type { Clock } from '../clock.js';
import type { Store } from '../store/store.js';

/** Starts the purge timer (unref'd); returns the function that stops it. */
export function startExpiryPurge(
  store: Store,
  clock: Clock,
  intervalSeconds: number,
  log: FastifyBaseLogger,
): () => void {
  const timer = setInterval(() => {
    store.purgeExpired(Math.floor(clock.now())).catch((error: unknown) => {
      log.warn({ err: error }, 'purging expired idempotency records failed; will retry');
    });
  }, intervalSeconds * 1000);
  timer.unref();
  return () => clearInterval(timer);
}
