import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { killProcesses, startProcess } from '@sigpost/test-support/process';
import {
  type StreamServer,
  startStreamServer,
  TEST_EPOCH,
  TEST_TOKEN,
} from '@sigpost/test-support/stream-server';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { main } from '../main.js';
import { captureIO } from '../test-helpers/io.js';
import { register } from './stream.js';

const BIN = fileURLToPath(new URL('../bin.ts', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'sigpost-stream-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let server: StreamServer | undefined;
afterEach(async () => {
  killProcesses();
  await server?.close();
  server = undefined;
});

async function sigpost(argv: string[], env: Record<string, string> = {}) {
  const io = captureIO({ env });
  const code = await main(argv, io, [register]);
  return { code, stdout: io.out.join(''), stderr: io.err.join('') };
}

/** `sigpost stream …` as a real process (TypeScript source through tsx). */
function streamProcess(argv: string[], env: Record<string, string>) {
  const proc = startProcess(BIN, ['stream', ...argv], { typescript: true, env });
  const lines = () =>
    proc.output.stdout
      .split('\n')
      .filter(Boolean)
      .map(
        (l) => JSON.parse(l) as { type: string; seq: number; epoch: string; signal: { signal_id: string } },
      );
  return { ...proc, lines };
}

describe('sigpost stream (usage)', () => {
  it('requires the token in SIGPOST_SUBSCRIBER_TOKEN and a URL, and names what is missing', async () => {
    const noToken = await sigpost(['stream', '--url', 'http://127.0.0.1:9']);
    expect(noToken.code).toBe(2);
    expect(noToken.stderr).toContain('SIGPOST_SUBSCRIBER_TOKEN');
    const noUrl = await sigpost(['stream'], { SIGPOST_SUBSCRIBER_TOKEN: TEST_TOKEN });
    expect(noUrl.code).toBe(2);
    expect(noUrl.stderr).toContain('SIGPOST_URL');
    const bad = await sigpost(['stream', '--statuses', 'received,done'], {
      SIGPOST_SUBSCRIBER_TOKEN: TEST_TOKEN,
      SIGPOST_URL: 'http://127.0.0.1:9',
    });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--statuses expects');
    const query = await sigpost(['stream', '--url', 'http://127.0.0.1:9/?token=sgs_leaked'], {
      SIGPOST_SUBSCRIBER_TOKEN: TEST_TOKEN,
    });
    expect(query.code).toBe(2);
    expect(query.stderr).toContain('with a query or credentials (not shown)');
    expect(query.stderr).not.toContain('sgs_leaked');
    const env = await sigpost(['stream'], {
      SIGPOST_SUBSCRIBER_TOKEN: TEST_TOKEN,
      SIGPOST_URL: 'https://user:sgs_leaked@example.com',
    });
    expect(env.code).toBe(2);
    expect(env.stderr).toContain('SIGPOST_URL expects');
    expect(env.stderr).not.toContain('sgs_leaked');
    const spaced = await sigpost(['stream'], {
      SIGPOST_SUBSCRIBER_TOKEN: 'sgs_has a space',
      SIGPOST_URL: 'http://127.0.0.1:9',
    });
    expect(spaced.code).toBe(2);
    expect(spaced.stderr).toContain('SIGPOST_SUBSCRIBER_TOKEN expects a subscriber token');
    expect(spaced.stderr).not.toContain('has a space');
  });

  it('exits 1 with the server’s refusal, and never prints the token', async () => {
    server = await startStreamServer();
    const token = 'sgs_unknown-token-000000000000000000000000000';
    const result = await sigpost(['stream'], { SIGPOST_SUBSCRIBER_TOKEN: token, SIGPOST_URL: server.url });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('SUBSCRIBER_REFUSED');
    expect(result.stderr).toContain('invalid-subscriber-token');
    expect(result.stderr + result.stdout).not.toContain(token);
  });
});

describe('sigpost stream --url https:// to a plain-HTTP server', () => {
  it('says once that the server does not speak TLS on that port and stops, exit 1, without OpenSSL noise', async () => {
    server = await startStreamServer();
    const url = server.url.replace(/^http:/, 'https:');
    const result = await sigpost(['stream', '--url', url], { SIGPOST_SUBSCRIBER_TOKEN: TEST_TOKEN });
    expect(result).toEqual({
      code: 1,
      stdout: '',
      stderr:
        `error: The server at ${new URL(url).host} does not speak TLS on this port: use http:// (or ws://) ` +
        'for a plain-HTTP server, or the port where it serves TLS [SUBSCRIBER_NOT_TLS]\n',
    });
    expect(server.upgrades).toHaveLength(0);
  });
});

describe('sigpost stream (in process)', () => {
  it('skips signals older than --max-age, and exits 1 naming SUBSCRIBER_REVOKED when the token is revoked', async () => {
    server = await startStreamServer();
    server.append({ timestamp: new Date(Date.now() - 3_600_000).toISOString() });
    server.append();
    const io = captureIO({ env: { SIGPOST_SUBSCRIBER_TOKEN: TEST_TOKEN, SIGPOST_URL: server.url } });
    const live = server;
    // Revoke as soon as the fresh signal has been printed.
    const stdout = {
      write: (text: string) => {
        io.out.push(text);
        live.revoke(TEST_TOKEN);
        return true;
      },
    };
    const code = await main(['stream', '--after', '0', '--max-age', '60'], { ...io, stdout }, [register]);
    const out = io.out.join('');
    expect(code).toBe(1);
    expect(
      out
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { seq: number }).seq),
    ).toEqual([2]);
    const err = io.err.join('');
    expect(err).toContain('stale signal skipped (maxAgeSeconds) (seq=1');
    expect(err).toContain('[SUBSCRIBER_REVOKED]');
    expect(err).not.toContain(TEST_TOKEN);
  });
});

