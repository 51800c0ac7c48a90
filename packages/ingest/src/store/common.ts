// Helpers shared by the SQLite and PostgreSQL stores. No database driver is imported here, so the
// SQLite path never loads `pg` (and the reverse).
import { STORED_SIGNAL_STATUSES as SIGNAL_STATUSES } from '@sigpost/protocol';
import { isSealedSecret } from '../secrets.js';
import {
  type DecisionChannel,
  type OperatorToken,
  type Producer,
  type ProducerSecret,
  type SignalFilter,
  type SignalRecord,
  type StoredSignalStatus,
  StoreInvalidCursorError,
  type StreamEvent,
  type Subscriber,
} from './store.js';

export const DEFAULT_PAGE_LIMIT = 50;
export const MAX_PAGE_LIMIT = 500;

// The list lives in @sigpost/protocol (STORED_SIGNAL_STATUSES); re-exported for the two stores.
export { SIGNAL_STATUSES };

/** Column list of `signals` in the order of `SignalRow`, for SELECT and INSERT. */
export const SIGNAL_COLUMNS =
  'id, producer_id, idempotency_key, instrument, side, status, message, body, received_at, decided_at, decided_by';

/** A `signals` row as both drivers return it (times already JS numbers). */
export interface SignalRow {
  id: string;
  producer_id: string;
  idempotency_key: string | null;
  instrument: string;
  side: 'buy' | 'sell';
  status: StoredSignalStatus;
  message: string | null;
  body: string;
  received_at: number;
  decided_at: number | null;
  decided_by: string | null;
}

export function toSignal(row: SignalRow): SignalRecord {
  return {
    id: row.id,
    producerId: row.producer_id,
    idempotencyKey: row.idempotency_key,
    instrument: row.instrument,
    side: row.side,
    status: row.status,
    message: row.message,
    body: row.body,
    receivedAt: row.received_at,
    decidedAt: row.decided_at,
    decidedBy: row.decided_by,
  };
}

/** Most events one `readEvents` call returns. */
export const MAX_EVENT_PAGE = 1_000;
/** Signals deleted per transaction by `purgeSignals` unless the caller says otherwise. */
export const DEFAULT_PURGE_SIGNALS_CHUNK = 1_000;

/**
 * Events after a seq, oldest first, each with its signal as of the event. `$after`/`$limit` are
 * replaced by each driver's placeholders.
 */
export const EVENTS_SELECT = `SELECT e.seq, e.at, e.channel, s.id, s.producer_id, s.idempotency_key, s.instrument,
    s.side, e.status, e.message, s.body, s.received_at, e.decided_at, e.decided_by
  FROM stream_events e JOIN signals s ON s.id = e.signal_id
  WHERE e.seq > $after ORDER BY e.seq LIMIT $limit`;

/** The events of one signal (`$id`), oldest first: at most two (accepted, then decided). */
export const SIGNAL_EVENTS_SELECT = `SELECT e.seq, e.at, e.channel, s.id, s.producer_id, s.idempotency_key, s.instrument,
    s.side, e.status, e.message, s.body, s.received_at, e.decided_at, e.decided_by
  FROM stream_events e JOIN signals s ON s.id = e.signal_id
  WHERE e.signal_id = $id ORDER BY e.seq`;

export interface EventRow extends SignalRow {
  seq: number;
  at: number;
  channel: DecisionChannel | null;
}

export function toEvent(row: EventRow): StreamEvent {
  return { seq: row.seq, at: row.at, channel: row.channel, signal: toSignal(row) };
}

export function eventLimit(limit: number): number {
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_EVENT_PAGE) {
    throw new RangeError(
      `Expected \`limit\` to be an integer from 1 to ${MAX_EVENT_PAGE}, received ${limit}`,
    );
  }
  return limit;
}

export function eventAfter(after: number): number {
  if (!Number.isSafeInteger(after) || after < 0) {
    throw new RangeError(`Expected \`after\` to be an integer ≥ 0, received ${after}`);
  }
  return after;
}

/** A `subscribers` row as both drivers return it (scopes as JSON text or arrays). */
export interface SubscriberRow {
  id: string;
  name: string;
  hash: string;
  producers: string | readonly string[] | null;
  statuses: string | readonly string[] | null;
  created_at: number;
  revoked_at: number | null;
}

export function toSubscriber(row: SubscriberRow): Subscriber {
  const list = (v: string | readonly string[] | null) =>
    v === null ? null : typeof v === 'string' ? (JSON.parse(v) as string[]) : [...v];
  return {
    id: row.id,
    name: row.name,
    hash: row.hash,
    producers: list(row.producers),
    statuses: list(row.statuses) as StoredSignalStatus[] | null,
    createdAt: row.created_at,
    revokedAt: row.revoked_at,
  };
}

/** Refuses a subscriber whose `hash` is not a hex SHA-256 or whose scope is malformed. */
export function assertSubscriber(subscriber: Subscriber): void {
  assertTokenHash({ id: subscriber.id, name: subscriber.name, hash: subscriber.hash, createdAt: 0 });
  for (const [key, value] of [
    ['producers', subscriber.producers],
    ['statuses', subscriber.statuses],
  ] as const) {
    if (value !== null && (!Array.isArray(value) || value.some((v) => typeof v !== 'string'))) {
      throw new TypeError(`Expected \`${key}\` to be null or an array of strings`);
    }
  }
  if (subscriber.statuses?.some((s) => !SIGNAL_STATUSES.includes(s))) {
    throw new TypeError(`Expected \`statuses\` to hold only ${SIGNAL_STATUSES.join(', ')}`);
  }
}

