// Alerts to a Telegram chat through the Bot API's sendMessage. One sink is one chat: Telegram allows
// about one message per second per chat (https://core.telegram.org/bots/faq#my-bot-is-hitting-limits-how-do-i-avoid-this),
// so alerts that arrive while a message is being sent or during the pause wait and go out together.
// Retries go through the one retry runner (`runRetry` of ../retry.ts), paced per chat by `ChatPacer`.
import { checkUrl, describeValue } from '@sigpost/protocol';
import { readBounded } from '../bounded-body.js';
import { type ConfigIssue, OutboundConfigError } from '../errors.js';
import type { OutboundLogger } from '../logger.js';
import {
  abortableSleep,
  MAX_TIMER_MS,
  type RetryFailure,
  type RetryOptions,
  type RetrySuccess,
  resolveRetryOptions,
  runRetry,
} from '../retry.js';
import type { Alert, AlertSeverity, AlertSink } from './alert.js';

/** Telegram's limit on a message's text, in characters (UTF-16 code units, as JavaScript counts). */
export const TELEGRAM_MAX_TEXT = 4096;

/** Environment variables read by {@link TelegramAlertSink.fromEnv}. */
export const TELEGRAM_ENV = Object.freeze({
  botToken: 'SIGPOST_TELEGRAM_BOT_TOKEN',
  chatId: 'SIGPOST_TELEGRAM_CHAT_ID',
  apiUrl: 'SIGPOST_TELEGRAM_API_URL',
} as const);

const DEFAULTS = Object.freeze({
  baseUrl: 'https://api.telegram.org',
  minIntervalMs: 1000, // ms between two messages to the chat
  timeoutMs: 10_000, // ms per sendMessage request
  maxAttempts: 8, // tries per message before it is logged and given up
  title: 'Sigpost',
});

/** Alerts kept whole while waiting; beyond this they are only counted, as the message would summarise them anyway. */
const MAX_QUEUED = 200;
/** Longest text kept for one alert inside a grouped message. */
const MAX_LINE = 1000;
/** Telegram's answers are a few hundred bytes; anything past this is not read. */
const MAX_RESPONSE_BYTES = 64 * 1024;
/** Backoff after a failed request (network, 5xx): 1 s, 2 s, 4 s … capped, no jitter (one sender per chat). */
const FAILURE_BACKOFF_BASE_MS = 1000;
const FAILURE_BACKOFF_CAP_MS = 60_000;

const TOKEN_PATTERN = /^\d{1,20}:[A-Za-z0-9_-]{1,200}$/;
const CHAT_ID_PATTERN = /^(-?\d{1,20}|@[A-Za-z][A-Za-z0-9_]{3,31})$/;

const ICONS: Readonly<Record<AlertSeverity, string>> = Object.freeze({
  critical: '🚨',
  warning: '⚠️',
  resolved: '✅',
  info: 'ℹ️',
});

/** Options of {@link TelegramAlertSink}: those of its {@link TelegramBotApi}, and the chat, logger and title. */
export interface TelegramAlertSinkOptions extends TelegramBotApiOptions {
  /** The chat to write to: a numeric id (`-1001234567890`) or a public `@channelname`. */
  readonly chatId: string | number;
  /** Where failed sends are reported (the token never appears there). */
  readonly logger: OutboundLogger;
  /**
   * First word of every message, naming the sender.
   * @default 'Sigpost'
   */
  readonly title?: string;
}

type SeverityCounts = Record<AlertSeverity, number>;

const zeroCounts = (): SeverityCounts => ({ critical: 0, warning: 0, resolved: 0, info: 0 });
const total = (counts: SeverityCounts): number =>
  counts.critical + counts.warning + counts.resolved + counts.info;

/** Alerts taken off the queue for one message, and its text. */
interface Batch {
  readonly alerts: readonly Alert[];
  readonly overflow: SeverityCounts;
  readonly text: string;
}

