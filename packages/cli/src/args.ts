// Shared parsers for flag values, used by every command through commander's `.argParser()`.
//
// Each parser is made for one flag and throws a `FlagValueError` whose message is one line naming the
// flag, what it expects and what it received: `--confidence expects a number from 0 to 1, received "high"`.
// It deliberately does not extend commander's `InvalidArgumentError`: commander would wrap that in its
// own `error: option '--confidence <number>' argument 'high' is invalid.` prefix, which repeats the
// value. `main()` collects every parser's error (see `deferFlagChecks`) and prints them as
// `error: <message>` with exit code 2. What a parser received is shown through `quote`, which never
// shows a value that looks like a credential.
import { statSync } from 'node:fs';
import {
  checkJson,
  INSTRUMENT_PATTERN,
  type Issue,
  issueLine,
  isValidIdempotencyKey,
  isValidProducerId,
  MIN_SECRET_BYTES,
  parseTimestamp,
  STORED_SIGNAL_STATUSES,
} from '@sigpost/protocol';
import type { Command } from 'commander';
import { UsageError } from './errors.js';

/**
 * Flags a command needs only in some cases (`send`: the signal's flags, unless `--file`). Given the
 * parsed options and the keys of options whose value was refused (already reported), answers one line
 * per missing flag; `main()` reports them with every other flag problem at once.
 */
export const conditionalFlagChecks = new WeakMap<
  Command,
  (options: Record<string, unknown>, refused: ReadonlySet<string>) => string[]
>();

/** A bad flag (or environment variable) value; exit code 2. */
export class FlagValueError extends UsageError {
  override readonly name = 'FlagValueError' as const;
  /** The flag (`--confidence`) or environment variable (`HMAC_PRODUCER_SECRET`) at fault. */
  readonly flag: string;
  /** What would be valid, in words. */
  readonly expected: string;
  /** What was given, in words (quoted, shortened; a secret by its byte length only). */
  readonly received: string;

  constructor(flag: string, expected: string, received: string) {
    super(issueLine({ key: flag, expected, received }), { code: 'CLI_INVALID_FLAG' });
    this.flag = flag;
    this.expected = expected;
    this.received = received;
  }
}

/**
 * Issues found by the server's own checks (configuration, admin input, list filters), each already
 * named by the flag or variable that set it, as one usage error: `KEY expects …, received …` per issue
 * (`issueLine`, the same line as a `FlagValueError`), joined by `; `.
 */
export function issuesUsageError(issues: readonly Issue[], cause: unknown): UsageError {
  return new UsageError(issues.map(issueLine).join('; '), { code: 'CLI_INVALID_FLAG', cause });
}

/** Parses one flag's text into its value, or throws a `FlagValueError`. */
export type FlagParser<T> = (value: string) => T;

const MAX_SHOWN = 40;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** What a value that may be a credential looks like, for messages that must not show it. */
export type CredentialKind =
  | 'an operator token'
  | 'a producer secret'
  | 'a secret or key'
  | 'a URL with a password';

/**
 * Whether a value looks like a credential, and which: an operator token (`sgp_…`), a producer secret
 * as `sigpost keygen` makes them (43 characters of base64url), any other long random-looking word
 * (16+ characters of base64 or base64url mixing upper and lower case letters and digits, such as a
 * `SIGPOST_SECRET_KEY`), or a URL with a password. The ids Sigpost issues and UUIDs are not
 * credentials. A value it flags is described by its length and kind, never shown.
 *
 * @example
 * credentialKind('sgp_Xr2…'); // 'an operator token'
 * credentialKind('high');     // undefined
 */
export function credentialKind(value: string): CredentialKind | undefined {
  if (/^sgp_/i.test(value)) return 'an operator token';
  // The ids Sigpost issues (sig_, sec_, tok_ and a ULID) and UUIDs (idempotency keys) are not secret.
  if (/^[a-z]{2,8}_[0-9A-HJKMNP-TV-Z]{26}$/.test(value) || UUID.test(value)) return undefined;
  if (/^[a-z][a-z0-9+.-]*:\/\/[^/@\s]*:[^/@\s]*@/i.test(value)) return 'a URL with a password';
  // Random text: upper and lower case letters and digits, base64url (keygen) or base64 (keys).
  if (!/[A-Z]/.test(value) || !/[a-z]/.test(value) || !/\d/.test(value)) return undefined;
  if (/^[A-Za-z0-9_-]{43}$/.test(value)) return 'a producer secret';
  if (/^[A-Za-z0-9_-]{16,}$/.test(value) || /^[A-Za-z0-9+/]{16,}={0,2}$/.test(value))
    return 'a secret or key';
  return undefined;
}

