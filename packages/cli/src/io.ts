import { nowMs } from '@sigpost/protocol';

/** A sink for text: `process.stdout`, or a test's capture buffer. */
export interface TextSink {
  write(text: string): unknown;
}

/**
 * Everything a command touches outside its own memory. `main()` takes one, so tests run commands
 * in process with captured output, a fixed environment and a fixed clock.
 *
 * @example
 * const exitCode = await main(['keygen'], nodeIO());
 */
export interface CliIO {
  /** Results only (a signature, `valid`, JSON), so that stdout can be piped. */
  readonly stdout: TextSink;
  /** Errors, logs, the progress bar and summary lines. */
  readonly stderr: TextSink;
  /** The body for `sign` and `verify` when no `--body-file` is given. */
  readonly stdin: AsyncIterable<Buffer | string>;
  /** Environment variables (`HMAC_PRODUCER_SECRET`, `OUTBOUND_SERVER_URL`, ...). */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** True when stderr is a terminal: the progress bar is drawn only then. */
  readonly isTTY: boolean;
  /**
   * Milliseconds since the epoch, for the default signal timestamp and for durations.
   * @default nowMs from @sigpost/protocol (the system clock, with microseconds)
   */
  readonly now?: () => number;
}

/**
 * A process stream as a `TextSink` that survives its reader going away. When a write fails (EPIPE:
 * `sigpost send --file … | head -1` closed the pipe), the stream is destroyed, and every later write
 * is dropped quietly instead of crashing the process with an unhandled 'error' event: the command
 * finishes its work (every signal is still sent) and its exit status is that of the work.
 * A failure other than EPIPE (a full disk behind `> results.jsonl`) is kept in `failure`, for the
 * caller to report once the work is done: output was lost that the reader wanted.
 */
export class ProcessSink implements TextSink {
  readonly #stream: NodeJS.WritableStream & { readonly destroyed?: boolean };
  #failure: NodeJS.ErrnoException | undefined;
  #error: NodeJS.ErrnoException | undefined;
  #closed = false;

  constructor(stream: NodeJS.WritableStream & { readonly destroyed?: boolean }) {
    this.#stream = stream;
    stream.on('error', (error: NodeJS.ErrnoException) => {
      this.#closed = true;
      this.#error ??= error;
      if (error.code !== 'EPIPE') this.#failure ??= error;
    });
  }

  /**
   * Writes `text`; answers false once the stream is closed. `done`, when given, is called once the
   * text was handed to the OS, or with the error that stopped it (EPIPE once the reader went away),
   * so a command that must not move past an unwritten line can wait for it (see `writeAndWait`).
   */
  write(text: string, done?: (error?: Error | null) => void): boolean {
    if (this.#closed || this.#stream.destroyed === true) {
      if (done) {
        const error = this.#error ?? Object.assign(new Error('write EPIPE'), { code: 'EPIPE' });
        queueMicrotask(() => done(error));
      }
      return false;
    }
    return done ? this.#stream.write(text, done) : this.#stream.write(text);
  }

  /**
   * Resolves once everything written so far was handed to the OS, or failed: then `failure` is set.
   * A write's failure is known only later: a file's stream (`> results.jsonl`, `> /dev/full`) reports
   * it in an 'error' event on the next tick, after a command that wrote last may already be done.
   */
  flush(): Promise<void> {
    if (this.#closed || this.#stream.destroyed === true) return Promise.resolve();
    return new Promise((resolve) => {
      // The empty write's callback runs after the writes before it; the 'error' event of a failed one
      // (emitted on the next tick) is handled before setImmediate's turn.
      this.#stream.write('', () => setImmediate(resolve));
    });
  }

  /** True once a write has failed: nothing more is written. */
  get closed(): boolean {
    return this.#closed;
  }

  /** The write failure that lost output, EPIPE excepted (a reader that stopped reading wanted no more). */
  get failure(): NodeJS.ErrnoException | undefined {
    return this.#failure;
  }
}

/** The `CliIO` of the running process: its stdout and stderr are `ProcessSink`s. */
export interface NodeCliIO extends CliIO {
  readonly stdout: ProcessSink;
  readonly stderr: ProcessSink;
}

/**
 * The `CliIO` of the running process.
 *
 * @example
 * const io = nodeIO();
 * process.exitCode = await exitStatus(await main(process.argv.slice(2), io), io);
 */
export function nodeIO(): NodeCliIO {
  return {
    stdout: new ProcessSink(process.stdout),
    stderr: new ProcessSink(process.stderr),
    // A getter: process.stdin is only opened by a command that reads it.
    get stdin() {
      return process.stdin;
    },
    env: process.env,
    isTTY: process.stderr.isTTY === true,
    // The system clock with sub-millisecond digits, so default timestamps carry real microseconds;
    // performance.timeOrigin + performance.now() alone drifts from it across clock steps and suspends.
    now: nowMs,
  };
}

/** `io.now()`, or `nowMs()` when the IO has no clock. */
export function nowOf(io: CliIO): number {
  return io.now ? io.now() : nowMs();
}

/**
 * The exit status of a finished command: its own, or 1 when stdout lost output to a failure other
 * than EPIPE (a full disk), which is reported on stderr. A closed pipe changes nothing: `| head -1`
 * asked for no more. Waits for stdout to flush first, so that the failure of the last write (known
 * only after the command returned) counts, whichever command wrote it.
 */
export async function exitStatus(code: number, io: NodeCliIO): Promise<number> {
  await io.stdout.flush();
  const failure = io.stdout.failure;
  if (failure === undefined) return code;
  io.stderr.write(
    `error: could not write the output to stdout (${failure.code ?? failure.message}); the work was done, but the rest of its output is lost\n`,
  );
  return code === 0 ? 1 : code;
}

/**
 * Writes `text` and resolves once it was handed to the OS; rejects with the write's error (EPIPE:
 * the reader went away). A sink that cannot tell (a test's capture) resolves at once.
 */
export function writeAndWait(sink: TextSink, text: string): Promise<void> {
  const write = sink.write as (text: string, done?: (error?: Error | null) => void) => unknown;
  if (write.length < 2) {
    sink.write(text);
    return Promise.resolve();
  }
  return new Promise((resolve, reject) => {
    write.call(sink, text, (error?: Error | null) => (error ? reject(error) : resolve()));
  });
}
