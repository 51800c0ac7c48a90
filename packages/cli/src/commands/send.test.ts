import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requestVerifiesIndependently, SERVER_TIMESTAMP, validSignal } from '@sigpost/test-support/fixtures';
import {
  acceptedResponse,
  closedPort,
  type IngestServer,
  type Script,
  startIngestServer,
  startSilentServer,
} from '@sigpost/test-support/ingest-server';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { keyReusedHint } from '../delivery.js';
import { run } from '../test-helpers/io.js';

const SECRET = 'send-test-secret-of-enough-bytes';
const PRODUCER = 'desk-1';
// 2025-10-25T14:30:45.123456Z
const NOW = Date.UTC(2025, 9, 25, 14, 30, 45, 123) + 0.456;
const now = () => NOW;
const CLEAR = '\r\x1b[2K';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

const dir = mkdtempSync(join(tmpdir(), 'sigpost-send-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let server: IngestServer;
let script: Script | undefined;
beforeEach(async () => {
  script = undefined;
  server = await startIngestServer({ secret: SECRET, script: (request) => script?.(request) });
});
afterEach(() => server.close());

/** The environment of a working producer; logs off so that stderr can be pinned. */
function env(overrides: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  return {
    HMAC_PRODUCER_SECRET: SECRET,
    PRODUCER_ID: PRODUCER,
    OUTBOUND_SERVER_URL: server.url,
    SIGPOST_LOG_LEVEL: 'silent',
    ...overrides,
  };
}

const SIGNAL_FLAGS: Record<string, string> = {
  '--instrument': 'GOLD',
  '--side': 'buy',
  '--entry-price': '1950.5',
  '--stop-loss': '1945',
  '--take-profit': '1960',
  '--confidence': '0.85',
  '--reason': 'breakout',
};

/** `send` with the valid flags, one of them replaced (or removed with `undefined`), plus extra flags. */
function sendArgs(overrides: Record<string, string | undefined> = {}, ...extra: string[]): string[] {
  const flags = { ...SIGNAL_FLAGS, ...overrides };
  const argv = ['send'];
  for (const [flag, value] of Object.entries(flags)) if (value !== undefined) argv.push(flag, value);
  return [...argv, ...extra];
}

const ingestUrl = () => `${server.url}/api/v1/signals/ingest`;

/** Answers like the ingest server's idempotency store: a key reused with another body gets a 422. */
function rememberKeys(options: { differingFields: boolean; firstTimestamp?: boolean }): Script {
  const first = new Map<string, Record<string, unknown>>();
  return (request) => {
    const key = String(request.headers['x-idempotency-key']);
    const earlier = first.get(key);
    if (earlier === undefined) {
      first.set(key, request.json ?? {});
      return undefined;
    }
    const fields = Object.keys({ ...earlier, ...request.json }).filter(
      (f) => JSON.stringify(earlier[f]) !== JSON.stringify(request.json?.[f]),
    );
    if (fields.length === 0) return undefined;
    return {
      status: 422,
      body: {
        type: 'urn:sigpost:problem:idempotency-key-reused',
        title: 'Idempotency key reused with a different body',
        status: 422,
        detail: `The key was first used with a body that differs in: ${fields.join(', ')}.`,
        ...(options.differingFields ? { differing_fields: fields } : {}),
        // As the ingest server does when it can read the first body and the timestamps differ.
        ...(options.firstTimestamp && fields.includes('timestamp')
          ? { first_timestamp: earlier.timestamp }
          : {}),
      },
    };
  };
}

describe('sigpost send (one signal)', () => {
  it('posts the signal built from the flags, signed, and prints the response as JSON', async () => {
    const argv = sendArgs(
      {},
      '--timestamp',
      '2025-10-25T16:30:45+02:00',
      '--payload',
      '{"rsi":35,"atr":5.5}',
      '--idempotency-key',
      'cli-key-1',
    );
    const result = await run(argv, { env: env(), now });

    expect(result).toEqual({
      code: 0,
      stdout: `${JSON.stringify(acceptedResponse({ reason: 'breakout' }))}\n`,
      stderr: '',
    });
    expect(server.requests).toHaveLength(1);
    const [request] = server.requests;
    expect(request).toMatchObject({ method: 'POST', url: '/api/v1/signals/ingest', verified: true });
    expect(requestVerifiesIndependently(SECRET, request!)).toBe(true);
    expect(request?.headers).toMatchObject({
      'content-type': 'application/json',
      'x-producer-id': PRODUCER,
      'x-idempotency-key': 'cli-key-1',
    });
    expect(request?.headers['x-timestamp']).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    expect(request?.json).toEqual(
      validSignal({ reason: 'breakout', timestamp: '2025-10-25T16:30:45+02:00' }),
    );
  });

  it('stamps the signal with the current time and sends a fresh UUID idempotency key by default', async () => {
    const result = await run(sendArgs(), { env: env(), now });
    expect(result.code).toBe(0);
    expect(server.requests[0]?.json?.timestamp).toBe('2025-10-25T14:30:45.123456Z');
    expect(server.requests[0]?.json).not.toHaveProperty('payload');
    expect(server.requests[0]?.headers['x-idempotency-key']).toMatch(UUID);
  });

  it('prints the status, title, detail and each field error of a 400 problem, exit 1', async () => {
    script = () => ({
      status: 400,
      body: {
        type: 'urn:sigpost:problem:invalid-signal',
        title: 'Signal failed validation',
        status: 400,
        detail: 'The signal has 2 problems.',
        errors: ['instrument: not in the allow-list of desk-1', 'confidence: expected at least 0.9'],
      },
    });
    const result = await run(sendArgs(), { env: env(), now });
    expect(result).toEqual({
      code: 1,
      stdout: '',
      stderr:
        `error: the server answered 400 Bad Request (POST ${ingestUrl()})\n` +
        '  title: Signal failed validation\n' +
        '  detail: The signal has 2 problems.\n' +
        '  - instrument: not in the allow-list of desk-1\n' +
        '  - confidence: expected at least 0.9\n',
    });
  });

  it('prints a 401 for a wrong secret and does not retry it, exit 1', async () => {
    const result = await run(sendArgs(), {
      env: env({ HMAC_PRODUCER_SECRET: 'not-the-server-secret!' }),
      now,
    });
    expect(result).toEqual({
      code: 1,
      stdout: '',
      stderr:
        `error: the server answered 401 Unauthorized (POST ${ingestUrl()})\n` +
        '  title: Unknown producer or invalid signature\n' +
        '  detail: Check the producer id and its secret.\n',
    });
    expect(server.requests).toHaveLength(1);
  });

  it('re-sent under the same key a minute later, prints the 422 detail and how to resend the same signal', async () => {
    script = rememberKeys({ differingFields: true });
    const argv = sendArgs({}, '--idempotency-key', 'desk-1-gold-001');
    expect((await run(argv, { env: env(), now })).code).toBe(0);
    // The second run's --timestamp defaults to its own now: the body differs in the timestamp only.
    const again = await run(argv, { env: env(), now: () => NOW + 60_000 });
    expect(again).toEqual({
      code: 1,
      stdout: '',
      stderr:
        `error: the server answered 422 Unprocessable Entity (POST ${ingestUrl()})\n` +
        '  title: Idempotency key reused with a different body\n' +
        '  detail: The key was first used with a body that differs in: timestamp.\n' +
        '  hint: only the timestamp differs: to resend the same signal, pass the same --timestamp as the first run ' +
        '(it defaults to now); a different signal needs another --idempotency-key\n',
    });
    // With the first run's timestamp, the very same signal is accepted again.
    const same = await run([...argv, '--timestamp', '2025-10-25T14:30:45.123456Z'], {
      env: env(),
      now: () => NOW + 120_000,
    });
    expect(same.code).toBe(0);
  });

  it('a 422 naming the first timestamp: the hint gives the exact --timestamp, and resending with it is accepted', async () => {
    script = rememberKeys({ differingFields: true, firstTimestamp: true });
    const argv = sendArgs({}, '--idempotency-key', 'desk-1-gold-001');
    expect((await run(argv, { env: env(), now })).code).toBe(0);
    const again = await run(argv, { env: env(), now: () => NOW + 60_000 });
    expect(again.code).toBe(1);
    expect(again.stderr).toContain(
      "  hint: only the timestamp differs: to resend the same signal, pass the first run's timestamp: --timestamp 2025-10-25T14:30:45.123456Z; " +
        'a different signal needs another --idempotency-key\n',
    );
    const same = await run([...argv, '--timestamp', '2025-10-25T14:30:45.123456Z'], {
      env: env(),
      now: () => NOW + 120_000,
    });
    expect(same.code).toBe(0);
  });

  it('a key reused for another signal: the hint is to use another key', async () => {
    script = rememberKeys({ differingFields: true });
    const argv = sendArgs({}, '--idempotency-key', 'desk-1-gold-001');
    expect((await run(argv, { env: env(), now })).code).toBe(0);
    const other = await run(sendArgs({ '--reason': 'another one' }, '--idempotency-key', 'desk-1-gold-001'), {
      env: env(),
      now,
    });
    expect(other.stderr).toContain('  detail: The key was first used with a body that differs in: reason.\n');
    expect(other.stderr).toContain(
      '  hint: this key was first used for another signal (it differs in reason); this is another signal: ' +
        'use another --idempotency-key\n',
    );
  });

  it('a key reused for another signal a minute later: no --timestamp is offered, the fields are named', async () => {
    script = rememberKeys({ differingFields: true, firstTimestamp: true });
    const key = ['--idempotency-key', 'desk-1-gold-001'];
    expect((await run(sendArgs({}, ...key), { env: env(), now })).code).toBe(0);
    // Another price, another payload and (by default) another timestamp: another signal.
    const other = sendArgs({ '--entry-price': '1951' }, ...key, '--payload', '{"rsi":40}');
    const result = await run(other, { env: env(), now: () => NOW + 60_000 });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      '  detail: The key was first used with a body that differs in: entry_price, timestamp, payload.\n',
    );
    expect(result.stderr).toContain(
      '  hint: this key was first used for another signal (it differs in entry_price, timestamp, payload); ' +
        'this is another signal: use another --idempotency-key\n',
    );
    // Resending under the first timestamp would still be refused: it is not offered.
    expect(result.stderr).not.toContain('--timestamp');
  });

  it('a 422 naming no differing field: the same signal, written differently, was already received', () => {
    expect(keyReusedHint([], 'flags')).toBe(
      'hint: the first request had the same fields and values, written differently (key order, spacing or ' +
        'number format): this signal was already received; to send it again as a new one, use another --idempotency-key',
    );
  });

  it('a 422 without differing_fields (an older server) still gets the timestamp hint', async () => {
    script = rememberKeys({ differingFields: false });
    const argv = sendArgs({}, '--idempotency-key', 'desk-1-gold-001');
    await run(argv, { env: env(), now });
    const again = await run(argv, { env: env(), now: () => NOW + 1 });
    expect(again.stderr).toContain(
      '  hint: to resend the same signal, pass the same --timestamp as the first run',
    );
  });

  it('reports a refused connection, exit 1', async () => {
    const port = await closedPort();
    const url = `http://127.0.0.1:${port}`;
    const result = await run(sendArgs({}, '--attempts', '1'), {
      env: env({ OUTBOUND_SERVER_URL: url }),
      now,
    });
    expect(result).toEqual({
      code: 1,
      stdout: '',
      stderr: `error: POST ${url}/api/v1/signals/ingest failed with a network error: connect ECONNREFUSED 127.0.0.1:${port} (attempt 1/1)\n`,
    });
  });

  it('gives up after --timeout when the server does not answer, exit 1', async () => {
    const silent = await startSilentServer();
    try {
      const argv = sendArgs({}, '--timeout', '0.2', '--attempts', '1');
      const result = await run(argv, { env: env({ OUTBOUND_SERVER_URL: silent.url }), now });
      expect(result).toEqual({
        code: 1,
        stdout: '',
        stderr: `error: POST ${silent.url}/api/v1/signals/ingest timed out after 200 ms (attempt 1/1)\n`,
      });
    } finally {
      await silent.close();
    }
  });

  it('sends nothing and fails when HMAC_PRODUCER_ENABLED=false', async () => {
    const result = await run(sendArgs(), { env: env({ HMAC_PRODUCER_ENABLED: 'false' }), now });
    expect(result).toEqual({
      code: 1,
      stdout: '',
      stderr:
        'error: Signal not sent: delivery is disabled by HMAC_PRODUCER_ENABLED=false (enabled: false); nothing was sent\n',
    });
    expect(server.requests).toHaveLength(0);
  });

  it('refuses an invalid environment with every problem, exit 2', async () => {
    const result = await run(sendArgs(), {
      env: env({ PRODUCER_ID: undefined, OUTBOUND_TIMEOUT_SECONDS: '2' }),
      now,
    });
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/^error: Invalid outbound configuration \(2 problems\):\n/);
    expect(result.stderr).toContain('→ at PRODUCER_ID');
    expect(result.stderr).toContain('→ at OUTBOUND_TIMEOUT_SECONDS');
    expect(server.requests).toHaveLength(0);
  });

  it('refuses a missing OUTBOUND_SERVER_URL (there is no default server), exit 2', async () => {
    const result = await run(sendArgs(), { env: env({ OUTBOUND_SERVER_URL: undefined }), now });
    expect(result).toEqual({
      code: 2,
      stdout: '',
      stderr:
        'error: Invalid outbound configuration (1 problem):\n' +
        '✖ expected an absolute http: or https: URL without query, fragment or credentials, received nothing\n' +
        '  → at OUTBOUND_SERVER_URL\n',
    });
    expect(server.requests).toHaveLength(0);
  });
});

