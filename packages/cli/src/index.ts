// The `sigpost` command as a library: run it in process (tests, wrappers) with your own IO.

export { FlagValueError } from './args.js';
export type { RegisterCommand } from './commands/index.js';
export { commands } from './commands/index.js';
export type { CliErrorCode, CliErrorOptions, ExitCode } from './errors.js';
export { CliError, CommandFailedError, EXIT_CODES, isCliError, UsageError } from './errors.js';
export type { CliIO, NodeCliIO, TextSink } from './io.js';
export { exitStatus, nodeIO, ProcessSink } from './io.js';
export { buildProgram, FlagProblemsError, main } from './main.js';