/**
 * An {@link AlertSink} that posts to a Telegram chat with the Bot API's `sendMessage`.
 *
 * - At most one message per `minIntervalMs` (1 s); alerts arriving meanwhile are grouped into the
 *   next message, never dropped: what does not fit in Telegram's 4096 characters is summarised as a
 *   count per severity (`… and 12 more (12 critical)`).
 * - A 429 is retried after the `parameters.retry_after` Telegram asks for (and nothing is sent to the
 *   chat until then); network errors and 5xx after a growing pause; other refusals (a bad token, an
 *   unknown chat) are logged and not retried. A retry sends the alerts again together with those that
 *   arrived during the pause.
 * - {@link close} does not wait out a pause before a retry: those alerts are given up to the log.
 * - The token is never logged nor put in an error: URLs are written as `…/bot<redacted>/sendMessage`.
 *
 * @example
 * const alerts = new TelegramAlertSink({ botToken, chatId: -1001234567890, logger });
 * alerts.send({ kind: 'custom', severity: 'warning', text: 'disk almost full', at: Date.now() });
 * await alerts.close();
 * @see docs/outbox.md#alerts
 */
export class TelegramAlertSink implements AlertSink {
  readonly #api: TelegramBotApi;
  readonly #pacer: ChatPacer;
  readonly #chatId: string | number;
  readonly #logger: OutboundLogger;
  readonly #title: string;
  /** The chat's turn: raised after each message, and by the pause before a retry (a 429 holds every send). */
  readonly #chat: ChatTurn = { notBefore: Number.NEGATIVE_INFINITY };
  /** Aborted by {@link close}: ends a pause before a retry, and refuses further alerts. */
  readonly #closing = new AbortController();

  #queue: Alert[] = [];
  #overflow: SeverityCounts = zeroCounts();
  #pumping: Promise<void> | undefined;

