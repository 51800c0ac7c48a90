import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { independentSignature } from '@sigpost/test-support/fixtures';
import { goldenVectors } from '@sigpost/test-support/golden';
import { afterAll, describe, expect, it } from 'vitest';
import { run } from '../test-helpers/io.js';

const vectors = goldenVectors();
const [ascii, nonAscii, empty] = vectors;
if (!ascii || !nonAscii || !empty) throw new Error('expected three golden vectors in docs/protocol.md');

const dir = mkdtempSync(join(tmpdir(), 'sigpost-sign-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function bodyFile(name: string, body: string | Buffer): string {
  const path = join(dir, name);
  writeFileSync(path, body);
  return path;
}

function flags(v: { secret: string; producerId: string; timestamp: string }): string[] {
  return ['--secret', v.secret, '--producer-id', v.producerId, '--timestamp', v.timestamp];
}

describe('sigpost sign', () => {
  it.each(vectors.map((v) => [v.name, v] as const))(
    'prints the golden signature of %s read from --body-file',
    async (_name, v) => {
      const file = bodyFile(`${v.producerId}.json`, v.body);
      const result = await run(['sign', ...flags(v), '--body-file', file]);
      expect(result).toEqual({ code: 0, stdout: `${v.signature}\n`, stderr: '' });
    },
  );

  it('reads the body from stdin when no --body-file is given', async () => {
    const result = await run(['sign', ...flags(ascii)], { stdin: ascii.body });
    expect(result).toEqual({ code: 0, stdout: `${ascii.signature}\n`, stderr: '' });
  });

  it('signs the exact bytes of a non-ASCII body split inside a character across stdin chunks', async () => {
    const bytes = Buffer.from(nonAscii.body, 'utf8');
    const cut = bytes.indexOf(Buffer.from('ü')) + 1; // between the two bytes of ü
    const result = await run(['sign', ...flags(nonAscii)], {
      stdin: [bytes.subarray(0, cut), bytes.subarray(cut)],
    });
    expect(result).toEqual({ code: 0, stdout: `${nonAscii.signature}\n`, stderr: '' });
  });

  it('signs an empty body from stdin', async () => {
    const result = await run(['sign', ...flags(empty)], { stdin: [] });
    expect(result).toEqual({ code: 0, stdout: `${empty.signature}\n`, stderr: '' });
  });

  it('signs an empty body file', async () => {
    const result = await run(['sign', ...flags(empty), '--body-file', bodyFile('empty.json', '')]);
    expect(result).toEqual({ code: 0, stdout: `${empty.signature}\n`, stderr: '' });
  });

  it('does not trim a trailing newline: it is part of the body', async () => {
    const body = Buffer.from(`${ascii.body}\n`);
    const result = await run(['sign', ...flags(ascii), '--body-file', bodyFile('newline.json', body)]);
    const expected = independentSignature({ ...ascii, body });
    expect(expected).not.toBe(ascii.signature);
    expect(result).toEqual({ code: 0, stdout: `${expected}\n`, stderr: '' });
  });

  it('takes the secret from HMAC_PRODUCER_SECRET and the producer from PRODUCER_ID', async () => {
    const result = await run(['sign', '--timestamp', ascii.timestamp], {
      stdin: ascii.body,
      env: { HMAC_PRODUCER_SECRET: ascii.secret, PRODUCER_ID: ascii.producerId },
    });
    expect(result).toEqual({ code: 0, stdout: `${ascii.signature}\n`, stderr: '' });
  });

  it('prefers --secret over HMAC_PRODUCER_SECRET', async () => {
    const result = await run(['sign', ...flags(ascii)], {
      stdin: ascii.body,
      env: { HMAC_PRODUCER_SECRET: 'another-secret-of-enough-bytes' },
    });
    expect(result.stdout).toBe(`${ascii.signature}\n`);
  });
});

describe('sigpost sign refuses bad arguments with one line and exit code 2', () => {
  const cases: [string, string[], Record<string, string>, string][] = [
    [
      'a short --secret, by its length only',
      ['--secret', 'hunter2', '--producer-id', 'p', '--timestamp', ascii.timestamp],
      {},
      'error: --secret expects at least 16 bytes, received 7 bytes\n',
    ],
    [
      'a one-byte --secret (1 byte, not 1 bytes)',
      ['--secret', 'x', '--producer-id', 'p', '--timestamp', ascii.timestamp],
      {},
      'error: --secret expects at least 16 bytes, received 1 byte\n',
    ],
    [
      'a short HMAC_PRODUCER_SECRET',
      ['--producer-id', 'p', '--timestamp', ascii.timestamp],
      { HMAC_PRODUCER_SECRET: 'hunter2' },
      'error: HMAC_PRODUCER_SECRET expects at least 16 bytes, received 7 bytes\n',
    ],
    [
      'no secret at all',
      ['--producer-id', 'p', '--timestamp', ascii.timestamp],
      {},
      "error: required option '--secret <secret>' not specified (or set HMAC_PRODUCER_SECRET)\n",
    ],
    [
      'no producer id at all',
      ['--secret', ascii.secret, '--timestamp', ascii.timestamp],
      {},
      "error: required option '--producer-id <id>' not specified (or set PRODUCER_ID)\n",
    ],
    [
      'a bad --producer-id',
      ['--secret', ascii.secret, '--producer-id', 'desk 1', '--timestamp', ascii.timestamp],
      {},
      'error: --producer-id expects 1–64 characters of A-Z a-z 0-9 . _ -, received "desk 1"\n',
    ],
    [
      'a bad --timestamp',
      ['--secret', ascii.secret, '--producer-id', 'p', '--timestamp', 'yesterday'],
      {},
      'error: --timestamp expects an RFC 3339 date-time such as 2025-10-25T14:30:45.123456Z, received "yesterday"\n',
    ],
    [
      'an unknown flag, and no --timestamp: the unknown flag is what is wrong',
      ['--secret', ascii.secret, '--producer-id', 'p', '--foo'],
      {},
      "error: unknown option '--foo'\n",
    ],
    [
      'a bad --producer-id and no --timestamp: both',
      ['--secret', ascii.secret, '--producer-id', 'desk 1'],
      {},
      'error: 2 problems with the flags; nothing was done:\n' +
        '  --producer-id expects 1–64 characters of A-Z a-z 0-9 . _ -, received "desk 1"\n' +
        "  required option '--timestamp <rfc3339>' not specified\n",
    ],
    [
      'no --timestamp',
      ['--secret', ascii.secret, '--producer-id', 'p'],
      {},
      "error: required option '--timestamp <rfc3339>' not specified\n",
    ],
    [
      'a missing --body-file',
      [
        '--secret',
        ascii.secret,
        '--producer-id',
        'p',
        '--timestamp',
        ascii.timestamp,
        '--body-file',
        '/nonexistent/body.json',
      ],
      {},
      'error: --body-file expects a readable file, received "/nonexistent/body.json" (no such file)\n',
    ],
    [
      'a directory as --body-file',
      ['--secret', ascii.secret, '--producer-id', 'p', '--timestamp', ascii.timestamp, '--body-file', '/'],
      {},
      'error: --body-file expects a readable file, received "/" (not a regular file)\n',
    ],
    [
      'a misspelt flag',
      ['--sekret', ascii.secret, '--producer-id', 'p', '--timestamp', ascii.timestamp],
      {},
      "error: unknown option '--sekret'\n(Did you mean --secret?)\n",
    ],
    [
      'an extra argument',
      [...flags(ascii), 'body.json'],
      {},
      "error: too many arguments for 'sign'. Expected 0 arguments but got 1.\n",
    ],
  ];
  it.each(cases)('%s', async (_name, argv, env, stderr) => {
    const result = await run(['sign', ...argv], { env, stdin: ascii.body });
    expect(result).toEqual({ code: 2, stdout: '', stderr });
  });

  it('never echoes the secret in its message', async () => {
    const result = await run([
      'sign',
      '--secret',
      'hunter2-secret!',
      '--producer-id',
      'p',
      '--timestamp',
      ascii.timestamp,
    ]);
    expect(result.stderr).not.toContain('hunter2');
  });
});

describe('sigpost sign fails (exit 1) on a body it cannot take', () => {
  it('refuses a stdin body over 10 MiB', async () => {
    const chunk = Buffer.alloc(1024 * 1024, 0x20);
    const result = await run(['sign', ...flags(ascii)], { stdin: Array.from({ length: 11 }, () => chunk) });
    expect(result).toEqual({
      code: 1,
      stdout: '',
      stderr: 'error: the body read from stdin is over 10485760 bytes, the most a signal may have\n',
    });
  });

  it('refuses a body file over 10 MiB before reading it', async () => {
    const file = bodyFile('big.json', Buffer.alloc(10 * 1024 * 1024 + 1, 0x20));
    const result = await run(['sign', ...flags(ascii), '--body-file', file]);
    expect(result).toEqual({
      code: 1,
      stdout: '',
      stderr: `error: the body read from --body-file ${file} is over 10485760 bytes, the most a signal may have\n`,
    });
  });
});
