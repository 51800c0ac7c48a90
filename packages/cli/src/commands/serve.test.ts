import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Admin, openStore, SecretBox } from '@sigpost/ingest';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { main } from '../main.js';
import { captureIO } from '../test-helpers/io.js';
import { register as registerSend } from './send.js';
import { developmentBanner, register } from './serve.js';

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

/** `sigpost serve …` as a real process (TypeScript source through tsx); resolves once it listens. */
async function serveProcess(argv: string[]) {
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
  child.stdout?.setEncoding('utf8').on('data', (s: string) => {
    stdout += s;
  });
  child.stderr?.setEncoding('utf8').on('data', (s: string) => {
    stderr += s;
  });
  const url = await new Promise<string>((resolve, reject) => {
    const poll = setInterval(() => {
      const m = /listening on (http:\/\/\S+) /.exec(stderr);
      if (m?.[1]) {
        clearInterval(poll);
        resolve(m[1]);
      }
    }, 20);
    child.once('exit', (code) => {
      clearInterval(poll);
      reject(new Error(`serve exited with ${code}:\n${stderr}`));
    });
  });
  // The banner is written right after the listening line.
  await new Promise((r) => setTimeout(r, 100));
  return {
    child,
    url,
    output: () => ({ stdout, stderr }),
    async stop(): Promise<number | null> {
      child.kill('SIGTERM');
      const [code] = await once(child, 'exit');
      return code as number | null;
    },
  };
}

describe('sigpost serve --dev', () => {
  it('creates a development producer on a fresh store and prints a send command that works', async () => {
    const db = join(dir, 'dev', 'sigpost.db');
    const server = await serveProcess(['--dev', '--port', '0', '--db', db]);
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
    const again = await serveProcess(['--dev', '--port', '0', '--db', db]);
    expect(again.output().stdout).toBe('');
    expect(again.output().stderr).toContain(
      `--dev: the SQLite database ${db} already has producers; none was created. Secrets are shown once, ` +
        `at creation; for a new one run \`npx sigpost producers rotate --id <producer> --db ${db}\` ` +
        `(\`npx sigpost producers list --db ${db}\` shows the ids)\n`,
    );
    expect(await again.stop()).toBe(0);
  }, 60_000);
});

describe('sigpost serve: arguments', () => {
  it.each([
    [['--port', '70000'], '--port expects an integer from 0 to 65535, received "70000"'],
    [
      ['--host', 'bad host!'],
      '--host expects a host name or an IP address such as 127.0.0.1 or ::1, received "bad host!"',
    ],
    [
      ['--log-level', 'loud'],
      '--log-level expects one of "fatal", "error", "warn", "info", "debug", "trace" or "silent", received "loud"',
    ],
  ])('refuses %j with one line naming the flag (exit 2)', async (flags, message) => {
    const result = await sigpost(['serve', ...flags, '--db', join(dir, 'args', 'sigpost.db')]);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(`error: ${message}\n`);
    expect(existsSync(join(dir, 'args'))).toBe(false);
  });

  it('refuses a malformed SIGPOST_* setting, naming the variable (exit 2)', async () => {
    const result = await sigpost(['serve', '--db', join(dir, 'env', 'sigpost.db')], {
      SIGPOST_TOLERANCE_SECONDS: '5m',
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toBe('error: SIGPOST_TOLERANCE_SECONDS expects an integer, received "5m"\n');
  });

  it('refuses an out-of-range SIGPOST_* setting', async () => {
    const result = await sigpost(['serve', '--db', join(dir, 'env2', 'sigpost.db')], {
      SIGPOST_MAX_BODY_BYTES: '10',
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      'error: SIGPOST_MAX_BODY_BYTES expects an integer from 1024 to 10485760 bytes, received 10\n',
    );
  });

  it('refuses a headers timeout longer than the request timeout, naming the variable', async () => {
    const result = await sigpost(['serve', '--db', join(dir, 'env3', 'sigpost.db')], {
      SIGPOST_HEADERS_TIMEOUT_MS: '20000',
      SIGPOST_REQUEST_TIMEOUT_MS: '5000',
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      'error: SIGPOST_HEADERS_TIMEOUT_MS expects at most the request timeout (5000 ms), received 20000\n',
    );
  });

  it('refuses to start with a key that cannot open the stored producer secrets (exit 1)', async () => {
    const db = join(dir, 'wrong-key', 'sigpost.db');
    const sealedWith = { SIGPOST_SECRET_KEY: Buffer.alloc(32, 1).toString('base64') };
    const store = await openStore({ dbPath: db });
    try {
      await new Admin(store, SecretBox.fromEnv(sealedWith)).addProducer({ id: 'desk-1' });
    } finally {
      await store.close();
    }
    const result = await sigpost(['serve', '--port', '0', '--db', db], {
      SIGPOST_SECRET_KEY: Buffer.alloc(32, 2).toString('base64'),
      SIGPOST_LOG_LEVEL: 'silent',
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('is not the one that sealed the stored producer secrets');
    expect(result.stderr).toContain('SIGPOST_PREVIOUS_SECRET_KEYS');
  });

  it('fails with a clear message when the port is taken (exit 1)', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = blocker.address() as { port: number };
      const result = await sigpost(
        ['serve', '--port', String(port), '--db', join(dir, 'taken', 'sigpost.db')],
        {
          SIGPOST_LOG_LEVEL: 'silent',
        },
      );
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(
        new RegExp(
          `error: cannot listen on 127\\.0\\.0\\.1:${port}: the port is in use \\(try --port\\)\\n$`,
        ),
      );
    } finally {
      blocker.close();
    }
  });
});

describe('the --dev banner', () => {
  const credentials = {
    producer: {
      producerId: 'dev-producer',
      secretId: 'sec_01JC3M5W8QXG4K2N6Y7T9B1ZAD',
      secret: 'S'.repeat(43),
      generated: true,
    },
    token: { id: 'tok_01JC3M5W8QXG4K2N6Y7T9B1ZAE', name: 'dev', token: `sgp_${'T'.repeat(43)}` },
  };
  const banner = developmentBanner(
    credentials as Parameters<typeof developmentBanner>[0],
    'http://127.0.0.1:8080',
  );

  it('calls the bearer (sgp_…) the operator token: the first value labelled a token is the one to send', () => {
    const firstLabelled = /token\b[^\n]*?\b((?:sgp|tok)_\w+)/i.exec(banner)?.[1];
    expect(firstLabelled).toBe(credentials.token.token);
    expect(banner).toContain(`Authorization: Bearer ${credentials.token.token}`);
  });

  it("labels the tok_… value as the token's id, never as the token", () => {
    const lines = banner.split('\n').filter((line) => line.includes(credentials.token.id));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`its id, ${credentials.token.id},`));
    expect(banner).not.toMatch(/token[\s:(]+tok_/i);
  });
});