describe('sigpost send logs', () => {
  it('prints only the error for people at the default level: no JSON log line', async () => {
    const result = await run(sendArgs(), {
      env: env({ SIGPOST_LOG_LEVEL: undefined, HMAC_PRODUCER_SECRET: 'not-the-server-secret!' }),
      now,
    });
    expect(result).toEqual({
      code: 1,
      stdout: '',
      stderr:
        `error: the server answered 401 Unauthorized (POST ${ingestUrl()})\n` +
        '  title: Unknown producer or invalid signature\n' +
        '  detail: Check the producer id and its secret.\n',
    });
  });

  it('logs a failure as a JSON line before the error with SIGPOST_LOG_LEVEL=warn, without the secret', async () => {
    const result = await run(sendArgs(), {
      env: env({ SIGPOST_LOG_LEVEL: 'warn', HMAC_PRODUCER_SECRET: 'not-the-server-secret!' }),
      now,
    });
    expect(result.code).toBe(1);
    const [log, ...rest] = result.stderr.split('\n');
    expect(JSON.parse(log ?? '')).toMatchObject({
      level: 50,
      name: 'sigpost',
      http_code: 401,
      msg: 'Signal delivery failed',
    });
    expect(rest[0]).toBe(`error: the server answered 401 Unauthorized (POST ${ingestUrl()})`);
    expect(result.stderr).not.toContain('not-the-server-secret!');
  });

  it('keeps stdout to the response at debug level, and logs neither the secret nor the signature', async () => {
    const result = await run(sendArgs(), { env: env({ SIGPOST_LOG_LEVEL: 'debug' }), now });
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual(acceptedResponse({ reason: 'breakout' }));
    const logs = result.stderr
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as { msg: string });
    expect(logs.map((l) => l.msg)).toContain('Signal posted successfully');
    expect(result.stderr).not.toContain(SECRET);
    expect(result.stderr).not.toContain(String(server.requests[0]?.headers['x-signature']));
  });

  it('refuses an unknown SIGPOST_LOG_LEVEL, exit 2', async () => {
    const result = await run(sendArgs(), { env: env({ SIGPOST_LOG_LEVEL: 'loud' }), now });
    expect(result).toEqual({
      code: 2,
      stdout: '',
      stderr:
        'error: SIGPOST_LOG_LEVEL expects one of "fatal", "error", "warn", "info", "debug", "trace" or "silent", received "loud"\n',
    });
  });
});