  constructor(options: TelegramAlertSinkOptions) {
    const { botToken, chatId } = options;
    checkBotToken(botToken);
    if (!isValidChatId(chatId)) {
      throw new TypeError(
        `Expected \`chatId\` to be a numeric chat id or an @channelname, received ${describeValue(chatId)}`,
      );
    }
    this.#api = new TelegramBotApi({
      botToken,
      ...(options.baseUrl === undefined ? {} : { baseUrl: options.baseUrl }),
      ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
      ...(options.fetch === undefined ? {} : { fetch: options.fetch }),
    });
    this.#pacer = new ChatPacer(options);
    this.#chatId = chatId;
    this.#logger = options.logger;
    this.#title = options.title ?? DEFAULTS.title;
  }

  /**
   * A sink configured from `SIGPOST_TELEGRAM_BOT_TOKEN`, `SIGPOST_TELEGRAM_CHAT_ID` and (optional)
   * `SIGPOST_TELEGRAM_API_URL`; `undefined` when neither the token nor the chat id is set.
   *
   * @throws {OutboundConfigError} only one of the two is set, or a value is malformed (every problem at once)
   * @example
   * const alerts = TelegramAlertSink.fromEnv(process.env, { logger });
   */
  static fromEnv(
    env: Readonly<Record<string, string | undefined>> = process.env,
    options: Omit<TelegramAlertSinkOptions, 'botToken' | 'chatId' | 'baseUrl'>,
  ): TelegramAlertSink | undefined {
    const token = nonEmpty(env[TELEGRAM_ENV.botToken]);
    const chatId = nonEmpty(env[TELEGRAM_ENV.chatId]);
    const apiUrl = nonEmpty(env[TELEGRAM_ENV.apiUrl]);
    if (token === undefined && chatId === undefined) return undefined;
    const issues: ConfigIssue[] = [];
    // Each of the pair: missing while the other is set, or malformed (the token by its length only).
    const pair = [
      {
        key: TELEGRAM_ENV.botToken,
        value: token,
        other: TELEGRAM_ENV.chatId,
        pattern: TOKEN_PATTERN,
        name: 'a bot token',
        expected: 'a bot token: digits, ":", then letters, digits, - or _',
        received: (v: string) => `${v.length} characters`,
      },
      {
        key: TELEGRAM_ENV.chatId,
        value: chatId,
        other: TELEGRAM_ENV.botToken,
        pattern: CHAT_ID_PATTERN,
        name: 'a chat id',
        expected: 'a numeric chat id or an @channelname',
        received: (v: string) => JSON.stringify(v.slice(0, 40)),
      },
    ];
    for (const { key, value, other, pattern, name, expected, received } of pair) {
      if (value === undefined) {
        issues.push({ key, code: 'required', expected: `${name} (${other} is set)`, received: 'nothing' });
      } else if (!pattern.test(value)) {
        issues.push({ key, code: 'invalid_value', expected, received: received(value) });
      }
    }
    if (apiUrl !== undefined && tryParseBaseUrl(apiUrl) === undefined) {
      issues.push({
        key: TELEGRAM_ENV.apiUrl,
        code: 'invalid_value',
        expected: 'an http(s) URL such as https://api.telegram.org',
        received: JSON.stringify(apiUrl.slice(0, 80)),
      });
    }
    if (issues.length > 0 || token === undefined || chatId === undefined)
      throw new OutboundConfigError(issues);
    return new TelegramAlertSink({
      ...options,
      botToken: token,
      chatId,
      ...(apiUrl === undefined ? {} : { baseUrl: apiUrl }),
    });
  }

  /** Queues `alert` and returns at once; it goes out with the next message. */
  send(alert: Alert): void {
    if (this.#closing.signal.aborted) {
      this.#logger.warn(
        { alert_kind: alert.kind, alert_severity: alert.severity },
        'telegram alert not sent: the sink is closed',
      );
      return;
    }
    if (this.#queue.length < MAX_QUEUED) this.#queue.push(alert);
    else this.#overflow[alert.severity] += 1;
    this.#startPump();
  }

  /** Resolves once every queued alert has been sent or given up on. */
  async flush(): Promise<void> {
    while (this.#pumping !== undefined) await this.#pumping;
  }

  /**
   * Refuses further alerts (they are logged at warn level instead) and flushes: queued alerts are
   * still sent, but a failed send is no longer retried, and a pause before a retry (a 429's
   * `retry_after`, a backoff) ends at once; those alerts are given up to the log at error level.
   */
  async close(): Promise<void> {
    this.#closing.abort();
    await this.flush();
  }

  /** The sendMessage URL with the token replaced, for logs and messages. */
  get redactedUrl(): string {
    return this.#api.redactedUrl('sendMessage');
  }

  #startPump(): void {
    if (this.#pumping !== undefined) return;
    let failed = false;
    this.#pumping = this.#pump()
      .catch((error: unknown) => {
        failed = true;
        // Only an injected clock or sleep can throw here; alerting must still never break delivery.
        this.#logger.error(
          { error_message: this.#api.redact(describeError(error)) },
          'telegram alert sink failed',
        );
      })
      .finally(() => {
        this.#pumping = undefined;
        // An alert queued between the pump's last check and this callback still needs a pump.
        if (!failed && (this.#queue.length > 0 || total(this.#overflow) > 0)) this.#startPump();
      });
  }

  async #pump(): Promise<void> {
    while (this.#queue.length > 0 || total(this.#overflow) > 0) {
      let batch: Batch | undefined;
      /** The batch went back to the queue for a retry (it is merged there with newer alerts). */
      let requeued = false;
      const { result, aborted } = await this.#pacer.call(
        this.#chat,
        () => {
          // Taken at each try, after the chat's pause: alerts that arrived meanwhile join a retry.
          batch = this.#take();
          requeued = false;
          return this.#api.request('sendMessage', { chat_id: this.#chatId, text: batch.text });
        },
        {
          signal: this.#closing.signal,
          onRetry: (failure, attempt, delayMs) => {
            const { alerts, overflow } = batch!;
            this.#requeue(alerts, overflow);
            requeued = true;
            this.#logger.warn(
              {
                http_code: failure.httpCode,
                delay_ms: delayMs,
                attempt,
                alert_count: alerts.length + total(overflow),
              },
              `telegram alert not sent yet: ${failure.message}; trying again`,
            );
          },
        },
      );
      if (result.ok) continue;
      // Given up: the alerts go to the log instead, so they are still on record somewhere. Closed during
      // the pause before a retry: what waited for it (the batch, and newer alerts) goes with it.
      const given = requeued ? this.#take() : batch!;
      this.#logger.error(
        {
          http_code: result.httpCode,
          alert_count: given.alerts.length + total(given.overflow),
          alert_text: given.text,
        },
        `telegram alert given up: ${result.message}${aborted ? '; not retried: the sink is closed' : ''}`,
      );
    }
  }

  /** Everything queued, as one message. */
  #take(): Batch {
    const alerts = this.#queue;
    const overflow = this.#overflow;
    this.#queue = [];
    this.#overflow = zeroCounts();
    return { alerts, overflow, text: renderAlertMessage(this.#title, alerts, overflow) };
  }

  #requeue(alerts: readonly Alert[], overflow: SeverityCounts): void {
    const merged = [...alerts, ...this.#queue];
    this.#queue = merged.slice(0, MAX_QUEUED);
    for (const alert of merged.slice(MAX_QUEUED)) overflow[alert.severity] += 1;
    for (const severity of Object.keys(overflow) as AlertSeverity[]) {
      this.#overflow[severity] += overflow[severity];
    }
  }
}

