import { createReadStream } from 'node:fs';
import { checkJson, isPlainObject, isValidIdempotencyKey, type ValidationResult } from '@sigpost/protocol';
import { CommandFailedError } from './errors.js';
import { MAX_BODY_BYTES } from './input.js';

/** One line of a file: its text, or a note that it was longer than the limit (and skipped unread). */
export type Line =
  | { readonly number: number; readonly text: string }
  | { readonly number: number; readonly tooLong: true };

/**
 * Reads a file line by line (`\n` or `\r\n`), numbering from 1, holding at most `maxLineBytes` of one
 * line in memory: a longer line is reported as `tooLong` and skipped.
 */
export async function* readLines(path: string, maxLineBytes: number): AsyncGenerator<Line> {
  let number = 1;
  let parts: Buffer[] = [];
  let size = 0;
  let tooLong = false;
  const emit = (): Line => {
    const line: Line = tooLong
      ? { number, tooLong: true }
      : { number, text: Buffer.concat(parts, size).toString('utf8').replace(/\r$/, '') };
    number += 1;
    parts = [];
    size = 0;
    tooLong = false;
    return line;
  };
  for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) {
    let start = 0;
    for (let end = chunk.indexOf(0x0a); end !== -1; end = chunk.indexOf(0x0a, start)) {
      append(chunk.subarray(start, end));
      yield emit();
      start = end + 1;
    }
    append(chunk.subarray(start));
  }
  if (size > 0 || tooLong) yield emit();

  function append(piece: Buffer): void {
    if (tooLong || piece.length === 0) return;
    if (size + piece.length > maxLineBytes) {
      tooLong = true;
      parts = [];
      size = 0;
      return;
    }
    parts.push(piece);
    size += piece.length;
  }
}

/** True for a line that carries something (blank lines are skipped). */
export function isContentLine(line: Line): boolean {
  return 'tooLong' in line || line.text.trim() !== '';
}

/** A line parsed as one JSON object, or what is wrong with it (one line, for a per-line error). */
export type ObjectLine =
  | { readonly ok: true; readonly value: Record<string, unknown> }
  | { readonly ok: false; readonly problem: string };

/**
 * Parses a line of a JSON Lines file of signals (`send --file`, `outbox enqueue --file`) as one JSON
 * object. The protocol's `checkJson` runs first, so that a line is refused as the server would refuse
 * its body: a key twice in one object (`JSON.parse` would keep the last value silently; the server and
 * consumers that keep the first would read another signal) or a body limit broken, named by its path.
 *
 * @example
 * parseObjectLine('{"side":"sell","side":"buy"}');
 * // { ok: false, problem: 'side: duplicate key; each key may appear once per object (…)' }
 */
export function parseObjectLine(text: string): ObjectLine {
  const check = checkJson(text);
  if (!check.ok && check.reason !== 'syntax') return { ok: false, problem: check.message };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    // JSON.parse's message, as before: it names the token and where it is.
    return { ok: false, problem: `not valid JSON (${(error as Error).message})` };
  }
  if (!check.ok) return { ok: false, problem: `not valid JSON (${check.message})` };
  if (!isPlainObject(value)) {
    return { ok: false, problem: 'expected a JSON object (one signal per line)' };
  }
  return { ok: true, value };
}

/** The content lines of a `--file` of signals (blank lines skipped); a read failure is a `CommandFailedError`. */
export async function* signalFileLines(path: string): AsyncGenerator<Line> {
  try {
    for await (const line of readLines(path, MAX_BODY_BYTES)) if (isContentLine(line)) yield line;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unknown error';
    throw new CommandFailedError(`cannot read --file ${path} (${code})`, { cause: error });
  }
}

/** A line of a signal file as its signal and optional idempotency key, or every problem with it. */
export type SignalLine<T> =
  | { readonly ok: true; readonly signal: T; readonly idempotencyKey: string | undefined }
  | { readonly ok: false; readonly problems: readonly string[]; readonly tooLong?: true };

/**
 * Parses one line of a JSON Lines file of signals (`send --file`, `outbox enqueue --file`): one JSON
 * object (`parseObjectLine`) whose optional `idempotency_key` member is taken out of the signal, and,
 * given `validate` (the protocol's `validateSignal`), the signal checked too: every problem at once.
 *
 * @example
 * parseSignalLine({ number: 1, text: '{"idempotency_key":"k-1","instrument":"GOLD"}' });
 * // { ok: true, signal: { instrument: 'GOLD' }, idempotencyKey: 'k-1' }
 */
export function parseSignalLine(line: Line): SignalLine<Record<string, unknown>>;
export function parseSignalLine<T>(
  line: Line,
  validate: (signal: Record<string, unknown>) => ValidationResult<T>,
): SignalLine<T>;
export function parseSignalLine(
  line: Line,
  validate: (signal: Record<string, unknown>) => ValidationResult<unknown> = (value) => ({ ok: true, value }),
): SignalLine<unknown> {
  if ('tooLong' in line)
    return { ok: false, problems: [`longer than ${MAX_BODY_BYTES} bytes`], tooLong: true };
  const parsed = parseObjectLine(line.text);
  if (!parsed.ok) return { ok: false, problems: [parsed.problem] };
  const { idempotency_key: key, ...signal } = parsed.value;
  const problems: string[] = [];
  if (key !== undefined && !isValidIdempotencyKey(key)) {
    problems.push('idempotency_key: expected 1–255 visible ASCII characters');
  }
  const result = validate(signal);
  if (!result.ok) problems.push(...result.errors);
  if (problems.length > 0 || !result.ok) return { ok: false, problems };
  return { ok: true, signal: result.value, idempotencyKey: key as string | undefined };
}
