// The one test of the built `sigpost` binary: the committed bin/sigpost.js shim, dist/bin.js and a real
// process (exit codes, stdin, stdout). Every other test runs main() in process, against src/.
import { closeSync, existsSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { requestVerifiesIndependently, validSignal } from '@sigpost/test-support/fixtures';
import { goldenVectors } from '@sigpost/test-support/golden';
import { startIngestServer } from '@sigpost/test-support/ingest-server';
import { type ProcessResult, runNode, startProcess } from '@sigpost/test-support/process';
import { afterAll, describe, expect, it } from 'vitest';
import { run } from './test-helpers/io.js';

const BIN = fileURLToPath(new URL('../bin/sigpost.js', import.meta.url));
const BUILT = fileURLToPath(new URL('../dist/bin.js', import.meta.url));

const dir = mkdtempSync(join(tmpdir(), 'sigpost-bin-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Fails (on CI) or skips the test when dist/ has not been built. */
function requireBuilt(context: { skip: (note?: string) => void }): void {
  if (existsSync(BUILT)) return;
  const message = `${BUILT} is missing: run \`npx tsc -b packages/cli\` (npm test builds first)`;
  if (process.env.CI === 'true') throw new Error(message);
  console.warn(`skipping the built-binary test: ${message}`);
  context.skip(message);
}

/** The built `sigpost` in its own process, with `stdin` fed to it. */
function sigpost(args: string[], stdin = ''): Promise<ProcessResult> {
  return runNode(BIN, args, { stdin });
}

describe('the built sigpost binary', () => {
  it('runs keygen and sign end to end with real exit codes', async (context) => {
    requireBuilt(context);
    const [vector] = goldenVectors();
    if (!vector) throw new Error('expected a golden vector in docs/protocol.md');
    const flags = [
      '--secret',
      vector.secret,
      '--producer-id',
      vector.producerId,
      '--timestamp',
      vector.timestamp,
    ];
    const bodyFile = join(dir, 'body.json');
    writeFileSync(bodyFile, vector.body);

    const keygen = await sigpost(['keygen']);
    expect(keygen.code).toBe(0);
    expect(keygen.stdout).toMatch(/^[A-Za-z0-9_-]{43}\n$/);

    expect(await sigpost(['sign', ...flags, '--body-file', bodyFile])).toEqual({
      code: 0,
      stdout: `${vector.signature}\n`,
      stderr: '',
    });
    expect(await sigpost(['sign', ...flags], vector.body)).toEqual({
      code: 0,
      stdout: `${vector.signature}\n`,
      stderr: '',
    });
    expect(await sigpost(['verify', ...flags, '--signature', vector.signature], `${vector.body} `)).toEqual({
      code: 1,
      stdout: 'invalid\n',
      stderr: '',
    });
    expect(await sigpost(['sign', ...flags, '--body-file', join(dir, 'missing.json')])).toEqual({
      code: 2,
      stdout: '',
      stderr: `error: --body-file expects a readable file, received ${JSON.stringify(join(dir, 'missing.json'))} (no such file)\n`,
    });
  });
});

describe('a reader that closes stdout early (`sigpost send --file … | head -1`)', () => {
  it('finishes the work: every signal is sent, no EPIPE crash, exit status 0', async (context) => {
    requireBuilt(context);
    const secret = 'pipe-test-secret-of-enough-bytes';
    const file = join(dir, 'twenty.jsonl');
    const reasons = Array.from({ length: 20 }, (_, i) => `signal ${i + 1}`);
    writeFileSync(file, reasons.map((reason) => `${JSON.stringify(validSignal({ reason }))}\n`).join(''));
    // The first answer goes out at once; the others wait until the reader has gone, so that the
    // sender's next writes meet a closed pipe.
    let release!: () => void;
    const readerGone = new Promise<void>((resolve) => (release = resolve));
    const server = await startIngestServer({
      secret,
      script: () => (server.requests.length === 1 ? undefined : { hold: readerGone }),
    });
    try {
      const child = startProcess(BIN, ['send', '--file', file, '--concurrency', '4'], {
        env: { HMAC_PRODUCER_SECRET: secret, PRODUCER_ID: 'desk-1', OUTBOUND_SERVER_URL: server.url },
      });
      // `head -1`: read one line, then close the read end of the pipe.
      const firstLine = await child.line(() => true, 'the first line');
      child.child.stdout?.destroy();
      release();

      const { code, stderr } = await child.closed;
      expect(code).toBe(0);
      expect(JSON.parse(firstLine)).toMatchObject({ status: 'received' });
      expect(stderr).not.toMatch(/EPIPE|Unhandled|error/);
      expect(stderr).toMatch(/^sent 20, failed 0 of 20 in /m);
      expect(
        server.requests
          .filter((r) => r.verified && requestVerifiesIndependently(secret, r))
          .map((r) => r.json?.reason)
          .sort(),
      ).toEqual([...reasons].sort());
    } finally {
      release();
      await server.close();
    }
  });
});

describe('a reader that closes stdout early (`sigpost outbox enqueue --file … | head -1`)', () => {
  it('enqueues every line all the same, exit status 0', async (context) => {
    requireBuilt(context);
    // Far more output than a pipe holds (64 KiB), so that writes go on after the reader has gone.
    const count = 3000;
    const file = join(dir, 'many.jsonl');
    writeFileSync(
      file,
      Array.from(
        { length: count },
        (_, i) => `${JSON.stringify(validSignal({ reason: `signal ${i}` }))}\n`,
      ).join(''),
    );
    const db = join(dir, 'outbox.db');
    const child = startProcess(BIN, ['outbox', 'enqueue', '--db', db, '--file', file]);
    await child.until((o) => o.stdout.length > 0, 'the first output');
    child.child.stdout?.destroy();

    const { code, stderr } = await child.closed;
    expect(code).toBe(0);
    expect(stderr).not.toMatch(/EPIPE|Unhandled|error/);
    const status = await run(['outbox', 'status', '--db', db, '--json']);
    expect(JSON.parse(status.stdout)).toMatchObject({ pending: count });
  });
});

describe('stdout on a full disk (`sigpost … > /dev/full`)', () => {
  it('every command reports the lost output and exits 1, even one whose last write fails after it returned', async (context) => {
    requireBuilt(context);
    if (!existsSync('/dev/full')) context.skip('no /dev/full on this system');
    const [vector] = goldenVectors();
    if (!vector) throw new Error('expected a golden vector in docs/protocol.md');
    const bodyFile = join(dir, 'full-body.json');
    writeFileSync(bodyFile, vector.body);
    const signals = join(dir, 'full.jsonl');
    writeFileSync(signals, `${JSON.stringify(validSignal({ reason: 'full' }))}\n`);
    const db = join(dir, 'full-outbox.db');
    expect((await run(['outbox', 'enqueue', '--db', db, '--file', signals])).code).toBe(0);

    const sign = [
      '--secret',
      vector.secret,
      '--producer-id',
      vector.producerId,
      '--timestamp',
      vector.timestamp,
    ];
    for (const args of [
      ['keygen'],
      ['sign', ...sign, '--body-file', bodyFile],
      ['outbox', 'status', '--db', db],
      ['outbox', 'status', '--db', db, '--json'],
      ['outbox', 'dead', '--db', db],
      ['outbox', 'dead', '--db', db, '--json'],
      ['outbox', 'enqueue', '--db', db, '--file', signals],
      ['--version'],
    ]) {
      const full = openSync('/dev/full', 'w');
      const child = startProcess(BIN, args, { stdout: full });
      closeSync(full);
      const { code, stderr } = await child.closed;
      const what = `sigpost ${args.join(' ')} > /dev/full`;
      expect(code, what).toBe(1);
      expect(stderr, what).toContain(
        'error: could not write the output to stdout (ENOSPC); the work was done, but the rest of its output is lost\n',
      );
      expect(stderr, what).not.toMatch(/Unhandled|at .*\.js:\d+/);
    }
  });
});
