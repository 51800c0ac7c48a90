// `sigpost serve --dev` as a real process (the unit tests of serve run it in process: serve.test.ts).
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { main } from '../main.js';
import { captureIO } from '../test-helpers/io.js';
import { register as registerSend } from './send.js';
import { register } from './serve.js';

const BIN = fileURLToPath(new URL('../bin.ts', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'sigpost-serve-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
});

async function sigpost(argv: string[], env: Record<string, string> = {}) {
  const io = captureIO({ env });
  const code = await main(argv, io, [register, registerSend]);
  return { code, stdout: io.out.join(''), stderr: io.err.join('') };
}

/**
 * `sigpost serve …` as a real process (TypeScript source through tsx); resolves once it listens and,
 * with `banner`, once the --dev banner (written on stdout right after the listening line) is complete.
 * `stop()` resolves once the process exited and closed its output, so `output()` is then all of it.
 */
async function serveProcess(argv: string[], { banner }: { banner: boolean }) {
  const child = spawn(
    process.execPath,
    ['--conditions=@sigpost/source', '--import', 'tsx', BIN, 'serve', ...argv],
    {
      env: { PATH: process.env.PATH ?? '', SIGPOST_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  children.push(child);
  let stdout = '';
  let stderr = '';
  const exited = new Promise<never>((_, reject) => {
    child.once('exit', (code) => reject(new Error(`serve exited with ${code}:\n${stderr}`)));
  });
  exited.catch(() => {}); // awaited below only while starting; a later exit is stop()'s business
  const listening = new Promise<string>((resolve) => {
    child.stderr?.setEncoding('utf8').on('data', (s: string) => {
      stderr += s;
      const url = /listening on (http:\/\/\S+) /.exec(stderr)?.[1];
      if (url) resolve(url);
    });
  });
  const bannerWritten = new Promise<void>((resolve) => {
    child.stdout?.setEncoding('utf8').on('data', (s: string) => {
      stdout += s;
      // The banner's last line.
      if (/\nOperator console: http:\/\/\S+\/console [^\n]*\n$/.test(stdout)) resolve();
    });
  });
  const url = await Promise.race([listening, exited]);
  if (banner) await Promise.race([bannerWritten, exited]);
  return {
    child,
    url,
    output: () => ({ stdout, stderr }),
    async stop(): Promise<number | null> {
      child.kill('SIGTERM');
      const [code] = await once(child, 'close');
      return code as number | null;
    },
  };
}

describe('sigpost serve --dev', () => {
  it('creates a development producer on a fresh store and prints a send command that works', async () => {
    const db = join(dir, 'dev', 'sigpost.db');
    const server = await serveProcess(['--dev', '--port', '0', '--db', db], { banner: true });
    const { stdout, stderr } = server.output();
    // The commands it prints reach this store, not the default one.
    expect(stdout).toContain(`is what \`sigpost tokens list --db ${db}\` shows`);
    expect(stderr).toContain(`created the secret key file ${join(dir, 'dev', 'sigpost.key')}`);
    expect((statSync(join(dir, 'dev', 'sigpost.key')).mode & 0o777).toString(8)).toBe('600');
    const env =
      /HMAC_PRODUCER_SECRET=(\S+) PRODUCER_ID=(\S+) OUTBOUND_SERVER_URL=(\S+) \\\n {4}npx sigpost send (.+) \\\n {4}(.+)\n/.exec(
        stdout,
      );
    expect(env).not.toBeNull();
    const [, secret = '', producerId = '', serverUrl = '', line1 = '', line2 = ''] = env ?? [];
    expect(producerId).toBe('dev-producer');
    expect(stdout).toContain(`Operator console: ${server.url}/console`);
    expect(serverUrl).toBe(server.url);

    // Run the printed command (its flags, with the printed environment).
    const flags = `${line1} ${line2}`.match(/"[^"]*"|\S+/g)?.map((w) => w.replace(/^"|"$/g, '')) ?? [];
    const sent = await sigpost(['send', ...flags], {
      HMAC_PRODUCER_SECRET: secret,
      PRODUCER_ID: producerId,
      OUTBOUND_SERVER_URL: serverUrl,
    });
    expect(sent.stderr).toBe('');
    expect(sent.code).toBe(0);
    const response = JSON.parse(sent.stdout);
    expect(response.status).toBe('received');

    // And the printed operator command sees it.
    const token = /Authorization: Bearer (\S+)"/.exec(stdout)?.[1] ?? '';
    const listed = await fetch(`${server.url}/api/v1/operator/signals`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(listed.status).toBe(200);
    expect(
      ((await listed.json()) as { items: { signal_id: string }[] }).items.map((s) => s.signal_id),
    ).toEqual([response.signal_id]);

    expect(await server.stop()).toBe(0);
    // The secret and the token are printed once on stdout, never in the logs.
    expect(server.output().stderr).not.toContain(secret);
    expect(server.output().stderr).not.toContain(token);

    // A second start on the same store creates nothing and prints no secret.
    const again = await serveProcess(['--dev', '--port', '0', '--db', db], { banner: false });
    expect(again.output().stderr).toContain(
      `--dev: the SQLite database ${db} already has producers; none was created. Secrets are shown once, ` +
        `at creation; for a new one run \`npx sigpost producers rotate --id <producer> --db ${db}\` ` +
        `(\`npx sigpost producers list --db ${db}\` shows the ids)\n`,
    );
    expect(await again.stop()).toBe(0);
    // Everything it wrote, from start to exit.
    expect(again.output().stdout).toBe('');
  }, 60_000);
});
