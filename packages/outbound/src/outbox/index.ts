// `@sigpost/outbound/outbox`: the durable outbox. The only entry point that loads better-sqlite3
// (an optional peer dependency), so producers that only post directly never need it.

// Metrics (also for direct use of HmacClient; they live in src/metrics.ts, which loads no SQLite)

export type { AttemptOutcome, OutboundMetrics, OutboxDepth, OutboxStateLabel } from '../metrics.js';
export { createOutboundMetrics, METRIC_NAMES, OUTBOX_STATES } from '../metrics.js';

// Errors

export type { OutboxErrorCode, OutboxErrorOptions } from './errors.js';
export {
  isOutboxError,
  OUTBOX_ERROR_CODES,
  OutboxError,
  OutboxKeyConflictError,
  OutboxLockedError,
} from './errors.js';

// The outbox: enqueue, drain, inspect

export type {
  DrainOptions,
  EnqueueItem,
  EnqueueOptions,
  EnqueueResult,
  OutboxEntry,
  OutboxOptions,
  OutboxStatus,
} from './outbox.js';
export { OUTBOX_DEFAULT_RETRY, Outbox } from './outbox.js';
export type { OutboxState } from './store.js';
export type { DeliveryClient, DeliveryStateChange, DrainProgress, DrainSummary } from './worker.js';