/**
 * A count with its noun, singular for 1: `count(1, 'byte')` is `1 byte`, `count(9, 'byte')` `9 bytes`.
 * @param plural the plural, when it is not the noun + s
 */
export function count(n: number, noun: string, plural = `${noun}s`): string {
  return `${n} ${n === 1 ? noun : plural}`;
}

/**
 * A value that must not be shown, in words: its length and what it looks like.
 * @example withheld('sgp_…') // '47 characters that look like an operator token (not shown)'
 */
export function withheld(value: string, kind = credentialKind(value)): string {
  const characters = count([...value].length, 'character');
  return kind === undefined
    ? `${characters} (not shown)`
    : `${characters} that look like ${kind} (not shown)`;
}

/**
 * The value as a message shows it: JSON-quoted (control characters visible), shortened; a value that
 * looks like a credential (see `credentialKind`) only by its length and kind. Every parser of this
 * file describes what it received through here, so that no error echoes a pasted secret.
 */
export function quote(value: string): string {
  if (credentialKind(value) !== undefined) return withheld(value);
  const chars = [...value];
  return chars.length <= MAX_SHOWN
    ? JSON.stringify(value)
    : `${JSON.stringify(chars.slice(0, MAX_SHOWN).join(''))}… (${chars.length} characters)`;
}

/**
 * An id the store issued (`tok_…`, `sec_…`). A value that is not one is never shown, only its length
 * and kind, with where to find the right id: ids are copied from listings, and what gets pasted by
 * mistake is often the secret or token next to them.
 *
 * @example
 * identifier('--id', ID_PATTERNS.tok, { expected: 'a token id such as tok_…', prefix: 'tok_', list: 'sigpost tokens list' })
 */
export function identifier(
  flag: string,
  pattern: RegExp,
  id: { readonly expected: string; readonly prefix: string; readonly list: string },
): FlagParser<string> {
  return (value) => {
    if (pattern.test(value)) return value;
    const kind = credentialKind(value);
    const length = [...value].length;
    const looks =
      kind !== undefined
        ? `that look like ${kind}`
        : value.startsWith(id.prefix)
          ? `starting with ${id.prefix} but not a whole id`
          : `that ${length === 1 ? 'is' : 'are'} not an id`;
    throw new FlagValueError(
      flag,
      id.expected,
      `${count(length, 'character')} ${looks} (not shown); pass its ${id.prefix} id, see \`${id.list}\``,
    );
  };
}

// Plain decimal notation only: Number() would also take "", " ", "0x10", "Infinity" and "1_000".
const DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

function parseDecimal(value: string): number | undefined {
  if (!DECIMAL.test(value)) return undefined;
  const n = Number(value);
  return Number.isFinite(n) ? n : undefined;
}

/**
 * A finite number > 0 (prices).
 * @example .option('--entry-price <price>', 'entry price', positiveNumber('--entry-price'))
 */
export function positiveNumber(flag: string): FlagParser<number> {
  return (value) => {
    const n = parseDecimal(value);
    if (n === undefined || n <= 0) throw new FlagValueError(flag, 'a number > 0', quote(value));
    return n;
  };
}

/** A number in `[min, max]`. */
export function numberInRange(flag: string, min: number, max: number, unit = ''): FlagParser<number> {
  const expected = `a number${unit} from ${min} to ${max}`;
  return (value) => {
    const n = parseDecimal(value);
    if (n === undefined || n < min || n > max) throw new FlagValueError(flag, expected, quote(value));
    return n;
  };
}

/** An integer in `[min, max]`. */
export function integerInRange(flag: string, min: number, max: number): FlagParser<number> {
  return (value) => {
    const n = /^[+-]?\d+$/.test(value) ? Number(value) : Number.NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      throw new FlagValueError(flag, `an integer from ${min} to ${max}`, quote(value));
    }
    return n;
  };
}

