// The messages of stream protocol v1 (docs/stream.md), as the subscriber receives them.
import { isPlainObject, STORED_SIGNAL_STATUSES, type StoredSignalStatus } from '@sigpost/protocol';

/** The path of the stream endpoint. */
export const STREAM_PATH = '/api/v1/stream';

/** The protocol version this SDK speaks (`hello.protocol`). */
export const STREAM_PROTOCOL = 1;

/** Event types of protocol v1. */
export const STREAM_EVENT_TYPES = Object.freeze([
  'signal.received',
  'signal.pending_approval',
  'signal.approved',
  'signal.rejected',
] as const);

export type StreamEventType = (typeof STREAM_EVENT_TYPES)[number];

/** Statuses a subscription can narrow to (`statuses=`): those of a stored signal. */
export const STREAM_STATUSES = STORED_SIGNAL_STATUSES;

export type StreamStatus = StoredSignalStatus;

/** The signal as of the event (its `status` and `decided_*` are those of that moment, not of now). */
export interface StreamSignal {
  readonly signal_id: string;
  readonly producer_id: string;
  readonly status: StreamStatus;
  readonly instrument: string;
  readonly side: string;
  readonly entry_price: number;
  readonly stop_loss: number | null;
  readonly take_profit: number | null;
  readonly confidence: number | null;
  readonly reason: string | null;
  /** The producer's timestamp (RFC 3339); `maxAgeSeconds` measures age from it. */
  readonly timestamp: string;
  readonly payload: Record<string, unknown> | null;
  readonly received_at: string;
  readonly decided_at: string | null;
  readonly decided_by: string | null;
  readonly decision_channel: string | null;
  readonly message: string | null;
  readonly idempotency_key: string | null;
  readonly [key: string]: unknown;
}

/** One event as the handler receives it. */
export interface StreamEvent {
  readonly type: StreamEventType;
  /** Strictly increasing in commit order; the resume point. */
  readonly seq: number;
  /** When the change happened (RFC 3339 UTC). */
  readonly at: string;
  readonly signal: StreamSignal;
  /** The stream's epoch (from `hello`). */
  readonly epoch: string;
  /** Seconds from `signal.timestamp` to when the subscriber received the event. */
  readonly ageSeconds: number;
  /** True when `maxAgeSeconds` is set, `stale: 'deliver'` is chosen and the signal is older than it. */
  readonly stale: boolean;
}

export interface HelloMessage {
  readonly type: 'hello';
  readonly protocol: number;
  readonly epoch: string;
  readonly subscriber: string;
  readonly heartbeat_seconds: number;
}

export interface ReadyMessage {
  readonly type: 'ready';
  readonly head: number;
}

/** A raw event frame, before the subscriber adds `epoch`, `ageSeconds` and `stale`. */
export interface EventMessage {
  readonly type: string;
  readonly seq: number;
  readonly at: string;
  readonly signal: StreamSignal;
}

export type ServerMessage =
  | HelloMessage
  | ReadyMessage
  | { readonly kind: 'event'; readonly message: EventMessage }
  | { readonly kind: 'ignored'; readonly type: string };

const isSeq = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/**
 * Parses one text frame. Returns the message, or a string saying what is wrong (a protocol error).
 * Frames with an unknown `type` and no `seq` are `ignored` (later protocol versions may add control
 * messages); an unknown type with a `seq` is an event the caller skips but counts.
 */
export function parseServerMessage(text: string): ServerMessage | string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return 'a frame is not JSON';
  }
  if (!isPlainObject(value) || typeof value.type !== 'string')
    return 'a frame is not an object with a "type"';
  switch (value.type) {
    case 'hello':
      if (
        typeof value.protocol !== 'number' ||
        typeof value.epoch !== 'string' ||
        value.epoch.length === 0 ||
        typeof value.heartbeat_seconds !== 'number' ||
        !(value.heartbeat_seconds >= 0)
      ) {
        return 'hello lacks protocol, epoch or heartbeat_seconds';
      }
      return value as unknown as HelloMessage;
    case 'ready':
      if (!isSeq(value.head)) return 'ready lacks an integer head';
      return value as unknown as ReadyMessage;
    default:
      if (value.seq === undefined) return { kind: 'ignored', type: value.type };
      if (!isSeq(value.seq) || value.seq === 0) return `event ${value.type} has no integer seq ≥ 1`;
      if (typeof value.at !== 'string') return `event ${value.seq} has no "at"`;
      if (
        !isPlainObject(value.signal) ||
        typeof value.signal.signal_id !== 'string' ||
        typeof value.signal.producer_id !== 'string'
      ) {
        return `event ${value.seq} has no signal with signal_id and producer_id`;
      }
      return { kind: 'event', message: value as unknown as EventMessage };
  }
}

/** True for the event types of protocol v1. */
export function isStreamEventType(type: string): type is StreamEventType {
  return (STREAM_EVENT_TYPES as readonly string[]).includes(type);
}