/** Options of {@link TelegramBotApi}. */
export interface TelegramBotApiOptions {
  /** The bot's token (`123456789:AA…`). Never logged; URLs that carry it are redacted. */
  readonly botToken: string;
  /** The Bot API's base URL. @default 'https://api.telegram.org' */
  readonly baseUrl?: string;
  /** Least time between two calls to one chat (the sink's messages, {@link TelegramBotApi.callChat}), in ms. @default 1000 */
  readonly minIntervalMs?: number;
  /** Timeout of one request, in ms (a long poll adds its own `timeout` to it). @default 10_000 */
  readonly timeoutMs?: number;
  /**
   * Tries per call (network errors, 5xx, 429) before it is given up: `callChat` returns the failure,
   * the sink logs the message at error level. @default 8
   */
  readonly maxAttempts?: number;
  /** The fetch implementation (`globalThis.fetch` by default; undici's `fetch` fits). */
  readonly fetch?: typeof fetch;
  /** Epoch ms now. @default Date.now */
  readonly clock?: () => number;
  /**
   * Waits `ms`. A pause before a retry also ends when `signal` aborts (the sink is closed, `callChat`'s
   * signal), whether or not this function heeds it. @default setTimeout of node:timers/promises
   */
  readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

/** What one Bot API call gave: Telegram's `result`, or why it failed (the token never appears in `message`). */
export type BotApiResult<T> =
  | { readonly ok: true; readonly result: T }
  | {
      readonly ok: false;
      /** Worth trying again later: a network error, a timeout, a 5xx. */
      readonly transient: boolean;
      readonly httpCode: number | undefined;
      /** Set on a 429: how long Telegram asked to wait (its `parameters.retry_after`), in ms. */
      readonly retryAfterMs: number | undefined;
      /** Telegram's `description`, when it sent one (at most 300 characters). */
      readonly description: string | undefined;
      /** `POST …/bot<redacted>/<method> failed …`, for logs. */
      readonly message: string;
    };

type BotApiFailure = Extract<BotApiResult<never>, { ok: false }>;

/**
 * The one Bot API client of Sigpost: JSON POSTs to `<baseUrl>/bot<token>/<method>`, answers read up to
 * 64 KiB, the token redacted from every message. {@link TelegramAlertSink} posts its alerts with it;
 * the ingest server's approval bot sends, edits and polls with it.
 *
 * - {@link request}: one attempt, no waiting (long polls, callers that keep their own pace).
 * - {@link callChat}: calls to one chat run one at a time, at most one per `minIntervalMs` (Telegram's
 *   limit is about one message per second per chat); a 429 is tried again after the
 *   `parameters.retry_after` Telegram asks for (and the chat waits that long), network errors and
 *   5xx after a growing pause, up to `maxAttempts`; other refusals are returned at once.
 *
 * @example
 * const api = new TelegramBotApi({ botToken });
 * const sent = await api.callChat(chatId, 'sendMessage', { chat_id: chatId, text: 'hello' });
 */
export class TelegramBotApi {
  readonly #token: string;
  readonly #baseUrl: string;
  readonly #timeoutMs: number;
  readonly #fetch: typeof fetch;
  readonly #pacer: ChatPacer;
  /** Per chat: when its next call may start, and the tail of its queue of calls. */
  readonly #chats = new Map<string, ChatTurn & { tail: Promise<unknown> }>();

