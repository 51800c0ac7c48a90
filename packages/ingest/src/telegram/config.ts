// Configuration of the Telegram approval bot, from the environment. The bot token, chat id and API
// URL are the names the outbox's Telegram alerts already use; the allow-list switches the bot on.
import { isTelegramBotToken, isTelegramChatId, parseTelegramBaseUrl } from '@sigpost/outbound/alerts';
import { describeValue } from '@sigpost/protocol';
import { ConfigError, type InputIssue } from '../errors.js';

/** Environment variables read by {@link readTelegramEnv}. */
export const TELEGRAM_APPROVAL_ENV = Object.freeze({
  botToken: 'SIGPOST_TELEGRAM_BOT_TOKEN',
  chatId: 'SIGPOST_TELEGRAM_CHAT_ID',
  apiUrl: 'SIGPOST_TELEGRAM_API_URL',
  approvers: 'SIGPOST_TELEGRAM_APPROVERS',
  pollTimeoutSeconds: 'SIGPOST_TELEGRAM_POLL_TIMEOUT_SECONDS',
  webhookSecret: 'SIGPOST_TELEGRAM_WEBHOOK_SECRET',
} as const);

/** The approval bot's settings (validated by {@link resolveTelegramConfig}). */
export interface TelegramApprovalConfig {
  /** The bot's token from @BotFather. Never logged. */
  readonly botToken: string;
  /** The operators' chat: a numeric id (`-1001234567890`) or an `@channelname`. */
  readonly chatId: string;
  /** Telegram user ids allowed to approve and reject (everyone else is refused). */
  readonly approvers: readonly number[];
  /** The Bot API's base URL. @default 'https://api.telegram.org' */
  readonly baseUrl: string;
  /** getUpdates long-poll timeout, in seconds (Telegram holds the request up to this long). @default 30 */
  readonly pollTimeoutSeconds: number;
  /** How long the poller's lease lasts without renewal, in ms (renewed every third of it). @default 30000 */
  readonly leaseTtlMs: number;
  /** Least time between two messages (or edits) to the chat, in ms. @default 1000 */
  readonly minIntervalMs: number;
  /**
   * Updates come by webhook (`POST /api/v1/telegram/webhook`, Telegram's `X-Telegram-Bot-Api-Secret-Token`
   * must equal this) instead of getUpdates long polling. Never logged. @default undefined (long polling)
   */
  readonly webhookSecret: string | undefined;
}

export type TelegramConfigInput = Partial<TelegramApprovalConfig> &
  Pick<TelegramApprovalConfig, 'botToken' | 'chatId' | 'approvers'>;

export const TELEGRAM_DEFAULTS = Object.freeze({
  baseUrl: 'https://api.telegram.org',
  pollTimeoutSeconds: 30, // s
  leaseTtlMs: 30_000, // ms
  minIntervalMs: 1_000, // ms per chat: Telegram allows about one message a second per chat
});

const USER_ID = /^[1-9]\d{0,15}$/;
/** Telegram's rule for `secret_token`: 1–256 characters A-Z, a-z, 0-9, _ and -. */
const WEBHOOK_SECRET = /^[A-Za-z0-9_-]{1,256}$/;

/** Applies defaults and validates; throws ConfigError listing every problem (the token by its length only). */
export function resolveTelegramConfig(input: TelegramConfigInput): TelegramApprovalConfig {
  const issues: InputIssue[] = [];
  if (!isTelegramBotToken(input.botToken)) {
    issues.push({
      key: 'botToken',
      expected: 'a bot token: digits, ":", then letters, digits, - or _',
      received:
        typeof input.botToken === 'string'
          ? `${(input.botToken as string).length} characters`
          : typeof input.botToken,
    });
  }
  if (!isTelegramChatId(input.chatId)) {
    issues.push({
      key: 'chatId',
      expected: 'a numeric chat id or an @channelname',
      received: describeValue(input.chatId),
    });
  }
  if (
    !Array.isArray(input.approvers) ||
    input.approvers.length === 0 ||
    !input.approvers.every((id) => Number.isSafeInteger(id) && id > 0)
  ) {
    issues.push({
      key: 'approvers',
      expected: 'one or more Telegram user ids (positive integers)',
      received: describeValue(input.approvers),
    });
  }
  const baseUrl = parseTelegramBaseUrl(input.baseUrl ?? TELEGRAM_DEFAULTS.baseUrl);
  if (baseUrl === undefined) {
    issues.push({
      key: 'baseUrl',
      expected: 'an http(s) URL such as https://api.telegram.org',
      received: describeValue(input.baseUrl),
    });
  }
  const pollTimeoutSeconds = input.pollTimeoutSeconds ?? TELEGRAM_DEFAULTS.pollTimeoutSeconds;
  const leaseTtlMs = input.leaseTtlMs ?? TELEGRAM_DEFAULTS.leaseTtlMs;
  const minIntervalMs = input.minIntervalMs ?? TELEGRAM_DEFAULTS.minIntervalMs;
  if (!Number.isInteger(pollTimeoutSeconds) || pollTimeoutSeconds < 0 || pollTimeoutSeconds > 50) {
    issues.push({
      key: 'pollTimeoutSeconds',
      expected: 'an integer from 0 to 50 seconds',
      received: describeValue(pollTimeoutSeconds),
    });
  }
  if (!Number.isInteger(leaseTtlMs) || leaseTtlMs < 300 || leaseTtlMs > 600_000) {
    issues.push({
      key: 'leaseTtlMs',
      expected: 'an integer from 300 to 600000 ms',
      received: describeValue(leaseTtlMs),
    });
  }
  if (!Number.isInteger(minIntervalMs) || minIntervalMs < 0 || minIntervalMs > 60_000) {
    issues.push({
      key: 'minIntervalMs',
      expected: 'an integer from 0 to 60000 ms',
      received: describeValue(minIntervalMs),
    });
  }
  const webhookSecret = input.webhookSecret;
  if (
    webhookSecret !== undefined &&
    (typeof webhookSecret !== 'string' || !WEBHOOK_SECRET.test(webhookSecret))
  ) {
    issues.push({
      key: 'webhookSecret',
      expected: '1–256 characters A-Z, a-z, 0-9, _ or - (Telegram’s secret_token)',
      received:
        typeof webhookSecret === 'string'
          ? `${(webhookSecret as string).length} characters`
          : typeof webhookSecret,
    });
  }
  if (issues.length > 0 || baseUrl === undefined) throw new ConfigError(issues);
  return Object.freeze({
    botToken: input.botToken,
    chatId: String(input.chatId),
    approvers: Object.freeze([...new Set(input.approvers)]),
    baseUrl,
    pollTimeoutSeconds,
    leaseTtlMs,
    minIntervalMs,
    webhookSecret,
  });
}

