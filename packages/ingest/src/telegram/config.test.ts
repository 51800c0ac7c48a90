import { describe, expect, it } from 'vitest';
import { ConfigError } from '../errors.js';
import { readTelegramEnv, TELEGRAM_DEFAULTS } from './config.js';
import { callbackData, parseCallbackData } from './render.js';

const TOKEN = '123456789:AAH-test_token-abcdefghijklmnopqrstu';

describe('readTelegramEnv', () => {
  it('is off (undefined) unless SIGPOST_TELEGRAM_APPROVERS is set, even with a token and chat id (the alerts’ names)', () => {
    expect(readTelegramEnv({})).toBeUndefined();
    expect(
      readTelegramEnv({ SIGPOST_TELEGRAM_BOT_TOKEN: TOKEN, SIGPOST_TELEGRAM_CHAT_ID: '-100123' }),
    ).toBeUndefined();
  });

  it('reads the token, chat, approvers, API URL and poll timeout; the real Bot API is the default', () => {
    const env = {
      SIGPOST_TELEGRAM_BOT_TOKEN: TOKEN,
      SIGPOST_TELEGRAM_CHAT_ID: '-1001234567890',
      SIGPOST_TELEGRAM_APPROVERS: '42, 43,42',
    };
    expect(readTelegramEnv(env)).toEqual({
      botToken: TOKEN,
      chatId: '-1001234567890',
      approvers: [42, 43],
      baseUrl: 'https://api.telegram.org',
      pollTimeoutSeconds: 30,
      leaseTtlMs: TELEGRAM_DEFAULTS.leaseTtlMs,
      minIntervalMs: 1000,
      webhookSecret: undefined,
    });
    expect(readTelegramEnv({ ...env, SIGPOST_TELEGRAM_WEBHOOK_SECRET: 'a_B-9' })?.webhookSecret).toBe(
      'a_B-9',
    );
    expect(() => readTelegramEnv({ ...env, SIGPOST_TELEGRAM_WEBHOOK_SECRET: 'has space' })).toThrow(
      /expected 1–256 characters A-Z, a-z, 0-9, _ or - \(Telegram’s secret_token\), received 9 characters\n {2}→ at SIGPOST_TELEGRAM_WEBHOOK_SECRET/,
    );
    expect(
      readTelegramEnv({
        ...env,
        SIGPOST_TELEGRAM_API_URL: 'http://127.0.0.1:8081/',
        SIGPOST_TELEGRAM_POLL_TIMEOUT_SECONDS: '5',
      }),
    ).toMatchObject({ baseUrl: 'http://127.0.0.1:8081', pollTimeoutSeconds: 5 });
  });

  it('names every missing or malformed variable at once, the token by its length only', () => {
    let error: unknown;
    try {
      readTelegramEnv({
        SIGPOST_TELEGRAM_BOT_TOKEN: 'secret-token-value',
        SIGPOST_TELEGRAM_APPROVERS: '42,@alice',
        SIGPOST_TELEGRAM_API_URL: 'ftp://x',
        SIGPOST_TELEGRAM_POLL_TIMEOUT_SECONDS: '90',
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).issues.map((i) => [i.key, i.received])).toEqual([
      ['SIGPOST_TELEGRAM_BOT_TOKEN', '18 characters'],
      ['SIGPOST_TELEGRAM_CHAT_ID', 'nothing'],
      ['SIGPOST_TELEGRAM_APPROVERS', '"@alice"'],
      ['SIGPOST_TELEGRAM_API_URL', '"ftp://x"'],
      ['SIGPOST_TELEGRAM_POLL_TIMEOUT_SECONDS', '"90"'],
    ]);
    expect((error as Error).message).toContain('ask @userinfobot for yours');
    expect((error as Error).message).not.toContain('secret-token-value');
  });
});

describe('callback data', () => {
  it('round-trips an action and a signal id in at most 64 bytes', () => {
    const id = 'sig_01JC3M5W8QXG4K2N6Y7T9B1ZAD';
    expect(callbackData('approve', id)).toBe(`a:${id}`);
    expect(Buffer.byteLength(callbackData('reject', id))).toBeLessThanOrEqual(64);
    expect(parseCallbackData(`r:${id}`)).toEqual({ action: 'reject', signalId: id });
  });

  it('refuses anything else', () => {
    for (const data of [
      undefined,
      42,
      '',
      'a:',
      'x:sig_01JC3M5W8QXG4K2N6Y7T9B1ZAD',
      'a:sig_01JC3M5W8QXG4K2N6Y7T9B1ZA',
      'a:sig_01JC3M5W8QXG4K2N6Y7T9B1ZADU',
      'a:sig_01jc3m5w8qxg4k2n6y7t9b1zad',
    ]) {
      expect(parseCallbackData(data)).toBeUndefined();
    }
  });
});