describe('sigpost send refuses bad arguments with one line and exit code 2, sending nothing', () => {
  const bodyFile = join(dir, 'signals.jsonl');
  writeFileSync(bodyFile, '');
  const cases: [string, string[], string][] = [
    [
      '--entry-price not a number',
      sendArgs({ '--entry-price': 'abc' }),
      '--entry-price expects a number > 0, received "abc"',
    ],
    ['--stop-loss zero', sendArgs({ '--stop-loss': '0' }), '--stop-loss expects a number > 0, received "0"'],
    [
      '--take-profit negative',
      sendArgs({ '--take-profit': '-5' }),
      '--take-profit expects a number > 0, received "-5"',
    ],
    [
      '--confidence a word',
      sendArgs({ '--confidence': 'high' }),
      '--confidence expects a number from 0 to 1, received "high"',
    ],
    [
      '--side not buy or sell',
      sendArgs({ '--side': 'long' }),
      '--side expects "buy" or "sell", received "long"',
    ],
    [
      '--instrument with a space',
      sendArgs({ '--instrument': 'GO LD' }),
      '--instrument expects 1–32 characters of A-Z a-z 0-9 . _ / -, received "GO LD"',
    ],
    ['--reason empty', sendArgs({ '--reason': '' }), '--reason expects 1–500 characters, received ""'],
    [
      '--timestamp not RFC 3339',
      sendArgs({}, '--timestamp', 'yesterday'),
      '--timestamp expects an RFC 3339 date-time such as 2025-10-25T14:30:45.123456Z, received "yesterday"',
    ],
    [
      '--payload an array',
      sendArgs({}, '--payload', '[1]'),
      '--payload expects a JSON object such as {"rsi":35}, received "[1]"',
    ],
    [
      '--payload not JSON',
      sendArgs({}, '--payload', '{rsi:35}'),
      '--payload expects a JSON object such as {"rsi":35}, received "{rsi:35}", which is not valid JSON',
    ],
    [
      '--payload with a key twice (JSON.parse would keep the last value)',
      sendArgs({}, '--payload', '{"a":1,"a":2}'),
      '--payload expects a JSON object such as {"rsi":35}, received "{\\"a\\":1,\\"a\\":2}", refused: ' +
        'payload.a: duplicate key; each key may appear once per object (consumers disagree on which value wins)',
    ],
    [
      '--idempotency-key with a space',
      sendArgs({}, '--idempotency-key', 'a b'),
      '--idempotency-key expects 1–255 visible ASCII characters, received "a b"',
    ],
    [
      '--timeout zero',
      sendArgs({}, '--timeout', '0'),
      '--timeout expects a number of seconds from 0.001 to 300, received "0"',
    ],
    [
      '--attempts too many',
      sendArgs({}, '--attempts', '11'),
      '--attempts expects an integer from 1 to 10, received "11"',
    ],
    [
      '--concurrency zero',
      ['send', '--file', bodyFile, '--concurrency', '0'],
      '--concurrency expects an integer from 1 to 64, received "0"',
    ],
    [
      '--file missing',
      ['send', '--file', join(dir, 'nope.jsonl')],
      `--file expects a readable file, received ${JSON.stringify(join(dir, 'nope.jsonl'))} (no such file)`,
    ],
    [
      'missing signal flags',
      sendArgs({ '--entry-price': undefined, '--reason': undefined }),
      '2 problems with the flags; nothing was done:\n' +
        "  required option '--entry-price' not specified (or give --file <path>)\n" +
        "  required option '--reason' not specified (or give --file <path>)",
    ],
    [
      'bad values and missing signal flags: every one is reported at once',
      sendArgs({ '--side': 'long', '--reason': undefined }),
      '2 problems with the flags; nothing was done:\n' +
        '  --side expects "buy" or "sell", received "long"\n' +
        "  required option '--reason' not specified (or give --file <path>)",
    ],
    [
      '--concurrency without --file',
      sendArgs({}, '--concurrency', '4'),
      '--concurrency applies only with --file',
    ],
    [
      '--file with a signal flag',
      ['send', '--file', bodyFile, '--side', 'buy'],
      "option '--file <path>' cannot be used with option '--side <side>'",
    ],
    [
      'several bad flags: every one is reported',
      sendArgs({ '--side': 'long', '--confidence': 'high' }, '--attempts', '0'),
      '3 problems with the flags; nothing was done:\n' +
        '  --side expects "buy" or "sell", received "long"\n' +
        '  --confidence expects a number from 0 to 1, received "high"\n' +
        '  --attempts expects an integer from 1 to 10, received "0"',
    ],
    [
      'an unknown flag comes before bad values',
      sendArgs({ '--side': 'long' }, '--colour', 'red'),
      "unknown option '--colour'",
    ],
    [
      'a stop-loss on the wrong side of the entry',
      sendArgs({ '--stop-loss': '1955' }),
      'the signal is invalid; nothing was sent:\n  --stop-loss: expected below entry_price for a buy',
    ],
  ];
  it.each(cases)('%s', async (_name, argv, message) => {
    const result = await run(argv, { env: env(), now });
    expect(result).toEqual({ code: 2, stdout: '', stderr: `error: ${message}\n` });
    expect(server.requests).toHaveLength(0);
  });
});