  constructor(options: TelegramBotApiOptions) {
    this.#token = checkBotToken(options.botToken);
    this.#baseUrl = parseBaseUrl(options.baseUrl ?? DEFAULTS.baseUrl, '`baseUrl`');
    this.#pacer = new ChatPacer(options);
    this.#timeoutMs = checkNonNegative('timeoutMs', options.timeoutMs ?? DEFAULTS.timeoutMs);
    this.#fetch = options.fetch ?? globalThis.fetch;
  }

  /** The URL of `method` with the token replaced, for logs and messages. */
  redactedUrl(method: string): string {
    return `${this.#baseUrl}/bot<redacted>/${method}`;
  }

  /** Removes the token from `text` (an error message that may quote a URL). */
  redact(text: string): string {
    return text.split(this.#token).join('<redacted>');
  }

  /**
   * One POST of `params` as JSON to `method`; never throws for a network or HTTP failure.
   * `extraTimeoutMs` lengthens the request timeout (a long poll's `timeout`); `signal` aborts it.
   */
  async request<T>(
    method: string,
    params: object,
    options: { readonly extraTimeoutMs?: number; readonly signal?: AbortSignal } = {},
  ): Promise<BotApiResult<T>> {
    const where = `POST ${this.redactedUrl(method)}`;
    const timeout = AbortSignal.timeout(this.#timeoutMs + (options.extraTimeoutMs ?? 0));
    let response: Response;
    try {
      response = await this.#fetch(`${this.#baseUrl}/bot${this.#token}/${method}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(params),
        signal: options.signal === undefined ? timeout : AbortSignal.any([timeout, options.signal]),
      });
    } catch (error) {
      return failure(
        true,
        undefined,
        undefined,
        undefined,
        this.redact(`${where} failed: ${describeError(error)}`),
      );
    }
    let answer: TelegramAnswer | undefined;
    try {
      const body = response.body;
      const text = body === null ? '' : await readBounded(body, MAX_RESPONSE_BYTES, () => body.cancel());
      answer = text === undefined ? undefined : parseAnswer(text);
    } catch (error) {
      return failure(
        true,
        response.status,
        undefined,
        undefined,
        this.redact(`${where} failed reading the answer: ${describeError(error)}`),
      );
    }
    if (response.ok && answer?.ok === true) return { ok: true, result: answer.result as T };
    const status = response.status;
    const retryAfterSeconds = answer?.parameters?.retry_after;
    const retryAfterMs =
      status === 429 || answer?.error_code === 429
        ? (typeof retryAfterSeconds === 'number' && retryAfterSeconds >= 0 ? retryAfterSeconds : 1) * 1000
        : undefined;
    const description =
      typeof answer?.description === 'string' ? answer.description.slice(0, 300) : undefined;
    return failure(
      status >= 500 || status === 408,
      status,
      retryAfterMs,
      description,
      this.redact(`${where} failed with ${status}${description === undefined ? '' : `: ${description}`}`),
    );
  }

