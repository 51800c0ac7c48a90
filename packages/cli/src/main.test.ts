import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { CommandFailedError, UsageError } from './errors.js';
import type { CliIO } from './io.js';
import { main } from './main.js';
import { captureIO, run } from './test-helpers/io.js';

const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

async function runWith(register: (program: Command, io: CliIO) => void, argv: string[]) {
  const io = captureIO();
  const code = await main(argv, io, [register]);
  return { code, stdout: io.out.join(''), stderr: io.err.join('') };
}

describe('sigpost (the program)', () => {
  it('prints its version from package.json', async () => {
    expect(await run(['--version'])).toEqual({ code: 0, stdout: `${version}\n`, stderr: '' });
  });

  it('lists every command and the exit codes in --help, on stdout', async () => {
    const result = await run(['--help']);
    expect(result.code).toBe(0);
    expect(result.stderr).toBe('');
    for (const command of ['sign', 'verify', 'keygen'])
      expect(result.stdout).toMatch(new RegExp(`^  ${command} `, 'm'));
    expect(result.stdout).toContain(
      'Exit codes: 0 ok, 1 failure (refused, unreachable, invalid signature), 2 usage error.',
    );
  });

  it('says in the help of sign and verify that a secret on the command line leaks into shell history', async () => {
    for (const command of ['sign', 'verify']) {
      const { stdout } = await run([command, '--help']);
      expect(stdout.replace(/\s+/g, ' ')).toContain(
        'Prefer the variable: a secret typed on the command line is kept in your shell history',
      );
    }
  });

  it('shows the help on stderr and exits 2 when no command is given', async () => {
    const result = await run([]);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/^Usage: sigpost \[options\] \[command\]/);
  });

  it('refuses an unknown command with exit code 2', async () => {
    expect(await run(['sing'])).toEqual({
      code: 2,
      stdout: '',
      stderr: "error: unknown command 'sing'\n(Did you mean sign?)\n",
    });
  });

  it('prints a usage error from a command without a stack trace, exit 2', async () => {
    const result = await runWith(
      (program) =>
        program.command('x').action(() => {
          throw new UsageError('--a cannot be combined with --b');
        }),
      ['x'],
    );
    expect(result).toEqual({ code: 2, stdout: '', stderr: 'error: --a cannot be combined with --b\n' });
  });

  it('prints a failure from a command without a stack trace, exit 1', async () => {
    const result = await runWith(
      (program) =>
        program.command('x').action(async () => {
          throw new CommandFailedError('the server refused');
        }),
      ['x'],
    );
    expect(result).toEqual({ code: 1, stdout: '', stderr: 'error: the server refused\n' });
  });

  it('prints nothing more for a failure the command has already reported', async () => {
    const result = await runWith(
      (program, io) =>
        program.command('x').action(() => {
          io.stdout.write('invalid\n');
          throw CommandFailedError.reported();
        }),
      ['x'],
    );
    expect(result).toEqual({ code: 1, stdout: 'invalid\n', stderr: '' });
  });

  it('reports an unexpected error with its stack, as a bug, exit 1', async () => {
    const result = await runWith(
      (program) =>
        program.command('x').action(() => {
          throw new TypeError('boom');
        }),
      ['x'],
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^error: unexpected failure, please report it:\nTypeError: boom\n {4}at /);
  });
});