describe('sigpost stream (a real process)', () => {
  it('prints JSON Lines, reconnects on stderr, saves the cursor on SIGINT and resumes from it', async () => {
    server = await startStreamServer();
    for (let i = 0; i < 3; i += 1) server.append();
    const cursorFile = join(dir, 'cli.cursor.json');
    const env = { SIGPOST_SUBSCRIBER_TOKEN: TEST_TOKEN, SIGPOST_URL: server.url };
    const first = streamProcess(['--after', '0', '--cursor-file', cursorFile], env);
    await first.until((o) => o.stdout.split('\n').length > 3, 'three lines');
    await server.connection(1);
    server.closeAll(1001, 'server restarting');
    await server.connection(2);
    server.append({ status: 'approved' });
    await first.until((o) => o.stdout.split('\n').length > 4, 'a fourth line');
    expect(await first.stop('SIGINT')).toBe(0);
    expect(first.lines().map((e) => e.seq)).toEqual([1, 2, 3, 4]);
    expect(first.lines()[3]).toMatchObject({ type: 'signal.approved', epoch: TEST_EPOCH });
    expect(first.output.stderr).toContain('reconnecting');
    expect(first.output.stderr).toContain('stopped after 4 events (last seq 4, saved in');
    expect(first.output.stderr).not.toContain(TEST_TOKEN);
    expect(JSON.parse(readFileSync(cursorFile, 'utf8'))).toEqual({ epoch: TEST_EPOCH, seq: 4 });

    server.append();
    const second = streamProcess(['--cursor-file', cursorFile], env);
    await second.until((o) => o.stdout.includes('\n'), 'a line');
    expect(server.connections.at(-1)?.after).toBe(4);
    expect(await second.stop('SIGINT')).toBe(0);
    expect(second.lines().map((e) => e.seq)).toEqual([5]);
  });

  it('stops cleanly when its stdout is closed (| head -1), without saving past the line it could not write', async () => {
    server = await startStreamServer();
    server.append();
    const cursorFile = join(dir, 'pipe.cursor.json');
    const env = { SIGPOST_SUBSCRIBER_TOKEN: TEST_TOKEN, SIGPOST_URL: server.url };
    const run = streamProcess(['--after', '0', '--cursor-file', cursorFile], env);
    await run.until((o) => o.stdout.includes('\n'), 'a line');
    run.child.stdout?.destroy();
    // Enough lines to fill any pipe buffer: a write must fail.
    for (let i = 0; i < 200; i += 1) server.append({ payload: { pad: 'x'.repeat(2000) } });
    expect(await run.exited).toBe(0);
    expect(run.output.stderr).toContain('stdout closed, stopped after');
    const saved = JSON.parse(readFileSync(cursorFile, 'utf8')) as { seq: number };
    const printed = Number(/stopped after (\d+) event/.exec(run.output.stderr)?.[1]);
    expect(saved.seq).toBe(printed);
    expect(saved.seq).toBeLessThan(201);
  });
});
