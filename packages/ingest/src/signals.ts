import {
  checkJson,
  describeValue,
  formatTimestamp,
  INSTRUMENT_PATTERN,
  PRODUCER_ID_PATTERN,
  parseTimestamp,
  STORED_SIGNAL_STATUSES,
} from '@sigpost/protocol';
import { z } from 'zod';
import type { Clock } from './clock.js';
import { ConflictError, type InputIssue, InvalidInputError, NotFoundError } from './errors.js';
import { ID_PATTERNS } from './ids.js';
import type {
  DecisionChannel,
  SignalFilter,
  SignalRecord,
  Store,
  StoredSignalStatus,
} from './store/store.js';

/** A stored signal as the operator API and the CLI show it (snake_case, like the wire). */
export interface SignalView {
  readonly signal_id: string;
  readonly producer_id: string;
  readonly idempotency_key: string | null;
  readonly instrument: string;
  readonly side: 'buy' | 'sell';
  readonly status: StoredSignalStatus;
  readonly message: string | null;
  readonly received_at: string;
  readonly decided_at: string | null;
  readonly decided_by: string | null;
  /**
   * The signal as the producer sent it (parsed from the stored body); the stored text itself, as a
   * string, when `signal_issue` is present.
   */
  readonly signal: unknown;
  /**
   * Present only when the stored body cannot be shown as JSON: a row written by an older release over
   * the body limits (say nested 10,000 levels deep), with a duplicate key, or edited by hand. Says why;
   * `signal` then holds the body's text exactly as stored.
   */
  readonly signal_issue?: string;
}

const one = (text: string) => (issue: { input?: unknown }) =>
  Array.isArray(issue.input) ? 'expected a single value' : text;

const timestamp = (what: string) =>
  z
    .string({ error: one('expected an RFC 3339 date-time') })
    .refine((s) => parseTimestamp(s) !== undefined, {
      error: 'expected an RFC 3339 date-time such as 2025-10-25T14:30:45Z',
    })
    .optional()
    .meta({ format: 'date-time', description: what });

/**
 * Query parameters of `GET /api/v1/operator/signals` (all strings, as they arrive). The same schema
 * validates the HTTP query and the `sigpost signals list` flags, and generates the OpenAPI parameters.
 */
export const SignalListQuerySchema = z.strictObject({
  status: z
    .enum(STORED_SIGNAL_STATUSES, { error: one(`expected one of ${STORED_SIGNAL_STATUSES.join(', ')}`) })
    .optional()
    .meta({ description: 'Only signals with this status.' }),
  producer: z
    .string({ error: one('expected a producer id') })
    .regex(PRODUCER_ID_PATTERN, { error: 'expected 1–64 characters of A-Z a-z 0-9 . _ -' })
    .optional()
    .meta({ description: 'Only signals from this producer.' }),
  instrument: z
    .string({ error: one('expected an instrument') })
    .regex(INSTRUMENT_PATTERN, { error: 'expected 1–32 characters of A-Z a-z 0-9 . _ / -' })
    .optional()
    .meta({ description: 'Only signals for this instrument.' }),
  from: timestamp('Only signals received at or after this time.'),
  to: timestamp('Only signals received before this time.'),
  limit: z
    .string({ error: one('expected an integer from 1 to 500') })
    .regex(/^[1-9]\d{0,2}$/, { error: 'expected an integer from 1 to 500', abort: true })
    .refine((s) => Number(s) <= 500, { error: 'expected an integer from 1 to 500' })
    .optional()
    .meta({ description: 'Page size, 1–500 (default 50).' }),
  cursor: z
    .string({ error: one('expected the next_cursor of a previous page') })
    .min(1, { error: 'expected the next_cursor of a previous page' })
    .max(1400, { error: 'expected the next_cursor of a previous page' })
    .optional()
    .meta({ description: 'The next_cursor of the previous page.' }),
});

/** Body of `POST /api/v1/operator/signals/{id}/reject`. */
export const RejectBodySchema = z
  .strictObject({
    reason: z
      .string({ error: 'expected a string of 1–500 characters' })
      .trim()
      .min(1, { error: 'expected 1–500 characters' })
      .max(500, { error: 'expected 1–500 characters' })
      .meta({ description: 'Why the signal is rejected; stored as its message.', example: 'stale price' }),
  })
  .meta({ id: 'RejectRequest', title: 'RejectRequest' });

/** Body of `POST /api/v1/operator/signals/{id}/approve` (optional). */
export const ApproveBodySchema = z
  .strictObject({
    note: z
      .string({ error: 'expected a string' })
      .trim()
      .max(500, { error: 'expected at most 500 characters' })
      .optional()
      .meta({ description: 'Optional note, stored as the message.' }),
  })
  .meta({ id: 'ApproveRequest', title: 'ApproveRequest' });

