import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Admin, openStore, SecretBox } from '@sigpost/ingest';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../main.js';
import { captureIO } from '../test-helpers/io.js';
import { register as registerSend } from './send.js';
import { developmentBanner, register } from './serve.js';

const dir = mkdtempSync(join(tmpdir(), 'sigpost-serve-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function sigpost(argv: string[], env: Record<string, string> = {}) {
  const io = captureIO({ env });
  const code = await main(argv, io, [register, registerSend]);
  return { code, stdout: io.out.join(''), stderr: io.err.join('') };
}

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

  it('refuses an incomplete Telegram approvals setup before anything starts, naming each variable (exit 2)', async () => {
    const result = await sigpost(['serve', '--db', join(dir, 'tg', 'sigpost.db')], {
      SIGPOST_TELEGRAM_APPROVERS: 'abc',
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(
      /^error: SIGPOST_TELEGRAM_BOT_TOKEN expects .*SIGPOST_TELEGRAM_CHAT_ID expects .*SIGPOST_TELEGRAM_APPROVERS expects .*received "abc"\n$/,
    );
    expect(result.stderr).not.toContain('unexpected failure');
    expect(existsSync(join(dir, 'tg'))).toBe(false);
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
