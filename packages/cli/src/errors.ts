// The errors a command throws on purpose. `main()` turns them into a message on stderr and an exit
// code; anything else is a bug and is reported with its stack.
import { defineBrand } from '@sigpost/protocol';

/**
 * Exit codes of `sigpost`.
 * - `ok` (0): the command did what was asked (`verify`: the signature is valid).
 * - `failure` (1): the command ran and failed: the server refused, the network failed, the
 *   signature is invalid, a line of `send --file` failed.
 * - `usage` (2): the command could not start: an unknown or missing flag, a bad flag value, an
 *   invalid environment configuration.
 */
export const EXIT_CODES = Object.freeze({ ok: 0, failure: 1, usage: 2 } as const);

export type ExitCode = (typeof EXIT_CODES)[keyof typeof EXIT_CODES];

export type CliErrorCode = 'CLI_USAGE' | 'CLI_INVALID_FLAG' | 'CLI_FAILED';

/** Options of `CliError`: its `code` and exit code, whether it was already reported, and its cause. */
export interface CliErrorOptions {
  readonly code: CliErrorCode;
  readonly exitCode: ExitCode;
  /** The command has already written everything the user needs; `main()` prints nothing more. */
  readonly alreadyReported?: boolean;
  readonly cause?: unknown;
}

/** Base of the errors `main()` reports without a stack trace. Branch on `code`. */
export class CliError extends Error {
  override readonly name: string = 'CliError';
  readonly code: CliErrorCode;
  readonly exitCode: ExitCode;
  /**
   * True when the command has already written everything the user needs (`verify` printed
   * `invalid`, `send --file` printed its summary): `main()` then prints nothing more.
   */
  readonly alreadyReported: boolean;

  constructor(message: string, options: CliErrorOptions) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = options.code;
    this.exitCode = options.exitCode;
    this.alreadyReported = options.alreadyReported ?? false;
  }
}

/** True for any `CliError`, also one thrown by another installed copy of this package. */
export const isCliError = defineBrand(CliError, 'sigpost.CliError');

/** The command was invoked wrongly (exit 2): a missing flag, a bad combination, a bad environment. */
export class UsageError extends CliError {
  override readonly name: string = 'UsageError';

  constructor(message: string, options?: { code?: 'CLI_USAGE' | 'CLI_INVALID_FLAG'; cause?: unknown }) {
    super(message, { code: options?.code ?? 'CLI_USAGE', exitCode: EXIT_CODES.usage, cause: options?.cause });
  }
}

/** The command ran and failed (exit 1). */
export class CommandFailedError extends CliError {
  override readonly name = 'CommandFailedError' as const;

  constructor(message: string, options?: { alreadyReported?: boolean; cause?: unknown }) {
    super(message, {
      code: 'CLI_FAILED',
      exitCode: EXIT_CODES.failure,
      alreadyReported: options?.alreadyReported ?? false,
      cause: options?.cause,
    });
  }

  /** Exit 1 with nothing more on stderr, for a command that has already reported its outcome. */
  static reported(): CommandFailedError {
    return new CommandFailedError('', { alreadyReported: true });
  }
}