  /**
   * `method` for chat `chatId`, in turn with the chat's other calls and at its pace, tried again on a
   * 429 (after `retry_after`), a network error or a 5xx, up to `maxAttempts`. `onRetry` hears of each
   * retry (for a log line); once `signal` is aborted no further try is made (a shutdown does not wait
   * out a long `retry_after`). Returns the last failure when it gives up.
   */
  callChat<T>(
    chatId: string | number,
    method: string,
    params: object,
    options: {
      readonly onRetry?: (
        failure: Extract<BotApiResult<T>, { ok: false }>,
        attempt: number,
        delayMs: number,
      ) => void;
      readonly signal?: AbortSignal;
    } = {},
  ): Promise<BotApiResult<T>> {
    const key = String(chatId);
    let chat = this.#chats.get(key);
    if (chat === undefined) {
      chat = { notBefore: Number.NEGATIVE_INFINITY, tail: Promise.resolve() };
      this.#chats.set(key, chat);
    }
    const state = chat;
    const run = async () =>
      (await this.#pacer.call(state, () => this.request<T>(method, params), options)).result;
    const next = state.tail.then(run, run);
    state.tail = next.catch(() => undefined);
    return next;
  }
}

/** When the next call to a chat may start (epoch ms). */
interface ChatTurn {
  notBefore: number;
}

/** A failed Bot API call, thrown inside a retry run: the runner reads its classification and `retryAfterMs`. */
class BotApiCallError extends Error {
  override readonly name = 'BotApiCallError';
  readonly failure: BotApiFailure;
  /** A network error, a timeout, a 5xx or a 429. */
  readonly retryable: boolean;
  /** A 429's `retry_after`, honoured exactly (never jittered). */
  readonly retryAfterMs: number | undefined;

  constructor(failure: BotApiFailure) {
    super(failure.message);
    this.failure = failure;
    this.retryable = failure.transient || failure.retryAfterMs !== undefined;
    this.retryAfterMs = failure.retryAfterMs;
  }
}

const isRetryableCall = (error: unknown): boolean => error instanceof BotApiCallError && error.retryable;

/**
 * Pace and retries of the calls to one chat, for {@link TelegramBotApi.callChat} and the alert sink.
 * Each try waits for the chat's turn (`notBefore`) and then holds the chat for `minIntervalMs`. A
 * failure worth another try goes through `runRetry`, without jitter: after a 429's `retry_after`
 * exactly, else 1 s, 2 s, 4 s … up to 60 s, at most `maxAttempts` tries. That pause moves the chat's
 * `notBefore` (nothing is sent to the chat meanwhile) and ends early when `signal` aborts: the call then
 * gives up with the failure that led to it (`aborted`). The first try is always made.
 */
class ChatPacer {
  readonly #minIntervalMs: number;
  readonly #retry: RetryOptions;
  readonly #clock: () => number;
  readonly #sleep: (ms: number, signal?: AbortSignal) => Promise<void>;

  constructor(options: Pick<TelegramBotApiOptions, 'minIntervalMs' | 'maxAttempts' | 'clock' | 'sleep'>) {
    this.#minIntervalMs = checkNonNegative('minIntervalMs', options.minIntervalMs ?? DEFAULTS.minIntervalMs);
    const maxAttempts = checkNonNegative('maxAttempts', options.maxAttempts ?? DEFAULTS.maxAttempts);
    if (!Number.isInteger(maxAttempts) || maxAttempts < 1) {
      throw new RangeError('Expected `maxAttempts` to be an integer ≥ 1');
    }
    this.#retry = resolveRetryOptions({
      limit: maxAttempts,
      baseDelayMs: FAILURE_BACKOFF_BASE_MS,
      maxDelayMs: FAILURE_BACKOFF_CAP_MS,
      maxRetryAfterMs: MAX_TIMER_MS, // Telegram's retry_after as asked (setTimeout cannot wait longer)
      deadlineMs: undefined,
    });
    this.#clock = options.clock ?? Date.now;
    this.#sleep = options.sleep ?? abortableSleep;
  }

