import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { listenLocal, requestVerifiesIndependently, validSignal } from '@sigpost/test-support/fixtures';
import {
  closedPort,
  type IngestServer,
  type Script,
  startIngestServer,
} from '@sigpost/test-support/ingest-server';
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { captureIO, run } from '../test-helpers/io.js';
import { drainOutbox } from './outbox.js';

const SECRET = 'outbox-cli-secret-of-enough-bytes';
const PRODUCER = 'desk-1';
const NOW = Date.UTC(2025, 9, 25, 14, 30, 45);
const now = () => NOW;
const CLEAR = '\r\x1b[2K';

const root = mkdtempSync(join(tmpdir(), 'sigpost-outbox-cli-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

let dir: string;
let db: string;
let server: IngestServer;
let script: Script | undefined;
let counter = 0;

beforeEach(async () => {
  dir = join(root, String(counter++));
  db = join(dir, 'outbox.db');
  script = undefined;
  server = await startIngestServer({ secret: SECRET, script: (request) => script?.(request) });
});
afterEach(() => server.close());

function env(overrides: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  return {
    HMAC_PRODUCER_SECRET: SECRET,
    PRODUCER_ID: PRODUCER,
    OUTBOUND_SERVER_URL: server.url,
    SIGPOST_LOG_LEVEL: 'silent',
    ...overrides,
  };
}

const signal = (reason: string, extra: Record<string, unknown> = {}) => ({
  ...validSignal({ reason, payload: undefined }),
  ...extra,
});

function signalsFile(lines: readonly unknown[]): string {
  const path = join(root, `signals-${counter}-${Math.random().toString(36).slice(2)}.jsonl`);
  writeFileSync(path, `${lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n')}\n`);
  return path;
}

const outbox = (...argv: string[]) => ['outbox', ...argv, '--db', db];

/** Runs `sql` on the outbox file (a test sets up times the CLI cannot produce on demand). */
function onFile(sql: string, ...params: unknown[]): void {
  const file = new Database(db);
  try {
    file.prepare(sql).run(...params);
  } finally {
    file.close();
  }
}

describe('sigpost outbox enqueue', () => {
  it('stores every line and prints one JSON result per line', async () => {
    const file = signalsFile([signal('a'), signal('b', { idempotency_key: 'key-b' }), '', signal('c')]);
    const result = await run(outbox('enqueue', '--file', file), { env: env() });
    expect(result.code).toBe(0);
    const lines = result.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines).toEqual([
      { line: 1, id: 1, idempotency_key: expect.any(String), duplicate: false },
      { line: 2, id: 2, idempotency_key: 'key-b', duplicate: false },
      { line: 4, id: 3, idempotency_key: expect.any(String), duplicate: false },
    ]);
    expect(result.stderr).toBe(`enqueued 3 of 3 signals into ${db}\n`);
    const status = await run(outbox('status', '--json'), { env: env() });
    expect(JSON.parse(status.stdout)).toEqual({
      pending: 3,
      inFlight: 0,
      delivered: 0,
      dead: 0,
      oldestPendingAgeMs: expect.any(Number),
      nextAttemptAt: expect.any(Number),
      waiting: 0,
    });
  });

  it('reports lines already in the outbox under their key as duplicates', async () => {
    const file = signalsFile([signal('a', { idempotency_key: 'key-a' })]);
    await run(outbox('enqueue', '--file', file), { env: env() });
    const again = await run(outbox('enqueue', '--file', file), { env: env() });
    expect(JSON.parse(again.stdout)).toEqual({ line: 1, id: 1, idempotency_key: 'key-a', duplicate: true });
    expect(again.stderr).toBe(`enqueued 0 of 1 signals (1 already there) into ${db}\n`);
  });

  it('refuses a file with an invalid line as a whole, naming each problem by line', async () => {
    const file = signalsFile([signal('a'), signal('b', { stop_loss: 1955 }), '[1]', signal('d')]);
    const result = await run(outbox('enqueue', '--file', file), { env: env() });
    expect(result).toEqual({
      code: 1,
      stdout: '',
      stderr:
        `error: --file ${file} has 2 invalid lines; nothing was enqueued:\n` +
        '  line 2: stop_loss: expected below entry_price for a buy\n' +
        '  line 3: expected a JSON object (one signal per line)\n',
    });
    // Nothing was stored: not even an empty outbox file was created.
    expect(existsSync(db)).toBe(false);
  });

  it('refuses a line with a key twice (JSON.parse would store the last value)', async () => {
    const buy = JSON.stringify(signal('a'));
    const file = signalsFile([buy.replace('"side":"buy"', '"side":"sell","side":"buy"')]);
    const result = await run(outbox('enqueue', '--file', file), { env: env() });
    expect(result).toEqual({
      code: 1,
      stdout: '',
      stderr:
        `error: --file ${file} has 1 invalid line; nothing was enqueued:\n` +
        '  line 1: side: duplicate key; each key may appear once per object (consumers disagree on which value wins)\n',
    });
    expect(existsSync(db)).toBe(false);
  });
});

describe('sigpost outbox drain', () => {
  it('delivers every pending entry and prints the summary', async () => {
    const file = signalsFile([
      signal('a', { idempotency_key: 'key-a' }),
      signal('b', { idempotency_key: 'key-b' }),
    ]);
    await run(outbox('enqueue', '--file', file), { env: env() });
    const result = await run(outbox('drain'), { env: env(), now });
    expect(result).toEqual({
      code: 0,
      stdout: '{"delivered":2,"dead":0,"retried":0,"remaining":0,"aborted":false}\n',
      stderr: 'delivered 2, dead 0, retried 0, remaining 0 in 0.0s\n',
    });
    expect(server.requests.map((r) => [r.headers['x-idempotency-key'], r.verified]).sort()).toEqual([
      ['key-a', true],
      ['key-b', true],
    ]);
    expect(server.requests.every((r) => requestVerifiesIndependently(SECRET, r))).toBe(true);
  });

  it('draws a progress bar on a terminal and replaces it with the summary', async () => {
    await run(outbox('enqueue', '--file', signalsFile([signal('a')])), { env: env() });
    const result = await run(outbox('drain'), { env: env(), now, isTTY: true });
    expect(result.stderr).toBe(
      `${CLEAR}[########################] 1/1  –/s  ETA 0s${CLEAR}delivered 1, dead 0, retried 0, remaining 0 in 0.0s\n`,
    );
  });

  it('exits 1 when an entry goes to dead-letter; dead lists it and retry-dead puts it back', async () => {
    await run(outbox('enqueue', '--file', signalsFile([signal('a', { idempotency_key: 'key-a' })])), {
      env: env(),
    });
    script = () => ({
      status: 422,
      body: {
        type: 'urn:sigpost:problem:idempotency-key-reused',
        title: 'Idempotency key reused',
        status: 422,
      },
    });
    const drained = await run(outbox('drain'), { env: env(), now });
    expect(drained.code).toBe(1);
    expect(drained.stdout).toBe('{"delivered":0,"dead":1,"retried":0,"remaining":0,"aborted":false}\n');
    expect(drained.stderr).toBe(
      'delivered 0, dead 1, retried 0, remaining 0 in 0.0s\n' +
        'some signals were moved to dead-letter: see `sigpost outbox dead`\n',
    );

    const dead = await run(outbox('dead'), { env: env() });
    expect(dead.stdout).toMatch(
      new RegExp(
        `^#1  GOLD  key key-a  1 attempt  \\S+Z\\n  POST ${server.url}/api/v1/signals/ingest failed with 422 Unprocessable Entity: Idempotency key reused \\(attempt 1/15\\)\\n$`,
      ),
    );
    expect(dead.stderr).toBe('1 dead entry\n');

    const retried = await run(outbox('retry-dead'), { env: env() });
    expect(retried.stdout).toBe(
      'moved 1 dead entry back to pending; run `sigpost outbox drain` to deliver\n',
    );
    script = undefined;
    const again = await run(outbox('drain'), { env: env(), now });
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ delivered: 1, dead: 0 });
  });

  it('is a usage error (exit 2) when the producer config is missing, naming every variable', async () => {
    const result = await run(outbox('drain'), { env: {} });
    expect(result).toEqual({
      code: 2,
      stdout: '',
      stderr:
        'error: Invalid outbound configuration (3 problems):\n' +
        '✖ expected 1–64 characters of A-Z a-z 0-9 . _ -, received nothing\n' +
        '  → at PRODUCER_ID\n' +
        '✖ expected ≥ 16 bytes (UTF-8), received nothing\n' +
        '  → at HMAC_PRODUCER_SECRET\n' +
        '✖ expected an absolute http: or https: URL without query, fragment or credentials, received nothing\n' +
        '  → at OUTBOUND_SERVER_URL\n',
    });
  });

  it('logs nothing by default, and JSON lines before the summary with SIGPOST_LOG_LEVEL=warn', async () => {
    script = () => ({ status: 422, body: { type: 'about:blank', title: 'Unprocessable', status: 422 } });
    await run(outbox('enqueue', '--file', signalsFile([signal('a')])), { env: env() });
    const quiet = await run(outbox('drain'), { env: env({ SIGPOST_LOG_LEVEL: undefined }), now });
    expect([quiet.code, quiet.stderr]).toEqual([
      1,
      'delivered 0, dead 1, retried 0, remaining 0 in 0.0s\n' +
        'some signals were moved to dead-letter: see `sigpost outbox dead`\n',
    ]);

    await run(outbox('retry-dead'), { env: env() });
    const logged = await run(outbox('drain'), { env: env({ SIGPOST_LOG_LEVEL: 'warn' }), now });
    const lines = logged.stderr.trimEnd().split('\n');
    expect(lines.slice(-2)).toEqual([
      'delivered 0, dead 1, retried 0, remaining 0 in 0.0s',
      'some signals were moved to dead-letter: see `sigpost outbox dead`',
    ]);
    const logs = lines.slice(0, -2).map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(logs.map(({ level, name, msg }) => ({ level, name, msg }))).toEqual([
      { level: 40, name: 'sigpost', msg: 'Signal delivery attempt failed; the caller decides on a retry' },
      { level: 50, name: 'sigpost', msg: 'outbox entry moved to dead-letter' },
    ]);
  });

  it('fails (exit 1) with the SDK message when delivery is disabled, leaving entries pending', async () => {
    await run(outbox('enqueue', '--file', signalsFile([signal('a')])), { env: env() });
    const result = await run(outbox('drain'), { env: env({ HMAC_PRODUCER_ENABLED: 'false' }) });
    expect(result).toEqual({
      code: 1,
      stdout: '',
      stderr:
        'error: Signal not sent: delivery is disabled by HMAC_PRODUCER_ENABLED=false (enabled: false); nothing was sent\n',
    });
    const status = await run(outbox('status', '--json'), { env: env() });
    expect(JSON.parse(status.stdout)).toMatchObject({ pending: 1, inFlight: 0 });
    expect(server.requests).toHaveLength(0);
  });

  it('refuses a concurrency out of range, naming the flag', async () => {
    const result = await run(outbox('drain', '--concurrency', '0'), { env: env() });
    expect(result).toEqual({
      code: 2,
      stdout: '',
      stderr: 'error: --concurrency expects an integer from 1 to 256, received "0"\n',
    });
  });

  it('sends a Telegram alert for a dead-lettered signal when the Telegram variables are set', async () => {
    const messages: { url: string; body: { chat_id: unknown; text: string } }[] = [];
    const bot: Server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        messages.push({ url: req.url ?? '', body: JSON.parse(Buffer.concat(chunks).toString('utf8')) });
        res
          .writeHead(200, { 'content-type': 'application/json' })
          .end('{"ok":true,"result":{"message_id":1}}');
      });
    });
    const botApi = await listenLocal(bot);
    try {
      await run(outbox('enqueue', '--file', signalsFile([signal('a', { idempotency_key: 'key-a' })])), {
        env: env(),
      });
      script = () => ({
        status: 400,
        body: { type: 'urn:sigpost:problem:invalid-signal', title: 'Bad', status: 400 },
      });
      const token = '123456:telegram-test-token';
      const result = await run(outbox('drain'), {
        env: env({
          SIGPOST_TELEGRAM_BOT_TOKEN: token,
          SIGPOST_TELEGRAM_CHAT_ID: '-100123',
          SIGPOST_TELEGRAM_API_URL: botApi.url,
        }),
      });
      expect(result.code).toBe(1);
      expect(messages).toHaveLength(1);
      expect(messages[0]!.url).toBe(`/bot${token}/sendMessage`);
      expect(messages[0]!.body.chat_id).toBe('-100123');
      expect(messages[0]!.body.text).toMatch(
        /^🚨 Sigpost: Signal moved to dead-letter after 1 attempt: GOLD, idempotency key key-a; last error: POST .* failed with 400 Bad Request/,
      );
    } finally {
      await botApi.close();
    }
  });

  it('serves /metrics on 127.0.0.1 while it watches, until stopped', async () => {
    await run(outbox('enqueue', '--file', signalsFile([signal('a')])), { env: env() });
    let delivered!: () => void;
    const requested = new Promise<void>((resolve) => {
      delivered = resolve;
    });
    script = () => {
      delivered();
      return undefined;
    };
    const io = captureIO({ env: env(), now });
    const stop = new AbortController();
    const drained = drainOutbox(io, { db, metricsPort: 0, watch: true }, stop.signal);
    const listening = /metrics on (http:\/\/127\.0\.0\.1:\d+\/metrics)/;
    await io.until(({ stderr }) => listening.test(stderr));
    const url = listening.exec(io.err.join(''))?.[1] ?? '';
    await requested;
    let text = '';
    while (!text.includes('sigpost_outbox_entries{state="delivered"} 1')) {
      const response = await fetch(url);
      expect(response.status).toBe(200);
      text = await response.text();
    }
    expect(text).toContain('sigpost_outbound_attempts_total{status="201",outcome="delivered"} 1');
    expect((await fetch(url.replace('/metrics', '/other'))).status).toBe(404);
    stop.abort();
    await drained;
    expect(io.out.join('')).toBe('{"delivered":1,"dead":0,"retried":0,"remaining":0,"aborted":true}\n');
  });
});