/**
 * The approval bot's configuration from `SIGPOST_TELEGRAM_*`, or undefined when
 * `SIGPOST_TELEGRAM_APPROVERS` is unset (the bot is off: a token and chat id alone may be there for
 * the outbox's alerts). Throws ConfigError naming each missing or malformed variable.
 *
 * @example
 * const telegram = readTelegramEnv(process.env); // undefined unless SIGPOST_TELEGRAM_APPROVERS is set
 */
export function readTelegramEnv(
  env: Readonly<Record<string, string | undefined>> = process.env,
): TelegramApprovalConfig | undefined {
  const E = TELEGRAM_APPROVAL_ENV;
  const get = (name: string) => {
    const value = env[name]?.trim();
    return value === undefined || value === '' ? undefined : value;
  };
  const approversText = get(E.approvers);
  if (approversText === undefined) return undefined;
  const issues: InputIssue[] = [];
  const token = get(E.botToken);
  const chatId = get(E.chatId);
  const apiUrl = get(E.apiUrl);
  const timeout = get(E.pollTimeoutSeconds);
  const webhookSecret = get(E.webhookSecret);
  if (webhookSecret !== undefined && !WEBHOOK_SECRET.test(webhookSecret)) {
    issues.push({
      key: E.webhookSecret,
      expected: '1–256 characters A-Z, a-z, 0-9, _ or - (Telegram’s secret_token)',
      received: `${webhookSecret.length} characters`,
    });
  }
  if (token === undefined) {
    issues.push({
      key: E.botToken,
      expected: `the bot's token from @BotFather (${E.approvers} is set)`,
      received: 'nothing',
    });
  } else if (!isTelegramBotToken(token)) {
    issues.push({
      key: E.botToken,
      expected: 'a bot token: digits, ":", then letters, digits, - or _',
      received: `${(token as string).length} characters`,
    });
  }
  if (chatId === undefined) {
    issues.push({
      key: E.chatId,
      expected: `the operators' chat id (${E.approvers} is set)`,
      received: 'nothing',
    });
  } else if (!isTelegramChatId(chatId)) {
    issues.push({
      key: E.chatId,
      expected: 'a numeric chat id or an @channelname',
      received: describeValue(chatId),
    });
  }
  const parts = approversText.split(',').map((p) => p.trim());
  const bad = parts.filter((p) => !USER_ID.test(p));
  if (bad.length > 0) {
    issues.push({
      key: E.approvers,
      expected:
        'comma-separated Telegram user ids (digits, e.g. 123456789,987654321; ask @userinfobot for yours)',
      received: describeValue(bad[0]),
    });
  }
  if (apiUrl !== undefined && parseTelegramBaseUrl(apiUrl) === undefined) {
    issues.push({
      key: E.apiUrl,
      expected: 'an http(s) URL such as https://api.telegram.org',
      received: describeValue(apiUrl),
    });
  }
  let pollTimeoutSeconds: number | undefined;
  if (timeout !== undefined) {
    pollTimeoutSeconds = /^\d{1,2}$/.test(timeout) ? Number(timeout) : Number.NaN;
    if (!(pollTimeoutSeconds >= 0 && pollTimeoutSeconds <= 50)) {
      issues.push({
        key: E.pollTimeoutSeconds,
        expected: 'an integer from 0 to 50 seconds',
        received: describeValue(timeout),
      });
    }
  }
  if (issues.length > 0 || token === undefined || chatId === undefined) throw new ConfigError(issues);
  return resolveTelegramConfig({
    botToken: token,
    chatId,
    approvers: parts.map(Number),
    ...(apiUrl === undefined ? {} : { baseUrl: apiUrl }),
    ...(pollTimeoutSeconds === undefined ? {} : { pollTimeoutSeconds }),
    ...(webhookSecret === undefined ? {} : { webhookSecret }),
  });
}