describe('sigpost send --file', () => {
  function signalLine(reason: string, extra: Record<string, unknown> = {}): string {
    return JSON.stringify({ ...validSignal({ reason, payload: undefined }), ...extra });
  }

  function file(name: string, text: string): string {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  }

  function results(stdout: string): Record<string, unknown>[] {
    return stdout
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .sort((a, b) => Number(a.line) - Number(b.line));
  }

  it('sends every line, reports each bad line by number, and exits 1 when any failed', async () => {
    script = (request) =>
      request.json?.reason === 'refused'
        ? {
            status: 400,
            body: {
              type: 'urn:sigpost:problem:invalid-signal',
              title: 'Signal failed validation',
              status: 400,
              errors: ['instrument: not in the allow-list of desk-1'],
            },
          }
        : undefined;
    const path = file(
      'mixed.jsonl',
      [
        signalLine('first', { idempotency_key: 'batch-key-1' }),
        '{not json',
        '',
        signalLine('second'),
        '[1,2]',
        signalLine('refused'),
        signalLine('wrong-side', { stop_loss: 1955 }),
        signalLine('bad-key', { idempotency_key: 'has space' }),
        '   ',
        `${signalLine('third')}\r`,
      ].join('\n'),
    );
    const result = await run(['send', '--file', path, '--concurrency', '3'], { env: env(), now });

    expect(result.code).toBe(1);
    const keyOf = (reason: string) =>
      server.requests.find((r) => r.json?.reason === reason)?.headers['x-idempotency-key'];
    expect(results(result.stdout)).toEqual([
      { line: 1, idempotency_key: 'batch-key-1', ...acceptedResponse({ reason: 'first' }) },
      {
        line: 2,
        error: { code: 'CLI_INVALID_LINE', message: expect.stringMatching(/^not valid JSON \(.+\)$/) },
      },
      { line: 4, idempotency_key: keyOf('second'), ...acceptedResponse({ reason: 'second' }) },
      {
        line: 5,
        error: { code: 'CLI_INVALID_LINE', message: 'expected a JSON object (one signal per line)' },
      },
      {
        line: 6,
        idempotency_key: keyOf('refused'),
        error: {
          code: 'OUTBOUND_HTTP_ERROR',
          status: 400,
          type: 'urn:sigpost:problem:invalid-signal',
          title: 'Signal failed validation',
          errors: ['instrument: not in the allow-list of desk-1'],
          message: `POST ${ingestUrl()} failed with 400 Bad Request (attempt 1/5): Signal failed validation`,
        },
      },
      {
        line: 7,
        idempotency_key: expect.stringMatching(UUID),
        error: {
          code: 'OUTBOUND_INVALID_SIGNAL',
          errors: ['stop_loss: expected below entry_price for a buy'],
          message:
            'Signal failed validation (1 problem); nothing was sent:\n  stop_loss: expected below entry_price for a buy',
        },
      },
      {
        line: 8,
        error: {
          code: 'CLI_INVALID_LINE',
          message: 'idempotency_key: expected 1–255 visible ASCII characters',
        },
      },
      { line: 10, idempotency_key: keyOf('third'), ...acceptedResponse({ reason: 'third' }) },
    ]);

    // What reached the server: the four lines that were valid signals, each signed and keyed.
    expect(server.requests.map((r) => r.json?.reason).sort()).toEqual([
      'first',
      'refused',
      'second',
      'third',
    ]);
    expect(server.requests.every((r) => r.verified)).toBe(true);
    expect(server.requests.every((r) => requestVerifiesIndependently(SECRET, r))).toBe(true);
    expect(server.requests.every((r) => !('idempotency_key' in (r.json ?? {})))).toBe(true);
    expect(keyOf('second')).toMatch(UUID);
    expect(new Set(server.requests.map((r) => r.headers['x-idempotency-key'])).size).toBe(4);

    const stderr = result.stderr;
    expect(stderr).toMatch(/^line 2: not valid JSON \(.+\)$/m);
    expect(stderr).toContain('line 5: expected a JSON object (one signal per line)\n');
    expect(stderr).toContain(
      `line 6: the server answered 400 Bad Request (POST ${ingestUrl()})\n` +
        '  title: Signal failed validation\n' +
        '  - instrument: not in the allow-list of desk-1\n',
    );
    expect(stderr).toContain(
      'line 7: the signal is invalid; nothing was sent\n  - stop_loss: expected below entry_price for a buy\n',
    );
    expect(stderr).toContain('line 8: idempotency_key: expected 1–255 visible ASCII characters\n');
    expect(stderr.endsWith('sent 3, failed 5 of 8 in 0.0s\n')).toBe(true);
  });

  it('refuses a line with a key twice, at any depth, naming its path; sends nothing of it', async () => {
    const path = file(
      'duplicates.jsonl',
      [
        // JSON.parse keeps the last value: this line would go out as a buy.
        signalLine('twice').replace('"side":"buy"', '"side":"sell","side":"buy"'),
        signalLine('nested').replace(/}$/, ',"payload":{"m":{"rsi":1,"rsi":2}}}'),
        signalLine('fine'),
      ].join('\n'),
    );
    const result = await run(['send', '--file', path], { env: env(), now });
    expect(result.code).toBe(1);
    const duplicate =
      'duplicate key; each key may appear once per object (consumers disagree on which value wins)';
    expect(results(result.stdout)).toEqual([
      { line: 1, error: { code: 'CLI_INVALID_LINE', message: `side: ${duplicate}` } },
      { line: 2, error: { code: 'CLI_INVALID_LINE', message: `payload.m.rsi: ${duplicate}` } },
      expect.objectContaining({ line: 3, status: 'received' }),
    ]);
    expect(server.requests.map((r) => r.json?.reason)).toEqual(['fine']);
    expect(result.stderr).toContain(`line 1: side: ${duplicate}\n`);
  });

  it('a line re-sent under its key with another timestamp: the 422 with differing_fields and a hint', async () => {
    script = rememberKeys({ differingFields: true });
    const key = { idempotency_key: 'desk-1-gold-001' };
    await run(['send', '--file', file('first.jsonl', `${signalLine('once', key)}\n`)], { env: env(), now });
    const later = signalLine('once', { ...key, timestamp: '2025-10-25T14:31:45.123456Z' });
    const result = await run(['send', '--file', file('again.jsonl', `${later}\n`)], { env: env(), now });
    expect(result.code).toBe(1);
    expect(JSON.parse(result.stdout).error).toMatchObject({ status: 422, differing_fields: ['timestamp'] });
    expect(result.stderr).toContain(
      '  hint: only the timestamp differs: to resend the same signal, keep the line\'s "timestamp" as in the first run; ' +
        'a different signal needs another "idempotency_key"\n',
    );
  });

  it('exits 0 with a summary when every line is sent', async () => {
    const path = file('good.jsonl', `${[signalLine('a'), signalLine('b'), signalLine('c')].join('\n')}\n`);
    const result = await run(['send', '--file', path], { env: env(), now });
    expect(result.code).toBe(0);
    expect(result.stderr).toBe('sent 3, failed 0 of 3 in 0.0s\n');
    expect(results(result.stdout).map((r) => [r.line, r.signal_id, r.status])).toEqual([
      [1, 'sig-a', 'received'],
      [2, 'sig-b', 'received'],
      [3, 'sig-c', 'received'],
    ]);
    expect(results(result.stdout)[0]?.server_timestamp).toBe(SERVER_TIMESTAMP);
  });

  it('draws the progress bar on a terminal, then replaces it with the summary', async () => {
    const path = file('two.jsonl', `${signalLine('a')}\n${signalLine('b')}\n`);
    const result = await run(['send', '--file', path, '--concurrency', '1'], {
      env: env(),
      now,
      isTTY: true,
    });
    expect(result.code).toBe(0);
    expect(result.stderr).toBe(
      `${CLEAR}[############------------] 1/2  –/s  ETA ?` +
        `${CLEAR}[########################] 2/2  –/s  ETA 0s` +
        `${CLEAR}sent 2, failed 0 of 2 in 0.0s\n`,
    );
  });

  it('draws no progress bar when stderr is not a terminal', async () => {
    const path = file('two-plain.jsonl', `${signalLine('a')}\n${signalLine('b')}\n`);
    const result = await run(['send', '--file', path], { env: env(), now, isTTY: false });
    expect(result.stderr).toBe('sent 2, failed 0 of 2 in 0.0s\n');
  });

  it('sends nothing for a file of blank lines and exits 0', async () => {
    const result = await run(['send', '--file', file('blank.jsonl', '\n\n  \n')], { env: env(), now });
    expect(result).toEqual({ code: 0, stdout: '', stderr: 'sent 0, failed 0 of 0 in 0.0s\n' });
    expect(server.requests).toHaveLength(0);
  });

  it('refuses an invalid environment before reading the file, exit 2', async () => {
    const path = file('unread.jsonl', `${signalLine('a')}\n`);
    const result = await run(['send', '--file', path], { env: env({ HMAC_PRODUCER_SECRET: 'short' }), now });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^error: Invalid outbound configuration \(1 problem\):\n/);
    expect(result.stderr).not.toContain('short');
    expect(server.requests).toHaveLength(0);
  });
});
