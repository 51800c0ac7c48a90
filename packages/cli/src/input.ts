import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { CommandFailedError } from './errors.js';

/**
 * The largest body `sign` and `verify` read: the largest `OUTBOUND_MAX_BODY_SIZE` allows (10 MiB).
 * A bigger body could never be sent, so it is refused before it is read whole.
 */
export const MAX_BODY_BYTES = 10 * 1024 * 1024;

/** Reads a file's exact bytes, refusing one over `limit` bytes. */
export async function readFileCapped(path: string, flag: string, limit = MAX_BODY_BYTES): Promise<Buffer> {
  const where = `${flag} ${path}`;
  try {
    if ((await stat(path)).size > limit) throw tooLarge(where, limit);
    // Counted again while reading: the file may grow after stat.
    return await readAllCapped(createReadStream(path), limit, where);
  } catch (error) {
    if (error instanceof CommandFailedError) throw error;
    const code = (error as NodeJS.ErrnoException).code ?? 'unknown error';
    throw new CommandFailedError(`cannot read ${where} (${code})`, { cause: error });
  }
}

/** Reads all of stdin as bytes, exactly as given, refusing more than `limit` bytes. */
export function readStdinCapped(
  stdin: AsyncIterable<Buffer | string>,
  limit = MAX_BODY_BYTES,
): Promise<Buffer> {
  return readAllCapped(stdin, limit, 'stdin');
}

async function readAllCapped(
  source: AsyncIterable<Buffer | string>,
  limit: number,
  where: string,
): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of source) {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
    length += bytes.length;
    if (length > limit) throw tooLarge(where, limit);
    chunks.push(bytes);
  }
  return Buffer.concat(chunks, length);
}

function tooLarge(where: string, limit: number): CommandFailedError {
  return new CommandFailedError(
    `the body read from ${where} is over ${limit} bytes, the most a signal may have`,
  );
}
