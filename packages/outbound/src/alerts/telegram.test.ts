import { createServer, type Server } from 'node:http';
import { listenLocal } from '@sigpost/test-support/fixtures';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { OutboundConfigError } from '../errors.js';
import {
  type FakeTime,
  fakeTime,
  type RecordingLogger,
  recordingLogger,
} from '../outbox/test-helpers/fixtures.js';
import type { Alert } from './alert.js';
import { renderAlertMessage, TELEGRAM_MAX_TEXT, TelegramAlertSink, TelegramBotApi } from './telegram.js';

const TOKEN = '123456789:AAH-test_token-abcdefghijklmnopqrstu';
const CHAT_ID = -1001234567890;

interface BotRequest {
  readonly method: string;
  readonly url: string;
  readonly contentType: string | undefined;
  readonly body: { chat_id: unknown; text: string };
}

type Answer = { status: number; body: unknown };

/** A local server that speaks the Bot API's sendMessage; `answers` scripts the replies in order. */
async function startBotApi(answers: Answer[] = []) {
  const requests: BotRequest[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as BotRequest['body'];
      requests.push({
        method: req.method ?? '',
        url: req.url ?? '',
        contentType: req.headers['content-type'],
        body,
      });
      const answer = answers.shift() ?? {
        status: 200,
        body: {
          ok: true,
          result: {
            message_id: requests.length,
            chat: { id: body.chat_id },
            date: 1761402645,
            text: body.text,
          },
        },
      };
      res.writeHead(answer.status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(answer.body));
    });
  });
  return { ...(await listenLocal(server)), requests };
}

const tooManyRequests = (retryAfter: number): Answer => ({
  status: 429,
  body: {
    ok: false,
    error_code: 429,
    description: `Too Many Requests: retry after ${retryAfter}`,
    parameters: { retry_after: retryAfter },
  },
});

let api: Awaited<ReturnType<typeof startBotApi>>;
let logger: RecordingLogger;
let time: FakeTime;

beforeEach(() => {
  logger = recordingLogger();
  time = fakeTime();
});

afterEach(async () => {
  await api?.close();
});

function sink(options: { maxAttempts?: number; baseUrl?: string } = {}): TelegramAlertSink {
  return new TelegramAlertSink({
    botToken: TOKEN,
    chatId: CHAT_ID,
    baseUrl: options.baseUrl ?? api.url,
    logger,
    clock: time.clock,
    sleep: time.sleep,
    ...(options.maxAttempts === undefined ? {} : { maxAttempts: options.maxAttempts }),
  });
}

/** The error line's message for a message given up after Telegram answered `failure` (`401: Unauthorized`). */
const givenUp = (failure: string) =>
  `telegram alert given up: POST ${api.url}/bot<redacted>/sendMessage failed with ${failure}`;

const alert = (text: string, severity: Alert['severity'] = 'critical'): Alert => ({
  kind: 'custom',
  severity,
  text,
  at: 0,
});