  async call<T>(
    chat: ChatTurn,
    send: () => Promise<BotApiResult<T>>,
    options: {
      readonly onRetry?: ((failure: BotApiFailure, attempt: number, delayMs: number) => void) | undefined;
      readonly signal?: AbortSignal | undefined;
    },
  ): Promise<{ readonly result: BotApiResult<T>; readonly aborted: boolean }> {
    const { onRetry, signal } = options;
    let last: BotApiFailure | undefined;
    let run: RetrySuccess<BotApiResult<T>> | RetryFailure;
    try {
      run = await runRetry(
        async () => {
          const wait = chat.notBefore - this.#clock();
          if (wait > 0) await this.#sleep(wait);
          chat.notBefore = this.#clock() + this.#minIntervalMs;
          const result = await send();
          if (!result.ok) throw new BotApiCallError(result);
          return result;
        },
        {
          retry: this.#retry,
          clock: this.#clock,
          jitter: 'none',
          isRetryable: isRetryableCall,
          onFailure: ({ error, attempt, decision }) => {
            if (!(error instanceof BotApiCallError)) return;
            last = error.failure;
            if (decision.retry && signal?.aborted !== true) onRetry?.(last, attempt, decision.delayMs);
          },
          // The pause holds the whole chat: its other calls (and the sink's next message) wait too.
          sleep: (ms) => {
            chat.notBefore = Math.max(chat.notBefore, this.#clock() + ms);
            return this.#pause(chat.notBefore - this.#clock(), signal);
          },
        },
      );
    } catch (error) {
      // `signal` ended the pause before a retry: give up with the failure that led to it.
      if (signal?.aborted === true && last !== undefined) return { result: last, aborted: true };
      throw error;
    }
    if (run.ok) return { result: run.value, aborted: false };
    if (run.error instanceof BotApiCallError) return { result: run.error.failure, aborted: false };
    throw run.error; // an injected clock or sleep that threw
  }

  /** Waits `ms`, or rejects with `signal.reason` as soon as it aborts (an injected sleep may not heed it). */
  #pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
    if (signal === undefined) return ms > 0 ? this.#sleep(ms) : Promise.resolve();
    if (signal.aborted) return Promise.reject(signal.reason);
    if (ms <= 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const abort = () => reject(signal.reason);
      signal.addEventListener('abort', abort, { once: true });
      this.#sleep(ms, signal)
        .then(resolve, reject)
        .finally(() => signal.removeEventListener('abort', abort));
    });
  }
}

/** `value` as a bot token, or a TypeError naming its length (never its value). */
function checkBotToken(value: unknown): string {
  if (typeof value !== 'string' || !TOKEN_PATTERN.test(value)) {
    const received = typeof value === 'string' ? `${value.length} characters` : typeof value;
    throw new TypeError(
      `Expected \`botToken\` to be a Telegram bot token (digits, ":", then letters, digits, - or _), received ${received}`,
    );
  }
  return value;
}

function failure(
  transient: boolean,
  httpCode: number | undefined,
  retryAfterMs: number | undefined,
  description: string | undefined,
  message: string,
): Extract<BotApiResult<never>, { ok: false }> {
  return { ok: false, transient, httpCode, retryAfterMs, description, message };
}

/**
 * The text of one Telegram message for `alerts` (and `overflow`, alerts counted but not kept), at most
 * {@link TELEGRAM_MAX_TEXT} characters. One alert: `🚨 Sigpost: text`; several: a header line, one line
 * per alert, then `… and N more (…)` for what did not fit.
 */
