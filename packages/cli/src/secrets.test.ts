// No error of `sigpost` echoes a secret it was given. Every flag of every command (walked from the
// program itself, so a new flag is covered without touching this file), commander's own errors and
// the environment the commands read are given secret-looking values; wherever the command fails,
// stdout and stderr must not contain the value.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { closedPort } from '@sigpost/test-support/ingest-server';
import type { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { credentialKind } from './args.js';
import { buildProgram, sensitiveValues } from './main.js';
import { captureIO, run } from './test-helpers/io.js';

/** What gets pasted by mistake: a keygen secret, an operator token, a sealing key, a database URL with a password. */
const SECRETS = {
  'producer secret': 'roz5E2wQk9Xv1mT3bN8cL0pZr4yH6uJ7sD2fG5hK8aP',
  'operator token': 'sgp_Qm7vK2xN9bT4cR1zL8pW3sY6dF0gH5jA2eU7iO9kM4q',
  'secret key': 'q3Vb+9sK2m/XwT7nR1cZ8pL4yH6uJ0dF5gA2eI7oM4k=',
  'database URL': 'postgres://sigpost:Hunter2-Pa55word@db.internal:5432/sigpost',
} as const;
const PASSWORD = 'Hunter2-Pa55word';

let cwd: string;
let previous: string;
let port: number;
beforeAll(async () => {
  // Commands that take the value as a path (--db, --file) create or look for it here, not in the repository.
  previous = process.cwd();
  cwd = mkdtempSync(join(tmpdir(), 'sigpost-secrets-'));
  process.chdir(cwd);
  port = await closedPort();
});
afterAll(() => {
  process.chdir(previous);
  rmSync(cwd, { recursive: true, force: true });
});

/** Every command with its path of names, and every option of it that takes a value. */
function commandsWithValueFlags(): { path: string[]; flags: string[] }[] {
  const found: { path: string[]; flags: string[] }[] = [];
  const walk = (command: Command, path: string[]) => {
    const flags = command.options.filter((o) => o.required || o.optional).map((o) => o.long ?? o.short ?? '');
    if (path.length > 0) found.push({ path, flags: flags.filter((f) => f !== '') });
    for (const sub of command.commands) walk(sub, [...path, sub.name()]);
  };
  walk(buildProgram(captureIO()), []);
  return found;
}

/**
 * Fails when a run shows the secret (or the URL's password), whether it failed or not: a command that
 * accepts a pasted secret as a name prints it back; returns whether it failed.
 */
async function expectNotEchoed(
  argv: string[],
  secret: string,
  env: Record<string, string> = {},
): Promise<boolean> {
  const result = await run(argv, { env: { SIGPOST_LOG_LEVEL: 'silent', ...env } });
  const output = `${result.stdout}\n${result.stderr}`;
  expect(output, `sigpost ${argv.join(' ')}`).not.toContain(secret);
  expect(output, `sigpost ${argv.join(' ')}`).not.toContain(PASSWORD);
  return result.code !== 0;
}

describe('a secret given where it does not belong is never echoed by an error', () => {
  it('the pasted values of this test all look like credentials', () => {
    for (const value of Object.values(SECRETS)) expect(credentialKind(value)).toBeDefined();
  });

  it.each(Object.entries(SECRETS))(
    'as the value of every flag of every command: %s',
    async (_kind, secret) => {
      let failures = 0;
      for (const { path, flags } of commandsWithValueFlags()) {
        for (const flag of flags) {
          // serve must not start for real when the value under test is valid: an out-of-range port makes
          // it fail once parsed (every flag's value is still checked and reported).
          const extra = path[0] === 'serve' && flag !== '--port' ? ['--port', '99999'] : [];
          for (const argv of [
            [...path, flag, secret, ...extra],
            [...path, `${flag}=${secret}`, ...extra],
          ]) {
            if (await expectNotEchoed(argv, secret)) failures += 1;
          }
        }
      }
      // Most flags refuse the value or miss a companion flag: the error paths were reached.
      expect(failures).toBeGreaterThan(100);
    },
    // About 200 runs in process, some opening a store: generous on a shared machine.
    60_000,
  );

  // What would pass for a name or an id: keygen's secret and an operator token fit a producer id.
  const NAMEABLE = [
    ['producer secret', SECRETS['producer secret'], 'a producer secret'],
    ['operator token', SECRETS['operator token'], 'an operator token'],
  ] as const;
  it.each(NAMEABLE)(
    'as a name or id that a command would create, store or look up: %s',
    async (_kind, secret, looks) => {
      const by = ['--id', 'sig_01JC3M5W8QXG4K2N6Y7T9B1ZAD'];
      for (const argv of [
        ['producers', 'add', '--id', secret],
        ['producers', 'rotate', '--id', secret],
        ['producers', 'retire-secret', '--id', secret, '--secret-id', 'sec_01JC3M5W8QXG4K2N6Y7T9B1ZAD'],
        ['producers', 'remove', '--id', secret],
        ['producers', 'add', '--id', 'desk-1', '--instruments', `GOLD,${secret}`],
        ['tokens', 'create', '--name', secret],
        ['subscribers', 'create', '--name', secret],
        ['subscribers', 'create', '--name', 'feed', '--producers', `desk-1,${secret}`],
        ['signals', 'list', '--producer', secret],
        ['signals', 'list', '--instrument', secret.slice(0, 32)],
        ['signals', 'approve', ...by, '--by', secret],
        ['signals', 'reject', ...by, '--by', secret, '--reason', 'r'],
        ['stream', '--url', `http://127.0.0.1:${port}`, '--producers', secret],
        ['sign', '--producer-id', secret, '--secret', 'a-secret-of-enough-bytes'],
      ]) {
        const result = await run(argv, { env: { SIGPOST_LOG_LEVEL: 'silent' } });
        const what = `sigpost ${argv.join(' ')}`;
        expect(result.code, what).toBe(2);
        expect(result.stdout, what).toBe('');
        expect(result.stderr, what).toMatch(
          new RegExp(
            `\\d+ characters that look like (${looks}|a secret or key) \\(not shown\\); .+ may not look like a secret`,
          ),
        );
        expect(result.stderr, what).not.toContain(secret.slice(4, 20));
      }
    },
    30_000,
  );

  it.each(Object.entries(SECRETS))("in commander's own errors: %s", async (_kind, secret) => {
    for (const argv of [
      [secret],
      ['keygen', secret],
      ['tokens', 'revoke', secret],
      ['producers', 'retire-secret', '--id', 'desk-1', secret],
      ['send', `--secrett=${secret}`],
      ['sign', `--${secret}`],
      ['help', secret],
    ]) {
      expect(await expectNotEchoed(argv, secret), `sigpost ${argv.join(' ')} should fail`).toBe(true);
    }
  });

  it.each(Object.entries(SECRETS))('in the environment the commands read: %s', async (_kind, secret) => {
    const producer = {
      HMAC_PRODUCER_SECRET: 'cli-secrets-test-producer-secret',
      PRODUCER_ID: 'desk-1',
      OUTBOUND_SERVER_URL: `http://127.0.0.1:${port}`,
    };
    const send = [
      'send',
      ...['--instrument', 'GOLD', '--side', 'buy', '--entry-price', '1950.5', '--stop-loss', '1945'],
      ...[
        '--take-profit',
        '1960',
        '--confidence',
        '0.85',
        '--reason',
        'r',
        '--attempts',
        '1',
        '--timeout',
        '1',
      ],
    ];
    const variables = [
      'HMAC_PRODUCER_SECRET',
      'PRODUCER_ID',
      'OUTBOUND_SERVER_URL',
      'HMAC_PRODUCER_ENABLED',
      'OUTBOUND_TIMEOUT_SECONDS',
      'OUTBOUND_MAX_BODY_SIZE',
      'SIGPOST_LOG_LEVEL',
      'DATABASE_URL',
      'SIGPOST_DB_SCHEMA',
      'SIGPOST_SECRET_KEY',
      'SIGPOST_PREVIOUS_SECRET_KEYS',
    ];
    for (const variable of variables) {
      for (const argv of [
        send,
        ['sign', '--timestamp', '2025-10-25T14:30:45.123456Z', '--body-file', 'missing.json'],
        ['producers', 'list'],
        ['tokens', 'list'],
        ['outbox', 'status', '--db', 'missing-outbox.db'],
      ]) {
        await expectNotEchoed(argv, secret, { ...producer, [variable]: secret });
      }
    }
  });
});

describe('sensitiveValues', () => {
  it('takes what looks like a credential, every --secret and secret variable, and a URL password', () => {
    const values = sensitiveValues(
      ['send', '--reason', 'breakout', '--secret', 'plain words secret', `--id=${SECRETS['operator token']}`],
      {
        HMAC_PRODUCER_SECRET: 'another plain secret',
        SIGPOST_PREVIOUS_SECRET_KEYS: 'old-key-number-one, old-key-number-two',
        DATABASE_URL: SECRETS['database URL'],
        PRODUCER_ID: 'desk-1',
        HOME: SECRETS['producer secret'],
      },
    );
    expect(new Set(values)).toEqual(
      new Set([
        'plain words secret',
        SECRETS['operator token'],
        'another plain secret',
        'old-key-number-one',
        'old-key-number-two',
        'old-key-number-one, old-key-number-two',
        SECRETS['database URL'],
        PASSWORD,
      ]),
    );
  });
});