describe('TelegramAlertSink', () => {
  test('posts one alert to /bot<token>/sendMessage as JSON with chat_id and text', async () => {
    api = await startBotApi();
    const alerts = sink();
    alerts.send(alert('Signal moved to dead-letter'));
    await alerts.flush();
    expect(api.requests).toEqual([
      {
        method: 'POST',
        url: `/bot${TOKEN}/sendMessage`,
        contentType: 'application/json',
        body: { chat_id: CHAT_ID, text: '🚨 Sigpost: Signal moved to dead-letter' },
      },
    ]);
    expect(time.sleeps).toEqual([]);
  });

  test('send returns before anything is posted', async () => {
    api = await startBotApi();
    const alerts = sink();
    alerts.send(alert('one'));
    expect(api.requests).toHaveLength(0);
    await alerts.flush();
    expect(api.requests).toHaveLength(1);
  });

  test('groups alerts that arrive while a message is on its way into one message a second later', async () => {
    api = await startBotApi();
    const alerts = sink();
    alerts.send(alert('first'));
    alerts.send(alert('second', 'warning'));
    alerts.send(alert('third', 'resolved'));
    await alerts.flush();
    expect(api.requests.map((r) => r.body.text)).toEqual([
      '🚨 Sigpost: first',
      'Sigpost: 2 alerts\n⚠️ second\n✅ third',
    ]);
    expect(time.sleeps).toEqual([1000]);
  });

  test('keeps to one message per minIntervalMs for alerts sent apart', async () => {
    api = await startBotApi();
    const alerts = sink();
    alerts.send(alert('first'));
    await alerts.flush();
    time.advance(300);
    alerts.send(alert('second'));
    await alerts.flush();
    expect(api.requests).toHaveLength(2);
    expect(time.sleeps).toEqual([700]);
  });

  test("waits out a 429's parameters.retry_after, then sends the same alerts again", async () => {
    api = await startBotApi([tooManyRequests(3)]);
    const alerts = sink();
    alerts.send(alert('first'));
    await alerts.flush();
    expect(api.requests.map((r) => r.body.text)).toEqual(['🚨 Sigpost: first', '🚨 Sigpost: first']);
    expect(time.sleeps).toEqual([3000]);
    expect(logger.lines.map((l) => [l.level, l.fields.http_code, l.fields.delay_ms])).toEqual([
      ['warn', 429, 3000],
    ]);
  });

  test('a 429 holds every send for exactly retry_after; the retry carries the alerts that arrived meanwhile', async () => {
    api = await startBotApi([tooManyRequests(5)]);
    const alerts: TelegramAlertSink = new TelegramAlertSink({
      botToken: TOKEN,
      chatId: CHAT_ID,
      baseUrl: api.url,
      logger,
      clock: time.clock,
      // An alert arrives during the pause.
      sleep: async (ms) => {
        if (time.sleeps.length === 0) alerts.send(alert('second', 'warning'));
        await time.sleep(ms);
      },
    });
    alerts.send(alert('first'));
    await alerts.flush();
    expect(api.requests.map((r) => r.body.text)).toEqual([
      '🚨 Sigpost: first',
      'Sigpost: 2 alerts\n🚨 first\n⚠️ second',
    ]);
    // 5 s as asked, not jittered, and the new alert did not go out on its own during the pause.
    expect(time.sleeps).toEqual([5000]);
    expect(
      logger.lines.map((l) => [l.level, l.fields.http_code, l.fields.delay_ms, l.fields.attempt]),
    ).toEqual([['warn', 429, 5000, 1]]);
    // The next message waits its turn after the retry.
    alerts.send(alert('third'));
    await alerts.flush();
    expect(api.requests).toHaveLength(3);
    expect(time.sleeps).toEqual([5000, 1000]);
  });

  test('a burst over 4096 characters is cut, and the rest summarised by count per severity', async () => {
    api = await startBotApi();
    const alerts = sink();
    alerts.send(alert('first'));
    for (let i = 0; i < 60; i++)
      alerts.send(alert(`${i}:${'x'.repeat(300)}`, i < 50 ? 'critical' : 'warning'));
    await alerts.flush();
    expect(api.requests).toHaveLength(2);
    const text = api.requests[1]!.body.text;
    expect(text.length).toBeLessThanOrEqual(TELEGRAM_MAX_TEXT);
    const lines = text.split('\n');
    expect(lines[0]).toBe('Sigpost: 60 alerts');
    const shown = lines.slice(1, -1);
    expect(shown.length).toBe(12);
    expect(lines.at(-1)).toBe('… and 48 more (38 critical, 10 warning)');
  });

  test.each([
    [401, 'Unauthorized'],
    [400, 'Bad Request: chat not found'],
  ])(
    'gives up on a refusal (%i) at once, without a pause, and logs it without the token; the next alert goes out',
    async (status, description) => {
      api = await startBotApi([{ status, body: { ok: false, error_code: status, description } }]);
      const alerts = sink();
      alerts.send(alert('first'));
      await alerts.flush();
      expect(api.requests).toHaveLength(1);
      expect(time.sleeps).toEqual([]);
      expect(logger.lines.map((l) => [l.level, l.msg])).toEqual([
        ['error', givenUp(`${status}: ${description}`)],
      ]);
      expect(logger.lines[0]?.fields).toMatchObject({
        http_code: status,
        alert_count: 1,
        alert_text: '🚨 Sigpost: first',
      });
      expect(logger.text()).not.toContain(TOKEN);
      expect(logger.text()).not.toContain(TOKEN.split(':')[1]);
      alerts.send(alert('second'));
      await alerts.flush();
      expect(api.requests.map((r) => r.body.text)).toEqual(['🚨 Sigpost: first', '🚨 Sigpost: second']);
      expect(time.sleeps).toEqual([1000]);
    },
  );

  test('retries a 500, then delivers', async () => {
    api = await startBotApi([{ status: 500, body: { ok: false, error_code: 500, description: 'Internal' } }]);
    const alerts = sink();
    alerts.send(alert('first'));
    await alerts.flush();
    expect(api.requests).toHaveLength(2);
    expect(time.sleeps).toEqual([1000]);
  });

  test('retries network errors with growing pauses, then gives up to the log, never showing the token', async () => {
    api = await startBotApi();
    const deadUrl = api.url;
    await api.close();
    const alerts = sink({ baseUrl: deadUrl, maxAttempts: 3 });
    alerts.send(alert('first'));
    await alerts.flush();
    expect(time.sleeps).toEqual([1000, 2000]);
    const error = logger.lines.find((l) => l.level === 'error');
    expect(error?.msg).toBe(
      `telegram alert given up: POST ${deadUrl}/bot<redacted>/sendMessage failed: fetch failed (ECONNREFUSED)`,
    );
    expect(logger.text()).not.toContain(TOKEN);
    api = await startBotApi();
  });

  test('close flushes, then refuses further alerts with a warning', async () => {
    api = await startBotApi();
    const alerts = sink();
    alerts.send(alert('first'));
    await alerts.close();
    alerts.send(alert('late'));
    await alerts.flush();
    expect(api.requests).toHaveLength(1);
    expect(logger.lines.at(-1)?.msg).toBe('telegram alert not sent: the sink is closed');
  });

  test('close ends a pause before a retry at once and gives its alerts up to the log', async () => {
    api = await startBotApi([tooManyRequests(30)]);
    let paused!: () => void;
    const pausing = new Promise<void>((resolve) => {
      paused = resolve;
    });
    const alerts = new TelegramAlertSink({
      botToken: TOKEN,
      chatId: CHAT_ID,
      baseUrl: api.url,
      logger,
      clock: time.clock,
      // A wait that never ends by itself, and ignores its signal: only close can end it.
      sleep: () => {
        paused();
        return new Promise(() => {});
      },
    });
    alerts.send(alert('first'));
    await pausing;
    alerts.send(alert('second', 'warning'));
    await alerts.close();
    expect(api.requests).toHaveLength(1);
    const error = logger.lines.find((l) => l.level === 'error');
    expect(error?.msg).toBe(
      givenUp('429: Too Many Requests: retry after 30; not retried: the sink is closed'),
    );
    expect(error?.fields).toMatchObject({
      http_code: 429,
      alert_count: 2,
      alert_text: 'Sigpost: 2 alerts\n🚨 first\n⚠️ second',
    });
  });

  test('close does not wait out a 30 s retry_after with the default timers', async () => {
    api = await startBotApi([tooManyRequests(30)]);
    const alerts = new TelegramAlertSink({ botToken: TOKEN, chatId: CHAT_ID, baseUrl: api.url, logger });
    alerts.send(alert('first'));
    while (!logger.lines.some((l) => l.level === 'warn')) await new Promise((r) => setTimeout(r, 5));
    const started = performance.now();
    await alerts.close();
    expect(performance.now() - started).toBeLessThan(1000);
    expect(api.requests).toHaveLength(1);
    expect(logger.lines.map((l) => [l.level, l.fields.http_code])).toEqual([
      ['warn', 429],
      ['error', 429],
    ]);
  });

  test('a send that fails after close is not retried', async () => {
    api = await startBotApi([{ status: 500, body: { ok: false, error_code: 500, description: 'Internal' } }]);
    const alerts = sink();
    alerts.send(alert('first'));
    await alerts.close();
    expect(api.requests).toHaveLength(1);
    expect(time.sleeps).toEqual([]);
    expect(logger.lines.map((l) => [l.level, l.msg])).toEqual([
      ['error', givenUp('500: Internal; not retried: the sink is closed')],
    ]);
  });

  test('refuses a malformed token by its length, never its value', () => {
    expect(() => new TelegramAlertSink({ botToken: 'not a token', chatId: CHAT_ID, logger })).toThrow(
      'Expected `botToken` to be a Telegram bot token (digits, ":", then letters, digits, - or _), received 11 characters',
    );
  });

  test('refuses a chat id that is neither numeric nor an @channelname', () => {
    expect(() => new TelegramAlertSink({ botToken: TOKEN, chatId: 'my chat', logger })).toThrow(
      'Expected `chatId` to be a numeric chat id or an @channelname, received "my chat"',
    );
  });
});