/** Turns zod issues into input issues, naming each key as `name(key)` (a flag or a query parameter). */
export function toInputIssues(
  issues: readonly z.core.$ZodIssue[],
  name: (key: string) => string,
): InputIssue[] {
  return issues.flatMap((issue) => {
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((k) => ({ key: name(k), expected: 'no such parameter', received: 'a value' }));
    }
    const key = issue.path.map(String).join('.') || '(input)';
    const message = issue.message.replace(/^expected /, '');
    return [{ key: name(key), expected: message, received: describeValue(issue.input) }];
  });
}

/**
 * Validates list filters given as strings (HTTP query or CLI flags) and converts them to a store filter.
 * Throws `InvalidInputError` naming every bad parameter with `name(key)`.
 *
 * @example
 * const filter = parseSignalQuery({ status: 'pending_approval', limit: '20' });
 */
export function parseSignalQuery(input: unknown, name: (key: string) => string = (k) => k): SignalFilter {
  // reportInput: the filters are not secret, and "received …" helps the caller fix them.
  const parsed = SignalListQuerySchema.safeParse(input, { reportInput: true });
  if (!parsed.success)
    throw new InvalidInputError('signal filters', toInputIssues(parsed.error.issues, name));
  const q = parsed.data;
  const from = q.from === undefined ? undefined : Math.ceil(parseTimestamp(q.from) as number);
  const to = q.to === undefined ? undefined : Math.ceil(parseTimestamp(q.to) as number);
  if (from !== undefined && to !== undefined && to <= from) {
    throw new InvalidInputError('signal filters', [
      { key: name('to'), expected: `a time after ${name('from')}`, received: JSON.stringify(q.to) },
    ]);
  }
  return {
    ...(q.status === undefined ? {} : { status: q.status }),
    ...(q.producer === undefined ? {} : { producerId: q.producer }),
    ...(q.instrument === undefined ? {} : { instrument: q.instrument }),
    ...(from === undefined ? {} : { from }),
    ...(to === undefined ? {} : { to }),
    ...(q.limit === undefined ? {} : { limit: Number(q.limit) }),
    ...(q.cursor === undefined ? {} : { cursor: q.cursor }),
  };
}

/**
 * A stored signal as shown to operators. Never throws on a body: one that cannot be served back as
 * JSON (over the body limits, a duplicate key, not JSON) is shown as its text, with `signal_issue`.
 * The view of an accepted body always serialises (checkJson bounds its depth).
 */
export function toSignalView(record: SignalRecord): SignalView {
  const check = checkJson(record.body);
  const signal: unknown = check.ok ? JSON.parse(record.body) : record.body;
  return {
    signal_id: record.id,
    producer_id: record.producerId,
    idempotency_key: record.idempotencyKey,
    instrument: record.instrument,
    side: record.side,
    status: record.status,
    message: record.message,
    received_at: formatTimestamp(record.receivedAt),
    decided_at: record.decidedAt === null ? null : formatTimestamp(record.decidedAt),
    decided_by: record.decidedBy,
    signal,
    ...(check.ok
      ? {}
      : {
          signal_issue: `the stored body cannot be shown as JSON (${check.message}); signal holds its text as stored`,
        }),
  };
}

/**
 * The JSON text of a view, for an answer. toSignalView already keeps every body it parses
 * serialisable; should that ever fail, the row is still answered, with its body left out and said so,
 * rather than failing a listing or a decision that has already been committed.
 */
export function signalViewJson(view: SignalView): string {
  try {
    return JSON.stringify(view);
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    return JSON.stringify({
      ...view,
      signal: null,
      signal_issue: `the stored body could not be serialised (${why})`,
    });
  }
}

/** True when `id` has the shape of a signal id (so a lookup is worth making). */
export function isSignalId(id: unknown): id is string {
  return typeof id === 'string' && ID_PATTERNS.sig.test(id);
}

/** Looks a signal up; throws `NotFoundError` when there is none. */
export async function getSignalView(store: Store, id: string): Promise<SignalView> {
  const record = isSignalId(id) ? await store.getSignal(id) : undefined;
  if (!record) throw new NotFoundError(`Signal ${JSON.stringify(id)} does not exist`);
  return toSignalView(record);
}

/**
 * Approves or rejects a pending signal. Throws `NotFoundError` for an unknown id and `ConflictError`
 * (with the current status in the message) when it is not pending approval.
 *
 * @example
 * await decideSignal(store, systemClock, 'sig_01JC…', 'rejected', 'ops-alice', 'stale price', 'api');
 */
export async function decideSignal(
  store: Store,
  clock: Clock,
  id: string,
  decision: 'approved' | 'rejected',
  by: string,
  message: string | null,
  channel: DecisionChannel,
): Promise<SignalView> {
  if (!isSignalId(id)) throw new NotFoundError(`Signal ${JSON.stringify(id)} does not exist`);
  const result = await store.decideSignal(id, decision, by, message, Math.floor(clock.now()), channel);
  switch (result.outcome) {
    case 'ok':
      return toSignalView(result.signal);
    case 'not-found':
      throw new NotFoundError(`Signal ${JSON.stringify(id)} does not exist`);
    case 'not-pending':
      throw new ConflictError(
        `Signal ${id} is ${result.signal.status}, not pending_approval; only pending signals can be approved or rejected`,
      );
  }
}
