import { createReadStream } from 'node:fs';

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