/** One of a fixed set of words. */
export function oneOf<const T extends string>(flag: string, choices: readonly T[]): FlagParser<T> {
  const words = choices.map((c) => JSON.stringify(c));
  const expected =
    words.length <= 2 ? words.join(' or ') : `one of ${words.slice(0, -1).join(', ')} or ${words.at(-1)}`;
  return (value) => {
    if (!(choices as readonly string[]).includes(value))
      throw new FlagValueError(flag, expected, quote(value));
    return value as T;
  };
}

/**
 * Why a name or id may not be `value`, when it looks like a credential (see `credentialKind`); else
 * undefined. A flag that creates something by name or looks it up (`producers add --id`,
 * `tokens create --name`, `signals list --producer`) would otherwise store a pasted secret, print it
 * back and carry it into listings, headers and logs. Ids that look like random text are refused for
 * the same reason: they cannot be told from a secret.
 * @param what the thing named, for the message: `a producer id`
 */
export function credentialAsName(value: string, what: string): string | undefined {
  const kind = credentialKind(value);
  if (kind === undefined) return undefined;
  return (
    `${withheld(value, kind)}; ${what} is stored, listed and logged, so it may not look like a secret ` +
    '(use plain words such as desk-1)'
  );
}

/**
 * A string matching a pattern; `expected` says what the pattern allows, in words. With `what` (a name
 * or id: `a token name`), a value that looks like a credential is refused too (see `credentialAsName`).
 */
export function matching(flag: string, pattern: RegExp, expected: string, what?: string): FlagParser<string> {
  return matchingBy(flag, (value) => pattern.test(value), expected, what);
}

/**
 * A comma-separated list checked item by item (spaces around the commas ignored, duplicates dropped).
 * With `what` (`a producer id`), an item that looks like a credential is refused (`credentialAsName`).
 */
export function listOf(
  flag: string,
  expected: string,
  valid: (item: string) => boolean,
  what?: string,
): FlagParser<string[]> {
  return (value) => {
    const items = value.split(',').map((item) => item.trim());
    items.forEach((item, i) => {
      const refused = what === undefined ? undefined : credentialAsName(item, what);
      if (refused !== undefined || !valid(item)) {
        const where = `(item ${i + 1} of ${items.length})`;
        throw new FlagValueError(
          flag,
          expected,
          refused === undefined ? `${quote(item)} ${where}` : `${where} ${refused}`,
        );
      }
    });
    return [...new Set(items)];
  };
}

/** `--statuses received,approved`: a comma-separated list of `STORED_SIGNAL_STATUSES`. */
export function statusList(flag: string): FlagParser<string[]> {
  return listOf(flag, `a comma-separated list among ${STORED_SIGNAL_STATUSES.join(', ')}`, (s) =>
    (STORED_SIGNAL_STATUSES as readonly string[]).includes(s),
  );
}

/** `--producers desk-1,desk-2`: a comma-separated list of producer ids (none that looks like a secret). */
export function producerIdList(flag: string): FlagParser<string[]> {
  return listOf(
    flag,
    `a comma-separated list of producer ids, each ${PRODUCER_ID_EXPECTED}`,
    isValidProducerId,
    'a producer id',
  );
}

/** Text of `min`–`max` characters (code points). */
export function textOfLength(flag: string, min: number, max: number): FlagParser<string> {
  return (value) => {
    const length = [...value].length;
    if (length < min || length > max) {
      const received = length > MAX_SHOWN ? `${length} characters` : quote(value);
      throw new FlagValueError(flag, `${min}–${max} characters`, received);
    }
    return value;
  };
}

/**
 * A JSON object (`{...}`), parsed. The protocol's `checkJson` runs first: a key twice in one object
 * (which `JSON.parse` would resolve silently, last wins) or a body limit broken is refused, named by
 * its path. `field` is the body field the object becomes (`payload`): it is then checked where it will
 * sit in the body, so that paths and depths read as the server's would (`payload.a`).
 *
 * @example .option('--payload <json>', 'free-form data', jsonObject('--payload', 'payload'))
 */