describe('sigpost outbox drain, when the server cannot be reached', () => {
  it('says so once, then once that delivery resumed, and its logs never read as a give-up', async () => {
    await run(outbox('enqueue', '--file', signalsFile([signal('a'), signal('b'), signal('c')])), {
      env: env(),
    });
    // Nothing listens on this port: every attempt is refused, until a real server is started on it.
    const port = await closedPort();
    const url = `http://127.0.0.1:${port}`;
    const io = captureIO({ env: env({ OUTBOUND_SERVER_URL: url, SIGPOST_LOG_LEVEL: 'warn' }), now });
    const drained = drainOutbox(io, { db }, new AbortController().signal);
    // Three entries, three refused attempts (at least) before the server comes up.
    await io.until(({ stderr }) => stderr.split('retry scheduled').length > 3);
    // A real server on the port where the drain failed to connect: checks each signature, answers 201.
    const back = await startIngestServer({ secret: SECRET, port });
    try {
      await drained;
    } finally {
      await back.close();
    }
    expect(back.requests.map((r) => r.verified)).toEqual([true, true, true]);
    expect(back.requests.map((r) => requestVerifiesIndependently(SECRET, r))).toEqual([true, true, true]);

    const lines = io.err.join('').trimEnd().split('\n');
    const people = lines.filter((line) => !line.startsWith('{'));
    const logs = lines
      .filter((line) => line.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const ingest = `${url}/api/v1/signals/ingest`;
    // One line per change of state, however many attempts failed.
    expect(people).toHaveLength(3);
    expect(people[0]).toMatch(
      new RegExp(
        `^cannot reach ${ingest}: connect ECONNREFUSED 127\\.0\\.0\\.1:${port}; retrying, next attempt in \\d+\\.\\ds$`,
      ),
    );
    expect(people[1]).toMatch(
      new RegExp(`^delivery to ${ingest} resumed \\(after \\d+\\.\\ds and \\d+ failed attempts\\)$`),
    );
    const summary = JSON.parse(io.out.join('')) as { delivered: number; retried: number };
    expect(summary.delivered).toBe(3);
    expect(summary.retried).toBeGreaterThanOrEqual(3);
    expect(people[2]).toBe(`delivered 3, dead 0, retried ${summary.retried}, remaining 0 in 0.0s`);

    const scheduled = logs.filter((l) => l.msg === 'outbox delivery failed; retry scheduled');
    expect(scheduled).toHaveLength(summary.retried);
    for (const line of scheduled) {
      expect(line).toMatchObject({ retry: 'scheduled', error_code: 'OUTBOUND_NETWORK_ERROR' });
      expect(line.next_attempt_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    }
    expect(logs.filter((l) => 'retry_stop_reason' in l)).toEqual([]);
    expect(io.err.join('')).not.toContain('attempts-exhausted');
  });

  it('--now sends at once the entries waiting for their backoff', async () => {
    await run(outbox('enqueue', '--file', signalsFile([signal('a'), signal('b')])), { env: env() });
    // As after an outage: both wait an hour for their next attempt.
    onFile('UPDATE outbox_entries SET attempts = 4, next_attempt_at = ?', Date.now() + 3_600_000);
    const status = await run(outbox('status', '--json'), { env: env() });
    expect(JSON.parse(status.stdout)).toMatchObject({ pending: 2, waiting: 2 });

    const result = await run(outbox('drain', '--now'), { env: env(), now });
    expect(result).toEqual({
      code: 0,
      stdout: '{"delivered":2,"dead":0,"retried":0,"remaining":0,"aborted":false}\n',
      stderr:
        "--now: 2 entries waiting for a retry's backoff are due now\n" +
        'delivered 2, dead 0, retried 0, remaining 0 in 0.0s\n',
    });
    expect(server.requests).toHaveLength(2);

    const again = await run(outbox('drain', '--now'), { env: env(), now });
    expect([again.code, again.stderr]).toEqual([
      0,
      "--now: no entry was waiting for a retry's backoff\ndelivered 0, dead 0, retried 0, remaining 0 in 0.0s\n",
    ]);
  });
});

describe('sigpost outbox status', () => {
  it('prints the counts per state, the oldest pending age, the next attempt and how many wait', async () => {
    await run(outbox('enqueue', '--file', signalsFile([signal('a'), signal('b'), signal('c')])), {
      env: env(),
    });
    onFile(
      'UPDATE outbox_entries SET created_at = ?, next_attempt_at = ? WHERE id = 1',
      NOW - 65_000,
      NOW - 1000,
    );
    onFile('UPDATE outbox_entries SET created_at = ?, next_attempt_at = ? WHERE id = 2', NOW, NOW + 30_000);
    onFile('UPDATE outbox_entries SET created_at = ?, next_attempt_at = ? WHERE id = 3', NOW, NOW + 90_000);
    const counts =
      'pending          3\nin flight        0\ndelivered        0\ndead             0\noldest pending   1m05s\n';
    const hint = "(for a retry's backoff; `sigpost outbox drain --now` sends them at once)";
    expect(await run(outbox('status'), { env: env(), now })).toEqual({
      code: 0,
      stdout: `${counts}next attempt     due now\nwaiting          2 ${hint}\n`,
      stderr: '',
    });
    onFile('UPDATE outbox_entries SET next_attempt_at = ? WHERE id = 1', NOW + 45_000);
    expect((await run(outbox('status'), { env: env(), now })).stdout).toBe(
      `${counts}next attempt     in 30.0s (2025-10-25T14:31:15.000Z)\nwaiting          3 ${hint}\n`,
    );
    expect(JSON.parse((await run(outbox('status', '--json'), { env: env(), now })).stdout)).toMatchObject({
      nextAttemptAt: NOW + 30_000,
      waiting: 3,
    });
  });

  it('creates its file readable by the owner only (0600)', async () => {
    await run(outbox('enqueue', '--file', signalsFile([signal('a')])), { env: env() });
    expect(statSync(db).mode & 0o777).toBe(0o600);
  });
});

describe('a mistyped --db', () => {
  it.each([
    ['status'],
    ['status', '--json'],
    ['dead'],
    ['retry-dead'],
    ['retry-dead', '--id', '1'],
    ['drain'],
  ])('outbox %s refuses a missing outbox (exit 1) and creates no file', async (...argv) => {
    await run(outbox('enqueue', '--file', signalsFile([signal('a')])), { env: env() });
    const mistyped = join(dir, 'outbx.db');
    const result = await run(['outbox', ...argv, '--db', mistyped], { env: env() });
    expect(result).toEqual({
      code: 1,
      stdout: '',
      stderr:
        `error: no outbox at ${mistyped}: give --db <path> of an existing outbox ` +
        '(default ./data/outbox.db; `sigpost outbox enqueue` creates one)\n',
    });
    expect(existsSync(mistyped)).toBe(false);
  });
});

describe('a --db that is not an outbox', () => {
  /** Another program's SQLite file (the server's, say): one table, its own user_version, no WAL. */
  function foreignDatabase(): { path: string; bytes: Buffer } {
    const path = join(root, `foreign-${counter}.db`);
    const file = new Database(path);
    file.exec(
      "CREATE TABLE accounts (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO accounts (name) VALUES ('x')",
    );
    file.close();
    return { path, bytes: readFileSync(path) };
  }

  it.each([
    ['status'],
    ['status', '--json'],
    ['dead'],
    ['retry-dead'],
    ['drain'],
    ['drain', '--watch'],
    ['enqueue', '--file', 'SIGNALS'],
  ])('outbox %s refuses another SQLite database (exit 1) and leaves it byte for byte', async (...argv) => {
    const foreign = foreignDatabase();
    const args = argv.map((a) => (a === 'SIGNALS' ? signalsFile([signal('a')]) : a));
    const result = await run(['outbox', ...args, '--db', foreign.path], { env: env() });
    expect(result).toEqual({
      code: 1,
      stdout: '',
      stderr:
        `error: ${foreign.path} is not a Sigpost outbox: the database has no outbox tables; ` +
        'nothing was written to it; give --db <path> of a Sigpost outbox\n',
    });
    expect(readFileSync(foreign.path).equals(foreign.bytes)).toBe(true);
    expect(existsSync(`${foreign.path}-wal`)).toBe(false);
  });

  it.each([['status'], ['dead'], ['retry-dead'], ['drain']])(
    'outbox %s refuses an empty (0-byte) file (exit 1) and leaves it empty',
    async (...argv) => {
      const empty = join(root, `empty-${counter}.db`);
      writeFileSync(empty, '');
      const result = await run(['outbox', ...argv, '--db', empty], { env: env() });
      expect(result.code).toBe(1);
      expect(result.stderr).toBe(
        `error: ${empty} is not a Sigpost outbox: the file is empty; nothing was written to it; ` +
          'give --db <path> of a Sigpost outbox\n',
      );
      expect(statSync(empty).size).toBe(0);
    },
  );

  it('outbox enqueue makes an empty (0-byte) file a new outbox', async () => {
    const empty = join(root, `empty-enqueue-${counter}.db`);
    writeFileSync(empty, '');
    const enqueued = await run(['outbox', 'enqueue', '--file', signalsFile([signal('a')]), '--db', empty], {
      env: env(),
    });
    expect(enqueued.code).toBe(0);
    const status = await run(['outbox', 'status', '--json', '--db', empty], { env: env() });
    expect(JSON.parse(status.stdout)).toMatchObject({ pending: 1 });
  });
});

describe('sigpost outbox retry-dead --id', () => {
  it('fails (exit 1) naming an id that does not exist or is not dead, and moves nothing', async () => {
    await run(outbox('enqueue', '--file', signalsFile([signal('a'), signal('b')])), { env: env() });
    onFile("UPDATE outbox_entries SET state = 'dead', finished_at = 1 WHERE id = 1");
    const result = await run(outbox('retry-dead', '--id', '1', '--id', '999', '--id', '2'), { env: env() });
    expect(result).toEqual({
      code: 1,
      stdout: '',
      stderr:
        `error: entry 999 does not exist; entry 2 is pending, not dead in ${db}; nothing was moved ` +
        '(`sigpost outbox dead` lists the dead entries)\n',
    });
    const status = await run(outbox('status', '--json'), { env: env() });
    expect(JSON.parse(status.stdout)).toMatchObject({ pending: 1, dead: 1 });

    const one = await run(outbox('retry-dead', '--id', '999'), { env: env() });
    expect([one.code, one.stderr]).toEqual([
      1,
      `error: entry 999 does not exist in ${db}; nothing was moved (\`sigpost outbox dead\` lists the dead entries)\n`,
    ]);
  });
});
