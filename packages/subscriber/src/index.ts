// @sigpost/subscriber: receives a Sigpost stream (protocol v1, docs/stream.md) over WebSocket, resumable,
// with a durable cursor. No server dependencies.

export type { CursorPosition, SubscriberCursor } from './cursor.js';
export { FileCursor, MemoryCursor } from './cursor.js';
export type { StreamProblem, SubscriberErrorCode, SubscriberErrorOptions } from './errors.js';
export {
  isSubscriberError,
  SUBSCRIBER_ERROR_CODES,
  SubscriberClosedError,
  SubscriberEpochError,
  SubscriberError,
  SubscriberGapError,
  SubscriberRefusedError,
} from './errors.js';
export type { StreamEvent, StreamEventType, StreamSignal, StreamStatus } from './events.js';
export { STREAM_EVENT_TYPES, STREAM_PATH, STREAM_PROTOCOL, STREAM_STATUSES } from './events.js';
export type { SubscriberLogFields, SubscriberLogger } from './logger.js';
export type { EventOutcome, ReconnectReason, SubscriberMetrics } from './metrics.js';
export { createSubscriberMetrics, SUBSCRIBER_METRIC_NAMES } from './metrics.js';
export type { ReconnectOptions } from './retry.js';
export { DEFAULT_RECONNECT, reconnectDelay } from './retry.js';
export type { CursorExpiredInfo, ResumePoint, SignalSubscriberOptions } from './subscriber.js';
export { SignalSubscriber } from './subscriber.js';
