// `sigpost serve --dev` as a real process (the unit tests of serve run it in process: serve.test.ts).
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { killProcesses, startProcess } from '@sigpost/test-support/process';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { main } from '../main.js';
import { captureIO } from '../test-helpers/io.js';
import { register as registerSend } from './send.js';
import { register } from './serve.js';

const BIN = fileURLToPath(new URL('../bin.ts', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'sigpost-serve-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

afterEach(() => {
  killProcesses();
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
  const proc = startProcess(BIN, ['serve', ...argv], {
    typescript: true,
    env: { SIGPOST_LOG_LEVEL: 'warn' },
  });
  const listening = /listening on (http:\/\/\S+) /;
  await proc.until((o) => listening.test(o.stderr), 'serve to listen');
  // The banner's last line.
  if (banner)
    await proc.until(
      (o) => /\nOperator console: http:\/\/\S+\/console [^\n]*\n$/.test(o.stdout),
      'the --dev banner',
    );
  return {
    child: proc.child,
    url: listening.exec(proc.output.stderr)?.[1] ?? '',
    output: () => ({ stdout: proc.output.stdout, stderr: proc.output.stderr }),
    async stop(): Promise<number | null> {
      proc.child.kill('SIGTERM');
      return (await proc.closed).code;
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
