// The JSON text frames of stream protocol v1 (docs/stream.md), and the parsing of a stream request.
import {
  formatTimestamp,
  isPlainObject,
  PRODUCER_ID_PATTERN,
  type ProblemCode,
  SIGNAL_FIELDS,
  STORED_SIGNAL_STATUSES,
} from '@sigpost/protocol';
import type { StoredSignalStatus, StreamEvent } from '../store/store.js';

/** Path of the stream endpoint. */
export const STREAM_PATH = '/api/v1/stream';
/** Version of the stream protocol, sent in `hello`. */
export const STREAM_PROTOCOL = 1;

/** Close codes of the stream (docs/stream.md). */
export const CLOSE = Object.freeze({
  normal: 1000,
  goingAway: 1001,
  badMessage: 4400,
  unauthorized: 4401,
  revoked: 4403,
  cursorExpired: 4410,
  slowConsumer: 4429,
  storeUnavailable: 4503,
});

/**
 * Fields of the signal body copied into an event (null when the producer left one out); `instrument`
 * and `side` come from the stored record.
 */
const BODY_FIELDS = SIGNAL_FIELDS.filter((field) => field !== 'instrument' && field !== 'side');

/**
 * One event as its text frame. Called once per event by the hub however many connections get it.
 * @example
 * eventMessage(event); // '{"type":"signal.received","seq":42,"at":"…","signal":{…}}'
 */
export function eventMessage(event: StreamEvent): string {
  const s = event.signal;
  let body: Record<string, unknown> = {};
  try {
    const parsed: unknown = JSON.parse(s.body);
    if (isPlainObject(parsed)) body = parsed;
  } catch {
    // Only verified, validated JSON is stored; a row edited by hand gives null fields.
  }
  const signal: Record<string, unknown> = {
    signal_id: s.id,
    producer_id: s.producerId,
    status: s.status,
    instrument: s.instrument,
    side: s.side,
  };
  for (const field of BODY_FIELDS) signal[field] = body[field] ?? null;
  signal.received_at = formatTimestamp(s.receivedAt);
  signal.decided_at = s.decidedAt === null ? null : formatTimestamp(s.decidedAt);
  signal.decided_by = s.decidedBy;
  signal.decision_channel = event.channel;
  signal.message = s.message;
  signal.idempotency_key = s.idempotencyKey;
  return JSON.stringify({
    type: `signal.${s.status}`,
    seq: event.seq,
    at: formatTimestamp(event.at),
    signal,
  });
}

export function helloMessage(epoch: string, subscriber: string, heartbeatSeconds: number): string {
  return JSON.stringify({
    type: 'hello',
    protocol: STREAM_PROTOCOL,
    epoch,
    subscriber,
    heartbeat_seconds: heartbeatSeconds,
  });
}

export function readyMessage(head: number): string {
  return JSON.stringify({ type: 'ready', head });
}

/** What a stream request asks for (query parameters). */
export interface StreamQuery {
  /** Replay events after this seq; undefined = live only. */
  readonly after: number | undefined;
  readonly producers: readonly string[] | undefined;
  readonly statuses: readonly StoredSignalStatus[] | undefined;
}

/** A refusal before the upgrade, as a problem code and detail. */
export class StreamRefusal extends Error {
  override readonly name = 'StreamRefusal';
  readonly code: ProblemCode;
  readonly headers: Readonly<Record<string, string>>;
  constructor(code: ProblemCode, detail: string, headers: Readonly<Record<string, string>> = {}) {
    super(detail);
    this.code = code;
    this.headers = headers;
  }
}

const KNOWN_PARAMS = new Set(['after', 'producers', 'statuses']);
const MAX_LIST = 100;

/**
 * Validates the query string of a stream request. Throws StreamRefusal (`token-in-query` for any
 * token parameter, checked first; `invalid-stream-request` naming the bad parameter).
 */