/** The position after the last item of a page: signals older than this come next. */
export interface CursorPosition {
  readonly receivedAt: number;
  readonly id: string;
}

export function encodeCursor(position: CursorPosition): string {
  return Buffer.from(JSON.stringify([position.receivedAt, position.id]), 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string): CursorPosition {
  const invalid = () =>
    new StoreInvalidCursorError('Invalid cursor: expected the nextCursor of a previous page, unchanged');
  if (typeof cursor !== 'string' || !/^[A-Za-z0-9_-]{1,1400}$/.test(cursor)) throw invalid();
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw invalid();
  }
  if (
    !Array.isArray(value) ||
    value.length !== 2 ||
    !Number.isSafeInteger(value[0]) ||
    typeof value[1] !== 'string'
  ) {
    throw invalid();
  }
  return { receivedAt: value[0] as number, id: value[1] as string };
}

export function pageLimit(filter: SignalFilter): number {
  const limit = filter.limit ?? DEFAULT_PAGE_LIMIT;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE_LIMIT) {
    throw new RangeError(
      `Expected \`limit\` to be an integer from 1 to ${MAX_PAGE_LIMIT}, received ${limit}`,
    );
  }
  return limit;
}

/** Refuses to store anything that is not SecretBox output, so a raw secret never reaches the database. */
export function assertSealed(secret: ProducerSecret): void {
  if (!isSealedSecret(secret.ciphertext)) {
    throw new TypeError(
      'Expected `secret.ciphertext` to be SecretBox.seal output (v1.<keyId>.<iv>.<tag>.<ciphertext>); refusing to store it',
    );
  }
}

/** Refuses to store anything but a hex SHA-256, so a raw operator token never reaches the database. */
export function assertTokenHash(token: OperatorToken): void {
  if (typeof token.hash !== 'string' || !/^[0-9a-f]{64}$/.test(token.hash)) {
    throw new TypeError(
      'Expected `token.hash` to be a hex SHA-256 (64 lowercase hex digits, see hashToken); refusing to store it',
    );
  }
}

export function zeroCounts(): Record<StoredSignalStatus, number> {
  return { received: 0, pending_approval: 0, approved: 0, rejected: 0 };
}

/** One row of `producers LEFT JOIN active producer_secrets`, in (producer, secret age) order. */
export interface ProducerJoinRow {
  readonly id: string;
  readonly approval: string;
  readonly instruments: readonly string[] | null;
  readonly createdAt: number;
  readonly secretId: string | null;
  readonly ciphertext: string | null;
  readonly secretCreatedAt: number | null;
}

export function groupProducers(rows: readonly ProducerJoinRow[]): Producer[] {
  const producers: Producer[] = [];
  let current: { producer: Producer; secrets: ProducerSecret[] } | undefined;
  for (const row of rows) {
    if (current?.producer.id !== row.id) {
      const secrets: ProducerSecret[] = [];
      current = {
        secrets,
        producer: {
          id: row.id,
          approval: row.approval === 'manual' ? 'manual' : 'auto',
          instruments: row.instruments,
          createdAt: row.createdAt,
          secrets,
        },
      };
      producers.push(current.producer);
    }
    if (row.secretId !== null && row.ciphertext !== null && row.secretCreatedAt !== null) {
      current.secrets.push({ id: row.secretId, ciphertext: row.ciphertext, createdAt: row.secretCreatedAt });
    }
  }
  return producers;
}

/**
 * A database URL safe to print: the password (in the userinfo or a `password` parameter) is
 * replaced by `***`. Anything that does not parse as a URL is replaced whole.
 */
export function redactUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return '<unparseable database URL>';
  }
  if (parsed.password !== '') parsed.password = '***';
  for (const key of [...parsed.searchParams.keys()]) {
    if (/^(password|passwd|pass|sslpassword)$/i.test(key)) parsed.searchParams.set(key, '***');
  }
  return parsed.toString();
}

// The SQLite idempotency record's key: with the rest of idempotency, in checks/idempotency.ts.
export { idempotencyKeyHash } from '../checks/idempotency.js';

/** Yields to the event loop between chunks of a long synchronous job. */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Error texts shared by both stores, so the contract suite pins one wording. */
export const MESSAGES = Object.freeze({
  producerExists: (id: string) => `Producer "${id}" already exists`,
  producerMissing: (id: string) => `Producer "${id}" does not exist`,
  secretExists: (producerId: string, secretId: string) =>
    `Secret "${secretId}" of producer "${producerId}" already exists`,
  lastSecret: (producerId: string, secretId: string) =>
    `Cannot retire secret "${secretId}" of producer "${producerId}": it is its last active secret (add another one first)`,
  subscriberExists: (id: string) => `Subscriber "${id}" already exists (same id or same token hash)`,
  tokenExists: (id: string) => `Operator token "${id}" already exists (same id or same token hash)`,
  signalExists: (id: string) => `Signal "${id}" already exists; nothing of the batch was committed`,
  schemaTooNew: (found: number, known: number) =>
    `Database schema is at version ${found}, newer than this release of Sigpost supports (${known}); upgrade Sigpost before using this database`,
});
