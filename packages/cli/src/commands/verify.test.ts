import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { goldenVectors } from '@sigpost/test-support/golden';
import { afterAll, describe, expect, it } from 'vitest';
import { run } from '../test-helpers/io.js';

const vectors = goldenVectors();
const [ascii, nonAscii, empty] = vectors;
if (!ascii || !nonAscii || !empty) throw new Error('expected three golden vectors in docs/protocol.md');

const dir = mkdtempSync(join(tmpdir(), 'sigpost-verify-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Case {
  secret: string;
  producerId: string;
  timestamp: string;
  signature: string;
}

function flags(v: Case): string[] {
  return [
    '--secret',
    v.secret,
    '--producer-id',
    v.producerId,
    '--timestamp',
    v.timestamp,
    '--signature',
    v.signature,
  ];
}

describe('sigpost verify', () => {
  it.each(vectors.map((v) => [v.name, v] as const))(
    'prints valid for the golden signature of %s',
    async (_name, v) => {
      const file = join(dir, `${v.producerId}.json`);
      writeFileSync(file, v.body);
      const result = await run(['verify', ...flags(v), '--body-file', file]);
      expect(result).toEqual({ code: 0, stdout: 'valid\n', stderr: '' });
    },
  );

  it('reads the body from stdin', async () => {
    const result = await run(['verify', ...flags(nonAscii)], { stdin: Buffer.from(nonAscii.body) });
    expect(result).toEqual({ code: 0, stdout: 'valid\n', stderr: '' });
  });

  it('verifies an empty stdin body', async () => {
    const result = await run(['verify', ...flags(empty)]);
    expect(result).toEqual({ code: 0, stdout: 'valid\n', stderr: '' });
  });

  it('takes the secret from HMAC_PRODUCER_SECRET', async () => {
    const { secret: _secret, ...rest } = ascii;
    const argv = [
      '--producer-id',
      rest.producerId,
      '--timestamp',
      rest.timestamp,
      '--signature',
      rest.signature,
    ];
    const result = await run(['verify', ...argv], {
      stdin: ascii.body,
      env: { HMAC_PRODUCER_SECRET: ascii.secret },
    });
    expect(result).toEqual({ code: 0, stdout: 'valid\n', stderr: '' });
  });
});

describe('sigpost verify prints invalid and exits 1 when one thing differs', () => {
  const flipLastBit = (s: string) => {
    const bytes = Buffer.from(s, 'base64');
    bytes[bytes.length - 1] = (bytes.at(-1) ?? 0) ^ 1;
    return bytes.toString('base64');
  };
  const cases: [string, Case, string][] = [
    ['another secret', { ...ascii, secret: `${ascii.secret}!` }, ascii.body],
    ['another producer id', { ...ascii, producerId: 'test-producer2' }, ascii.body],
    ['another timestamp', { ...ascii, timestamp: '2025-10-25T14:30:45.123457Z' }, ascii.body],
    ['one more byte of body', ascii, `${ascii.body}\n`],
    ['one bit of the signature', { ...ascii, signature: flipLastBit(ascii.signature) }, ascii.body],
    ['a signature that is not base64', { ...ascii, signature: 'not-a-signature' }, ascii.body],
    ['an empty signature', { ...ascii, signature: '' }, ascii.body],
  ];
  it.each(cases)('%s', async (_name, v, body) => {
    const result = await run(['verify', ...flags(v)], { stdin: body });
    expect(result).toEqual({ code: 1, stdout: 'invalid\n', stderr: '' });
  });
});

describe('sigpost verify refuses bad arguments with exit code 2', () => {
  it('requires --signature', async () => {
    const { signature: _s, ...v } = ascii;
    const argv = ['--secret', v.secret, '--producer-id', v.producerId, '--timestamp', v.timestamp];
    const result = await run(['verify', ...argv], { stdin: ascii.body });
    expect(result).toEqual({
      code: 2,
      stdout: '',
      stderr: "error: required option '--signature <base64>' not specified\n",
    });
  });

  it('refuses a bad --timestamp', async () => {
    const result = await run(['verify', ...flags({ ...ascii, timestamp: '25/10/2025' })], {
      stdin: ascii.body,
    });
    expect(result).toEqual({
      code: 2,
      stdout: '',
      stderr:
        'error: --timestamp expects an RFC 3339 date-time such as 2025-10-25T14:30:45.123456Z, received "25/10/2025"\n',
    });
  });

  it('refuses a short secret, by its length only', async () => {
    const result = await run(['verify', ...flags({ ...ascii, secret: 'short' })], { stdin: ascii.body });
    expect(result).toEqual({
      code: 2,
      stdout: '',
      stderr: 'error: --secret expects at least 16 bytes, received 5 bytes\n',
    });
  });
});
