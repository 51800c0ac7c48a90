import { readFileSync } from 'node:fs';
import { Command, CommanderError, type Option } from 'commander';
import { conditionalFlagChecks, count, credentialKind, FlagValueError } from './args.js';
import { commands, type RegisterCommand } from './commands/index.js';
import { EXIT_CODES, type ExitCode, isCliError, UsageError } from './errors.js';
import type { CliIO, TextSink } from './io.js';

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
  deferFlagChecks(program);
  return program;
}

/**
 * Every problem with the flags at once: each bad value (its parser's one line) and each missing
 * required flag. Exit code 2.
 */
export class FlagProblemsError extends UsageError {
  override readonly name = 'FlagProblemsError' as const;
  readonly problems: readonly string[];

  constructor(problems: readonly string[]) {
    super(
      problems.length === 1
        ? (problems[0] ?? '')
        : `${problems.length} problems with the flags; nothing was done:\n${problems.map((p) => `  ${p}`).join('\n')}`,
      { code: 'CLI_INVALID_FLAG' },
    );
    this.problems = problems;
  }
}

/**
 * Commander stops at the first bad flag value, and checks required flags before it looks for unknown
 * ones: \`sign --foo\` would say that \`--timestamp\` is missing, and \`send\` with three bad values would
 * name one. Here every bad value is collected while parsing, and the required flags are checked
 * later: after commander's own checks (an unknown flag first, then extra arguments), one preAction
 * hook reports every bad value and every missing required flag at once.
 */
function deferFlagChecks(program: Command): void {
  const badValues: FlagValueError[] = [];
  const refused = new Set<Option>();
  const required = new Set<Option>();
  const walk = (command: Command) => {
    for (const option of command.options) {
      const parse = option.parseArg;
      if (parse !== undefined) {
        option.parseArg = <T>(value: string, previous: T): T => {
          try {
            return parse(value, previous) as T;
          } catch (error) {
            if (!(error instanceof FlagValueError)) throw error;
            badValues.push(error);
            refused.add(option);
            return previous;
          }
        };
      }
      if (option.mandatory) {
        option.makeOptionMandatory(false);
        required.add(option);
      }
    }
    for (const sub of command.commands) walk(sub);
  };
  walk(program);
  program.hook('preAction', (_program, action) => {
    const problems = badValues.map((e) => e.message);
    for (let command: Command | null = action; command !== null; command = command.parent) {
      for (const option of command.options) {
        if (
          required.has(option) &&
          !refused.has(option) &&
          command.getOptionValue(option.attributeName()) === undefined
        ) {
          problems.push(`required option '${option.flags}' not specified`);
        }
      }
    }
    const conditional = conditionalFlagChecks.get(action);
    if (conditional !== undefined) {
      const refusedKeys = new Set([...refused].map((option) => option.attributeName()));
      problems.push(...conditional(action.opts(), refusedKeys));
    }
    if (problems.length > 0) throw new FlagProblemsError(problems);
  });
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
  const safe = withScrubbedStderr(io, sensitiveValues(argv, io.env));
  try {
    await buildProgram(safe, registrations).parseAsync([...argv], { from: 'user' });
    return EXIT_CODES.ok;
  } catch (error) {
    return report(error, safe);
  }
}

/** Flags whose value is a secret, whatever it looks like. */
const SECRET_FLAGS = new Set(['--secret']);
/** Variables whose value is a secret (a list for the last one), whatever it looks like. */
const SECRET_VARIABLES = [
  'HMAC_PRODUCER_SECRET',
  'SIGPOST_SECRET_KEY',
  'SIGPOST_PREVIOUS_SECRET_KEYS',
  'TELEGRAM_BOT_TOKEN',
];
/** The other variables the commands read; a value among them that looks like a credential is kept out of messages too. */
const READ_VARIABLES = /^(?:PRODUCER_ID|DATABASE_URL|OUTBOUND_\w+|SIGPOST_\w+|TELEGRAM_\w+|HMAC_\w+)$/;
/** Shorter "secrets" are too short to be valid, and replacing them everywhere would garble messages. */
const MIN_SCRUBBED_CHARS = 8;

/**
 * The values of this run that no message may show: each argument and each variable the commands read
 * that looks like a credential (`credentialKind`), every `--secret` and secret variable, and the
 * password of a database URL. The flag parsers already describe such values by length and kind; this
 * is the net under every other message (commander's own, the SDK's, the store's).
 */
export function sensitiveValues(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): string[] {
  const found = new Set<string>();
  const secret = (value: string | undefined) => {
    if (value !== undefined && value.length >= MIN_SCRUBBED_CHARS) found.add(value);
  };
  const maybe = (value: string | undefined) => {
    if (value === undefined || credentialKind(value) === undefined) return;
    found.add(value);
    secret(passwordOf(value));
  };
  argv.forEach((arg, i) => {
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    if (eq === -1) {
      maybe(arg);
      // A value typed as a flag (`--<pasted secret>`) is echoed by commander as an unknown option.
      maybe(arg.replace(/^-+/, ''));
      if (SECRET_FLAGS.has(arg)) secret(argv[i + 1]);
      return;
    }
    const value = arg.slice(eq + 1);
    maybe(value);
    maybe(arg.replace(/^-+/, ''));
    if (SECRET_FLAGS.has(arg.slice(0, eq))) secret(value);
  });
  for (const name of SECRET_VARIABLES) {
    for (const value of env[name]?.split(',') ?? []) secret(value.trim());
    secret(env[name]);
  }
  for (const [name, value] of Object.entries(env)) if (READ_VARIABLES.test(name)) maybe(value);
  // Longest first: a value that contains another is replaced whole.
  return [...found].sort((a, b) => b.length - a.length);
}

function passwordOf(value: string): string | undefined {
  try {
    const { password } = new URL(value);
    return password === '' ? undefined : decodeURIComponent(password);
  } catch {
    return undefined;
  }
}

/** The IO with each sensitive value in what goes to stderr replaced by `<N characters, not shown>`. */
function withScrubbedStderr(io: CliIO, values: readonly string[]): CliIO {
  if (values.length === 0) return io;
  const stderr: TextSink = {
    write: (text: string) => {
      let safe = text;
      for (const value of values) {
        if (safe.includes(value))
          safe = safe.replaceAll(value, `<${count([...value].length, 'character')}, not shown>`);
      }
      return io.stderr.write(safe);
    },
  };
  // A prototype, not a copy: `nodeIO().stdin` is a getter that opens stdin only when a command reads it.
  return Object.create(io, { stderr: { value: stderr, enumerable: true } }) as CliIO;
}

function report(error: unknown, io: CliIO): ExitCode {
  if (error instanceof CommanderError) {
    // Commander has already written its message (or the help/version text) through configureOutput.
    if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version') return EXIT_CODES.ok;
    return EXIT_CODES.usage;
  }
  if (isCliError(error)) {
    if (!error.alreadyReported) io.stderr.write(`error: ${error.message}\n`);
    return error.exitCode;
  }
  // Not one of ours: a bug, so the stack is the useful part.
  const text = error instanceof Error ? (error.stack ?? error.message) : String(error);
  io.stderr.write(`error: unexpected failure, please report it:\n${text}\n`);
  return EXIT_CODES.failure;
}