export function jsonObject(flag: string, field?: string): FlagParser<Record<string, unknown>> {
  const expected = 'a JSON object such as {"rsi":35}';
  return (value) => {
    const alone = checkJson(value);
    if (!alone.ok && alone.reason === 'syntax') {
      throw new FlagValueError(flag, expected, `${quote(value)}, which is not valid JSON`);
    }
    // Wrapped, the text reads as alone up to its first problem, which is then found at the latest
    // where it was alone: a text refused alone is refused wrapped.
    const check = field === undefined ? alone : checkJson(`{${JSON.stringify(field)}:${value}}`);
    if (!check.ok) throw new FlagValueError(flag, expected, `${quote(value)}, refused: ${check.message}`);
    const parsed: unknown = JSON.parse(value);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new FlagValueError(flag, expected, quote(value));
    }
    return parsed as Record<string, unknown>;
  };
}

/** The path of an existing regular file that this process may read. */
export function readableFile(flag: string): FlagParser<string> {
  return (value) => {
    let why: string | undefined;
    try {
      if (!statSync(value).isFile()) why = 'not a regular file';
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : String(code);
    }
    if (why !== undefined) throw new FlagValueError(flag, 'a readable file', `${quote(value)} (${why})`);
    return value;
  };
}

/** An RFC 3339 date-time, kept byte for byte (it is signed as given). */
export function timestamp(flag: string): FlagParser<string> {
  return matchingBy(
    flag,
    (v) => parseTimestamp(v) !== undefined,
    'an RFC 3339 date-time such as 2025-10-25T14:30:45.123456Z',
  );
}

/** What a producer id may be, in words. */
export const PRODUCER_ID_EXPECTED = '1–64 characters of A-Z a-z 0-9 . _ -';

/**
 * An `X-Producer-Id`: 1–64 characters of `[A-Za-z0-9._-]`, not looking like a credential (a producer
 * id is sent in headers and shown in listings and logs; see `credentialAsName`).
 */
export function producerId(flag: string): FlagParser<string> {
  return matchingBy(flag, isValidProducerId, PRODUCER_ID_EXPECTED, 'a producer id');
}

/** An `X-Idempotency-Key`: 1–255 visible ASCII characters. */
export function idempotencyKey(flag: string): FlagParser<string> {
  return matchingBy(flag, isValidIdempotencyKey, '1–255 visible ASCII characters');
}

/** What an instrument symbol may be, in words. */
export const INSTRUMENT_EXPECTED = '1–32 characters of A-Z a-z 0-9 . _ / -';

/** An instrument symbol: 1–32 characters of `[A-Za-z0-9._/-]`, not looking like a credential. */
export function instrument(flag: string): FlagParser<string> {
  return matching(flag, INSTRUMENT_PATTERN, INSTRUMENT_EXPECTED, 'an instrument');
}

/** A shared secret of at least 16 bytes (UTF-8). A bad one is reported by its byte length only. */
export function secret(flag: string): FlagParser<string> {
  return (value) => {
    const bytes = Buffer.byteLength(value, 'utf8');
    if (bytes < MIN_SECRET_BYTES) {
      throw new FlagValueError(flag, `at least ${MIN_SECRET_BYTES} bytes`, count(bytes, 'byte'));
    }
    return value;
  };
}

function matchingBy(
  flag: string,
  test: (value: string) => boolean,
  expected: string,
  what?: string,
): FlagParser<string> {
  return (value) => {
    const refused = what === undefined ? undefined : credentialAsName(value, what);
    if (refused !== undefined) throw new FlagValueError(flag, expected, refused);
    if (!test(value)) throw new FlagValueError(flag, expected, quote(value));
    return value;
  };
}

/**
 * A flag's value, or else an environment variable's (validated under the variable's name), or else
 * a usage error saying both ways to give it.
 *
 * @example
 * const key = fromFlagOrEnv(opts.secret, io.env, 'HMAC_PRODUCER_SECRET', "--secret <secret>", secret);
 */
export function fromFlagOrEnv<T>(
  flagValue: T | undefined,
  env: Readonly<Record<string, string | undefined>>,
  variable: string,
  flagSpec: string,
  parser: (flag: string) => FlagParser<T>,
): T {
  if (flagValue !== undefined) return flagValue;
  const raw = env[variable];
  if (raw !== undefined && raw !== '') return parser(variable)(raw);
  throw new UsageError(`required option '${flagSpec}' not specified (or set ${variable})`);
}