describe('TelegramAlertSink.fromEnv', () => {
  test('is undefined when neither the token nor the chat id is set', () => {
    expect(TelegramAlertSink.fromEnv({}, { logger })).toBeUndefined();
  });

  test('reads the token, chat id and API URL', async () => {
    api = await startBotApi();
    const alerts = TelegramAlertSink.fromEnv(
      {
        SIGPOST_TELEGRAM_BOT_TOKEN: TOKEN,
        SIGPOST_TELEGRAM_CHAT_ID: '@sigpost_alerts',
        SIGPOST_TELEGRAM_API_URL: `${api.url}/`,
      },
      { logger, clock: time.clock, sleep: time.sleep },
    );
    expect(alerts?.redactedUrl).toBe(`${api.url}/bot<redacted>/sendMessage`);
    alerts?.send(alert('hello', 'info'));
    await alerts?.flush();
    expect(api.requests.map((r) => r.body)).toEqual([
      { chat_id: '@sigpost_alerts', text: 'ℹ️ Sigpost: hello' },
    ]);
  });

  test('reports every problem at once, the token by its length only', () => {
    let error: unknown;
    try {
      TelegramAlertSink.fromEnv(
        { SIGPOST_TELEGRAM_BOT_TOKEN: 'secret-token-value', SIGPOST_TELEGRAM_API_URL: 'ftp://x' },
        { logger },
      );
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(OutboundConfigError);
    expect((error as Error).message).toBe(
      [
        'Invalid outbound configuration (3 problems):',
        '✖ expected a bot token: digits, ":", then letters, digits, - or _, received 18 characters',
        '  → at SIGPOST_TELEGRAM_BOT_TOKEN',
        '✖ expected a chat id (SIGPOST_TELEGRAM_BOT_TOKEN is set), received nothing',
        '  → at SIGPOST_TELEGRAM_CHAT_ID',
        '✖ expected an http(s) URL such as https://api.telegram.org, received "ftp://x"',
        '  → at SIGPOST_TELEGRAM_API_URL',
      ].join('\n'),
    );
    expect((error as Error).message).not.toContain('secret-token-value');
  });
});

describe('TelegramBotApi', () => {
  const client = () =>
    new TelegramBotApi({ botToken: TOKEN, baseUrl: api.url, clock: time.clock, sleep: time.sleep });

  test('request answers Telegram’s result, and a refusal with its code and description, never the token', async () => {
    api = await startBotApi([
      { status: 400, body: { ok: false, error_code: 400, description: 'Bad Request: chat not found' } },
    ]);
    const bot = client();
    expect(await bot.request('sendMessage', { chat_id: 1, text: 'a' })).toEqual({
      ok: false,
      transient: false,
      httpCode: 400,
      retryAfterMs: undefined,
      description: 'Bad Request: chat not found',
      message: `POST ${api.url}/bot<redacted>/sendMessage failed with 400: Bad Request: chat not found`,
    });
    const sent = await bot.request<{ message_id: number }>('sendMessage', { chat_id: 1, text: 'b' });
    expect(sent).toMatchObject({ ok: true, result: { message_id: 2, text: 'b' } });
  });

  test('callChat waits out a 429’s retry_after and tries again, telling onRetry', async () => {
    api = await startBotApi([tooManyRequests(7)]);
    const retries: [number | undefined, number, number][] = [];
    const sent = await client().callChat(
      CHAT_ID,
      'sendMessage',
      { chat_id: CHAT_ID, text: 'x' },
      {
        onRetry: (failure, attempt, delayMs) => retries.push([failure.httpCode, attempt, delayMs]),
      },
    );
    expect(sent.ok).toBe(true);
    expect(api.requests).toHaveLength(2);
    expect(retries).toEqual([[429, 1, 7000]]);
    expect(time.sleeps).toEqual([7000]);
  });

  test('callChat returns a 400 at once, without a retry or a pause', async () => {
    api = await startBotApi([
      { status: 400, body: { ok: false, error_code: 400, description: 'Bad Request: chat not found' } },
    ]);
    const retries: number[] = [];
    const sent = await client().callChat(
      CHAT_ID,
      'sendMessage',
      { chat_id: CHAT_ID, text: 'x' },
      { onRetry: (_failure, attempt) => retries.push(attempt) },
    );
    expect(sent).toMatchObject({ ok: false, httpCode: 400, description: 'Bad Request: chat not found' });
    expect(api.requests).toHaveLength(1);
    expect(retries).toEqual([]);
    expect(time.sleeps).toEqual([]);
  });

  test('callChat runs one chat’s calls one at a time, a second apart; another chat does not wait', async () => {
    api = await startBotApi();
    const bot = client();
    await Promise.all([
      bot.callChat(CHAT_ID, 'sendMessage', { chat_id: CHAT_ID, text: '1' }),
      bot.callChat(CHAT_ID, 'editMessageText', { chat_id: CHAT_ID, text: '2' }),
    ]);
    expect(api.requests.map((r) => [r.url.split('/').at(-1), r.body.text])).toEqual([
      ['sendMessage', '1'],
      ['editMessageText', '2'],
    ]);
    expect(time.sleeps).toEqual([1000]);
    await bot.callChat('@other_chat', 'sendMessage', { chat_id: '@other_chat', text: '3' });
    expect(time.sleeps).toEqual([1000]);
  });

  test('callChat stops retrying once its signal is aborted', async () => {
    api = await startBotApi([tooManyRequests(30)]);
    const stop = new AbortController();
    const bot = new TelegramBotApi({
      botToken: TOKEN,
      baseUrl: api.url,
      sleep: () => new Promise(() => {}), // a wait that never ends by itself
    });
    const sending = bot.callChat(
      CHAT_ID,
      'sendMessage',
      { chat_id: CHAT_ID, text: 'x' },
      {
        signal: stop.signal,
        onRetry: () => stop.abort(),
      },
    );
    expect(await sending).toMatchObject({ ok: false, httpCode: 429, retryAfterMs: 30_000 });
    expect(api.requests).toHaveLength(1);
  });
});

describe('renderAlertMessage', () => {
  test('cuts one long alert to 4096 characters with an ellipsis', () => {
    const text = renderAlertMessage('Sigpost', [alert('y'.repeat(5000))]);
    expect(text).toHaveLength(TELEGRAM_MAX_TEXT);
    expect(text.endsWith('y…')).toBe(true);
  });

  test('never cuts inside a surrogate pair', () => {
    // '🚨 Sigpost: ' is 12 UTF-16 units; pad so that the cut falls between the halves of an emoji.
    const text = renderAlertMessage('Sigpost', [alert(`${'a'.repeat(4096 - 12 - 2)}😀😀`)]);
    expect(text.endsWith('a…')).toBe(true);
    expect(text.length).toBe(TELEGRAM_MAX_TEXT - 1);
  });
});
