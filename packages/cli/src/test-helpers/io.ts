// In-process runs of `sigpost` with captured output, for the tests.
import type { CliIO } from '../io.js';
import { main } from '../main.js';

export interface RunOptions {
  /** What stdin yields; nothing when omitted. */
  readonly stdin?: string | Buffer | readonly (string | Buffer)[];
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly isTTY?: boolean;
  readonly now?: () => number;
}

export interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface CapturedIO extends CliIO {
  readonly out: string[];
  readonly err: string[];
  /**
   * Resolves once `predicate` holds for what was written to stdout and stderr so far: checked now and
   * after each write (an event, not a poll).
   */
  until(predicate: (written: { readonly stdout: string; readonly stderr: string }) => boolean): Promise<void>;
}

/** A captured IO: every write is kept, in order. */
export function captureIO(options: RunOptions = {}): CapturedIO {
  const out: string[] = [];
  const err: string[] = [];
  const chunks =
    options.stdin === undefined ? [] : Array.isArray(options.stdin) ? options.stdin : [options.stdin];
  const waiters = new Set<() => void>();
  const written = () => ({ stdout: out.join(''), stderr: err.join('') });
  const wrote = () => {
    for (const check of [...waiters]) check();
  };
  return {
    out,
    err,
    stdout: {
      write: (text: string) => {
        out.push(text);
        wrote();
      },
    },
    stderr: {
      write: (text: string) => {
        err.push(text);
        wrote();
      },
    },
    until: (predicate) =>
      new Promise<void>((resolve) => {
        const check = () => {
          if (!predicate(written())) return;
          waiters.delete(check);
          resolve();
        };
        waiters.add(check);
        check();
      }),
    stdin: (async function* () {
      for (const chunk of chunks) yield typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    })(),
    env: options.env ?? {},
    isTTY: options.isTTY ?? false,
    ...(options.now ? { now: options.now } : {}),
  };
}

/** Runs `sigpost <argv>` in process. */
export async function run(argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const io = captureIO(options);
  const code = await main(argv, io);
  return { code, stdout: io.out.join(''), stderr: io.err.join('') };
}
