import { describeBrandedErrors } from '@sigpost/test-support/branded-errors';
import { describe, expect, it } from 'vitest';
import { CliError, CommandFailedError, EXIT_CODES, isCliError, UsageError } from './errors.js';

const cause = new Error('the server refused');

describeBrandedErrors([
  {
    name: 'CliError',
    guard: isCliError,
    make: () => new CliError('m', { code: 'CLI_FAILED', exitCode: EXIT_CODES.failure, cause }),
    code: 'CLI_FAILED',
    cause,
  },
]);

describe('the subclasses', () => {
  it.each([
    [new UsageError('u'), 'UsageError', 'CLI_USAGE', EXIT_CODES.usage],
    [new UsageError('u', { code: 'CLI_INVALID_FLAG' }), 'UsageError', 'CLI_INVALID_FLAG', EXIT_CODES.usage],
    [new CommandFailedError('f'), 'CommandFailedError', 'CLI_FAILED', EXIT_CODES.failure],
  ] as const)(
    '%s keeps its name, code and exit code, and passes isCliError',
    (error, name, code, exitCode) => {
      expect([error.name, error.code, error.exitCode, isCliError(error)]).toEqual([
        name,
        code,
        exitCode,
        true,
      ]);
    },
  );
});
