import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { commands, type RegisterCommand } from './commands/index.js';
import { CliError, EXIT_CODES, type ExitCode } from './errors.js';
import type { CliIO } from './io.js';

// src/main.ts and dist/main.js both sit one level under the package root.
const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

/**
 * Builds the `sigpost` program around an IO: output goes to `io.stdout`/`io.stderr`, and commander
 * throws instead of calling `process.exit`.
 *
 * @example
 * const help = buildProgram(nodeIO()).helpInformation();
 */
export function buildProgram(io: CliIO, registrations: readonly RegisterCommand[] = commands): Command {
  const program = new Command('sigpost')
    .description('Sign, verify and send Sigpost trading signals (wire protocol v1).')
    .version(version, '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help for a command')
    .helpCommand('help [command]', 'show help for a command')
    .addHelpText(
      'after',
      '\nExit codes: 0 ok, 1 failure (refused, unreachable, invalid signature), 2 usage error.',
    )
    // Set before the commands are added: subcommands copy these settings when created.
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
      getOutHasColors: () => false,
      getErrHasColors: () => false,
    });
  for (const register of registrations) register(program, io);
  return program;
}

/**
 * Runs `sigpost` with the given arguments (without `node` and the script) and returns the exit code.
 * Expected failures print one message on stderr, never a stack trace.
 * @param registrations the commands to offer
 * @default registrations commands (every command of `src/commands/`)
 *
 * @example
 * const code = await main(['sign', '--producer-id', 'p', '--timestamp', ts, '--body-file', 'body.json'], io);
 */
export async function main(
  argv: readonly string[],
  io: CliIO,
  registrations: readonly RegisterCommand[] = commands,
): Promise<ExitCode> {
  try {
    await buildProgram(io, registrations).parseAsync([...argv], { from: 'user' });
    return EXIT_CODES.ok;
  } catch (error) {
    return report(error, io);
  }
}

function report(error: unknown, io: CliIO): ExitCode {
  if (error instanceof CommanderError) {
    // Commander has already written its message (or the help/version text) through configureOutput.
    if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version') return EXIT_CODES.ok;
    return EXIT_CODES.usage;
  }
  if (error instanceof CliError) {
    if (!error.alreadyReported) io.stderr.write(`error: ${error.message}\n`);
    return error.exitCode;
  }
  // Not one of ours: a bug, so the stack is the useful part.
  const text = error instanceof Error ? (error.stack ?? error.message) : String(error);
  io.stderr.write(`error: unexpected failure, please report it:\n${text}\n`);
  return EXIT_CODES.failure;
}