export function parseStreamQuery(search: URLSearchParams): StreamQuery {
  for (const key of search.keys()) {
    if (/^(token|access_token)$/i.test(key)) {
      throw new StreamRefusal(
        'token-in-query',
        `never put a token in the URL (query parameter "${key}"): send it as Authorization: Bearer <token>, or as the first message from a browser; revoke this token, it may now be in logs`,
      );
    }
  }
  for (const key of search.keys()) {
    if (!KNOWN_PARAMS.has(key)) {
      throw new StreamRefusal(
        'invalid-stream-request',
        `unknown query parameter "${key.slice(0, 40)}"; the stream takes after, producers and statuses`,
      );
    }
    if (search.getAll(key).length > 1) {
      throw new StreamRefusal('invalid-stream-request', `query parameter "${key}" given more than once`);
    }
  }
  const rawAfter = search.get('after');
  let after: number | undefined;
  if (rawAfter !== null) {
    if (!/^\d{1,15}$/.test(rawAfter)) {
      throw new StreamRefusal(
        'invalid-stream-request',
        `after must be an integer ≥ 0 (the seq of the last event you processed, 0 for the whole retained history), received ${JSON.stringify(rawAfter.slice(0, 40))}`,
      );
    }
    after = Number(rawAfter);
  }
  const list = (key: string): string[] | undefined => {
    const raw = search.get(key);
    if (raw === null) return undefined;
    const items = raw.split(',').map((s) => s.trim());
    if (items.length > MAX_LIST || items.some((s) => s === '')) {
      throw new StreamRefusal(
        'invalid-stream-request',
        `${key} must be a comma-separated list of 1–${MAX_LIST} values with no empty item`,
      );
    }
    return [...new Set(items)];
  };
  const producers = list('producers');
  const bad = producers?.find((p) => !PRODUCER_ID_PATTERN.test(p));
  if (bad !== undefined) {
    throw new StreamRefusal(
      'invalid-stream-request',
      `producers: ${JSON.stringify(bad.slice(0, 70))} is not a producer id (1–64 characters of A-Z a-z 0-9 . _ -)`,
    );
  }
  const statuses = list('statuses');
  const unknown = statuses?.find((s) => !STORED_SIGNAL_STATUSES.includes(s as StoredSignalStatus));
  if (unknown !== undefined) {
    throw new StreamRefusal(
      'invalid-stream-request',
      `statuses: ${JSON.stringify(unknown.slice(0, 40))} is not a status; use ${STORED_SIGNAL_STATUSES.join(', ')}`,
    );
  }
  return { after, producers, statuses: statuses as StoredSignalStatus[] | undefined };
}

/** Who is connected: a subscriber token, or an operator token or console session (which see everything). */
export interface Principal {
  readonly kind: 'subscriber' | 'operator';
  /** `sub_…` or `tok_…`. */
  readonly id: string;
  /** Hex SHA-256 of the token, re-checked periodically (revocation). */
  readonly hash: string;
  readonly producers: readonly string[] | null;
  readonly statuses: readonly StoredSignalStatus[] | null;
  /**
   * Set when the operator came by the console's session cookie: called with each token check;
   * false once the session has ended (the connection is then closed with 4401).
   */
  readonly keepAlive?: () => boolean;
}

/** What one connection sees: the request narrowed within the token's scope. */
export interface Scope {
  readonly producers: ReadonlySet<string> | null;
  readonly statuses: ReadonlySet<StoredSignalStatus> | null;
}

/** The scope of a connection, or StreamRefusal `stream-scope-forbidden` when the query asks for more than the token may see. */
export function resolveScope(principal: Principal, query: StreamQuery): Scope {
  const narrow = <T extends string>(
    key: string,
    allowed: readonly T[] | null,
    asked: readonly T[] | undefined,
  ): ReadonlySet<T> | null => {
    if (asked === undefined) return allowed === null ? null : new Set(allowed);
    if (allowed !== null) {
      const outside = asked.filter((a) => !allowed.includes(a));
      if (outside.length > 0) {
        throw new StreamRefusal(
          'stream-scope-forbidden',
          `${key} ${outside.map((o) => JSON.stringify(o)).join(', ')} outside this token's scope (${allowed.join(', ')})`,
        );
      }
    }
    return new Set(asked);
  };
  return {
    producers: narrow('producers', principal.producers, query.producers),
    statuses: narrow('statuses', principal.statuses, query.statuses),
  };
}
