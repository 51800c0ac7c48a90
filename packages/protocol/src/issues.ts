// One problem with a configuration option, an environment variable, a flag or an input field, as data,
// and its two renderings. The server's config and input checks, the SDK's config checks and the CLI's
// flag errors all speak of a problem this way.

/** What an issue is about, when its producer says so; a `renamed` issue renders as "KEY is not read; use …". */
export type IssueCode = 'required' | 'invalid_type' | 'invalid_value' | 'renamed' | 'unknown_key';

/** One problem, as data. `received` never contains a secret (a secret is given by its byte length only). */
export interface Issue {
  /** The option, flag, environment variable or field at fault (`toleranceSeconds`, `SIGPOST_PORT`, `--id`). */
  readonly key: string;
  /** What would be valid, in words (`an integer from 1 to 3600`); for `renamed`, the name to use instead. */
  readonly expected: string;
  /** What was found, in words, rendered safely (quoted and shortened). */
  readonly received: string;
  readonly code?: IssueCode;
}

/**
 * Renders issues in zod's `✖ … → at KEY` style, one block of two lines per issue.
 *
 * @example
 * renderIssues([{ key: 'port', expected: 'an integer from 0 to 65535', received: '-1' }]);
 * // '✖ expected an integer from 0 to 65535, received -1\n  → at port'
 */
export function renderIssues(issues: readonly Issue[]): string {
  return issues
    .map((issue) => {
      const line =
        issue.code === 'renamed'
          ? `${issue.key} is not read; use ${issue.expected}`
          : `expected ${issue.expected}, received ${issue.received}`;
      return `✖ ${line}\n  → at ${issue.key}`;
    })
    .join('\n');
}

/**
 * One issue on one line, as the CLI reports a bad flag or variable: `KEY expects …, received …`.
 *
 * @example
 * issueLine({ key: '--confidence', expected: 'a number from 0 to 1', received: '"high"' });
 * // '--confidence expects a number from 0 to 1, received "high"'
 */
export function issueLine(issue: Issue): string {
  return `${issue.key} expects ${issue.expected}, received ${issue.received}`;
}

/**
 * A value as an issue's `received` shows it: a string JSON-quoted (control characters visible) and cut
 * to `maxChars` characters (then `…`), a number or boolean as written, `nothing` for `undefined`, an
 * array by its length, anything else by its type. For values that are not secret: describe a secret
 * by its byte length instead.
 *
 * @example
 * describeValue('high'); // '"high"'
 * describeValue(undefined); // 'nothing'
 * describeValue([1, 2]); // 'an array of 2'
 */
export function describeValue(value: unknown, maxChars = 40): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (typeof value === 'string') {
    if (value === '') return 'an empty string';
    return JSON.stringify(value.length > maxChars ? `${value.slice(0, maxChars)}…` : value);
  }
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint')
    return String(value);
  if (Array.isArray(value)) return `an array of ${value.length}`;
  return `a value of type ${typeof value}`;
}
