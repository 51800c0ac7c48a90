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
 * The `CliIO` of the running process.
 *
 * @example
 * process.exitCode = await main(process.argv.slice(2), nodeIO());
 */
export function nodeIO(): CliIO {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
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