export function renderAlertMessage(
  title: string,
  alerts: readonly Alert[],
  overflow: Readonly<SeverityCounts> = zeroCounts(),
): string {
  const only = alerts[0];
  if (alerts.length === 1 && only !== undefined && total(overflow) === 0) {
    return truncate(`${ICONS[only.severity]} ${title}: ${only.text}`, TELEGRAM_MAX_TEXT);
  }
  const rest: SeverityCounts = { ...overflow };
  const count = alerts.length + total(overflow);
  const lines = [`${title}: ${count} alerts`];
  // Room kept for the summary line, so it always fits.
  const budget = TELEGRAM_MAX_TEXT - 120;
  let length = lines[0]!.length;
  for (const alert of alerts) {
    const line = truncate(`${ICONS[alert.severity]} ${alert.text.replaceAll('\n', ' ')}`, MAX_LINE);
    if (length + 1 + line.length > budget) {
      rest[alert.severity] += 1;
      continue;
    }
    lines.push(line);
    length += 1 + line.length;
  }
  const more = total(rest);
  if (more > 0) {
    const parts = (Object.keys(rest) as AlertSeverity[])
      .filter((s) => rest[s] > 0)
      .map((s) => `${rest[s]} ${s}`)
      .join(', ');
    lines.push(`… and ${more} more (${parts})`);
  }
  return lines.join('\n');
}

/** Cuts `text` to `max` characters with a trailing `…`, never inside a surrogate pair. */
function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  let cut = max - 1;
  const code = text.charCodeAt(cut - 1);
  if (code >= 0xd800 && code <= 0xdbff) cut -= 1;
  return `${text.slice(0, cut)}…`;
}

interface TelegramAnswer {
  readonly ok?: unknown;
  readonly result?: unknown;
  readonly error_code?: unknown;
  readonly description?: unknown;
  readonly parameters?: { readonly retry_after?: unknown } | undefined;
}

function parseAnswer(text: string): TelegramAnswer | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null ? (value as TelegramAnswer) : undefined;
  } catch {
    return undefined;
  }
}

function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause as { code?: unknown; message?: unknown } | undefined;
  const detail =
    typeof cause?.code === 'string' ? cause.code : typeof cause?.message === 'string' ? cause.message : '';
  return detail ? `${error.message} (${detail})` : error.message;
}

/** Whether `value` has the shape of a bot token (digits, ":", then letters, digits, - or _). */
export function isTelegramBotToken(value: unknown): value is string {
  return typeof value === 'string' && TOKEN_PATTERN.test(value);
}

/** Whether `value` is a numeric chat id (`-1001234567890`) or an `@channelname`. */
export function isTelegramChatId(value: unknown): value is string | number {
  return isValidChatId(value);
}

/** `text` as a Bot API base URL (http(s), no query, credentials or trailing slash), or undefined. */
export function parseTelegramBaseUrl(text: string): string | undefined {
  return tryParseBaseUrl(text);
}

function isValidChatId(value: unknown): value is string | number {
  if (typeof value === 'number') return Number.isSafeInteger(value);
  return typeof value === 'string' && CHAT_ID_PATTERN.test(value);
}

function tryParseBaseUrl(text: string): string | undefined {
  const checked = checkUrl(text, { schemes: ['http:', 'https:'] });
  return checked.ok ? checked.url.href.replace(/\/+$/, '') : undefined;
}

function parseBaseUrl(text: unknown, name: string): string {
  const parsed = typeof text === 'string' ? tryParseBaseUrl(text) : undefined;
  if (parsed === undefined) {
    throw new TypeError(
      `Expected ${name} to be an http(s) URL without query or credentials, received ${describeValue(text)}`,
    );
  }
  return parsed;
}

function checkNonNegative(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new RangeError(`Expected \`${name}\` to be a finite number ≥ 0, received ${describeValue(value)}`);
  }
  return value;
}

function nonEmpty(value: string | undefined): string | undefined {
  const trimmed = value?.trim();
  return trimmed === undefined || trimmed === '' ? undefined : trimmed;
}
