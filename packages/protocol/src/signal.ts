import { z } from 'zod';
import { parseTimestamp } from './time.js';

/** `instrument`: 1–32 characters of `[A-Za-z0-9._/-]`. */
export const INSTRUMENT_PATTERN = /^[A-Za-z0-9._/-]{1,32}$/;

/** An error message that says `required` when the field is missing. */
const expected = (text: string) => (issue: { input?: unknown }) =>
  issue.input === undefined ? 'required' : text;

const price = () =>
  z
    .number({ error: expected('expected a number') })
    .refine((n) => Number.isFinite(n) && n > 0, { error: 'expected a finite number > 0' });

/**
 * The signal body of wire protocol v1 (snake_case, as on the wire).
 * The same schema validates requests on the server, checks SDK input, and generates the OpenAPI document.
 */
export const SignalCandidateSchema = z
  .strictObject(
    {
      instrument: z
        .string({ error: expected('expected a string') })
        .regex(INSTRUMENT_PATTERN, { error: 'expected 1–32 characters of A-Z a-z 0-9 . _ / -' })
        .meta({ description: 'Instrument symbol, e.g. GOLD or EUR/USD.', example: 'GOLD' }),
      side: z.enum(['buy', 'sell'], { error: expected('expected "buy" or "sell"') }),
      entry_price: price().meta({ description: 'Entry price, finite and > 0.', example: 1950.5 }),
      stop_loss: price().meta({
        description: 'Stop-loss price. buy: below entry_price; sell: above it.',
        example: 1945,
      }),
      take_profit: price().meta({
        description: 'Take-profit price. buy: above entry_price; sell: below it.',
        example: 1960,
      }),
      confidence: z
        .number({ error: expected('expected a number') })
        .min(0, { error: 'expected a number from 0 to 1' })
        .max(1, { error: 'expected a number from 0 to 1' })
        .meta({ example: 0.85 }),
      reason: z
        .string({ error: expected('expected a string') })
        .min(1, { error: 'expected 1–500 characters' })
        .max(500, { error: 'expected 1–500 characters' })
        .meta({ example: 'breakout above resistance' }),
      timestamp: z
        .string({ error: expected('expected an RFC 3339 date-time string') })
        .refine((s) => parseTimestamp(s) !== undefined, {
          error: 'expected an RFC 3339 date-time such as 2025-10-25T14:30:45.123456Z',
        })
        .meta({ format: 'date-time', description: 'When the producer generated the signal (RFC 3339).' }),
      payload: z
        .record(z.string(), z.unknown(), { error: 'expected a JSON object' })
        .optional()
        .meta({ description: 'Free-form producer data (indicators, ids). A JSON object.' }),
    },
    { error: (issue) => (issue.code === 'unrecognized_keys' ? undefined : 'expected a JSON object') },
  )
  .refine((s) => (s.side === 'buy' ? s.stop_loss < s.entry_price : s.stop_loss > s.entry_price), {
    path: ['stop_loss'],
    error: (issue) => {
      const s = issue.input as { side: string };
      return s.side === 'buy'
        ? 'expected below entry_price for a buy'
        : 'expected above entry_price for a sell';
    },
    when: (payload) => pricesValid(payload.value),
  })
  .refine((s) => (s.side === 'buy' ? s.take_profit > s.entry_price : s.take_profit < s.entry_price), {
    path: ['take_profit'],
    error: (issue) => {
      const s = issue.input as { side: string };
      return s.side === 'buy'
        ? 'expected above entry_price for a buy'
        : 'expected below entry_price for a sell';
    },
    when: (payload) => pricesValid(payload.value),
  })
  .meta({ id: 'SignalCandidate', title: 'SignalCandidate' });

function pricesValid(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  const ok = (n: unknown) => typeof n === 'number' && Number.isFinite(n) && n > 0;
  return (v.side === 'buy' || v.side === 'sell') && ok(v.entry_price) && ok(v.stop_loss) && ok(v.take_profit);
}

/** A trading signal as sent on the wire. */
export type SignalCandidate = z.infer<typeof SignalCandidateSchema>;

/**
 * Every top-level field of a signal body, in the schema's order: `instrument`, `side`, then
 * `entry_price` … `payload`. The ingest stream and the console copy exactly these from a body.
 */
export const SIGNAL_FIELDS = Object.freeze(
  Object.keys(SignalCandidateSchema.shape),
) as readonly (keyof SignalCandidate)[];

export type ValidationResult<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly errors: readonly string[] };

/** Renders zod issues as one line per problem, each starting with the field it names. */
export function formatIssues(issues: readonly z.core.$ZodIssue[]): string[] {
  return issues.flatMap((issue) => {
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((k) => `${[...issue.path, k].join('.')}: unknown field`);
    }
    const path = issue.path.map(String).join('.') || '(body)';
    return [`${path}: ${issue.message}`];
  });
}

/**
 * Validates an already-parsed JSON value against the signal rules, returning every problem at once.
 *
 * @example
 * const result = validateSignal(JSON.parse(body));
 * if (!result.ok) console.error(result.errors.join('\n'));
 */
export function validateSignal(input: unknown): ValidationResult<SignalCandidate> {
  if (isValidSignalFast(input)) return { ok: true, value: input };
  const parsed = SignalCandidateSchema.safeParse(input);
  return parsed.success
    ? { ok: true, value: parsed.data }
    : { ok: false, errors: formatIssues(parsed.error.issues) };
}

const SIGNAL_KEYS: ReadonlySet<string> = new Set(SIGNAL_FIELDS);

const isPrice = (n: unknown): n is number => typeof n === 'number' && Number.isFinite(n) && n > 0;

/** An object literal or `Object.create(null)`: what `JSON.parse` makes of `{…}`. */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * Allocation-free check that `value` is a valid signal, tried by `validateSignal` before the zod schema:
 * zod was a quarter of the SDK's and a large part of the server's per-signal CPU. `true` only for
 * signals `SignalCandidateSchema` accepts (it may only be stricter; signal-fast.test.ts checks that
 * with fast-check); `false` means "ask the schema", which stays the one source of error messages.
 */
export function isValidSignalFast(value: unknown): value is SignalCandidate {
  if (!isPlainObject(value)) return false;
  for (const key in value) if (!SIGNAL_KEYS.has(key)) return false;
  const { instrument, side, entry_price, stop_loss, take_profit, confidence, reason, timestamp, payload } =
    value;
  if (typeof instrument !== 'string' || !INSTRUMENT_PATTERN.test(instrument)) return false;
  if (!isPrice(entry_price) || !isPrice(stop_loss) || !isPrice(take_profit)) return false;
  if (side === 'buy') {
    if (!(stop_loss < entry_price && take_profit > entry_price)) return false;
  } else if (side === 'sell') {
    if (!(stop_loss > entry_price && take_profit < entry_price)) return false;
  } else return false;
  if (typeof confidence !== 'number' || !(confidence >= 0 && confidence <= 1)) return false;
  if (typeof reason !== 'string' || reason.length < 1 || reason.length > 500) return false;
  if (parseTimestamp(timestamp) === undefined) return false;
  return payload === undefined || isPlainObject(payload);
}
