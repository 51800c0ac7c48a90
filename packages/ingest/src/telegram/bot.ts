// The Telegram approval bot: pending signals go to the operators' chat with Approve / Reject buttons;
// a press decides the signal like the operator API does (channel `telegram`). With several servers on
// one database, only the holder of the `telegram` lease in the store talks to Telegram.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { hostname } from 'node:os';
import { setTimeout as delay } from 'node:timers/promises';
import { type BotApiResult, TelegramBotApi } from '@sigpost/outbound/alerts';
import type { FastifyBaseLogger } from 'fastify';
import type { Clock } from '../clock.js';
import type { DecisionChannel, SignalRecord, Store, StreamEvent } from '../store/store.js';
import type { TelegramApprovalConfig } from './config.js';
import { approvalKeyboard, parseCallbackData, renderDecided, renderSignal } from './render.js';

/** The lease's name in the store. */
export const TELEGRAM_LEASE = 'telegram';
/** Stream events read per round of the sending loop. */
const EVENTS_PER_READ = 100;
/** The sending loop looks for new events at least this often even without a notification, in ms. */
const IDLE_CHECK_MS = 5_000;
/** Pause after a failed getUpdates (not a 429, which says how long): 1 s doubling to 30 s. */
const POLL_BACKOFF_MS = 1_000;
const POLL_BACKOFF_CAP_MS = 30_000;

type Logger = Pick<FastifyBaseLogger, 'info' | 'warn' | 'error' | 'debug'>;

/** Options of {@link TelegramApprovals}. */
export interface TelegramApprovalsOptions {
  readonly store: Store;
  readonly config: TelegramApprovalConfig;
  readonly logger: Logger;
  /** @default the system wall clock */
  readonly clock?: Clock;
  /** This server's name in the lease. @default `<hostname>:<pid>:<random>` */
  readonly holder?: string;
  /** The fetch implementation given to the Bot API client. */
  readonly fetch?: typeof fetch;
}

interface TelegramUser {
  readonly id: number;
  readonly username?: string;
  readonly first_name?: string;
}

interface CallbackQuery {
  readonly id: string;
  readonly from: TelegramUser;
  readonly data?: unknown;
  readonly message?: { readonly message_id: number; readonly chat: { readonly id: number | string } };
}

/**
 * Sends an approval message for each pending signal, reads button presses (getUpdates long
 * polling), and applies them. `start()` begins competing for the lease; `stop()` ends every loop,
 * aborts the long poll and gives the lease up so another server takes over at once.
 *
 * - A signal's message is sent at most once, across restarts and servers: it is claimed in the
 *   store (`telegram_messages`) before sendMessage, and the sending loop resumes from the stream
 *   cursor it stores after each event.
 * - Updates are acknowledged by the getUpdates offset, kept in the store so a server taking over the
 *   lease goes on where the previous one stopped.
 * - Only users on `config.approvers` may decide; others get an answer saying so and nothing changes.
 *
 * @example
 * const bot = new TelegramApprovals({ store, config: readTelegramEnv()!, logger });
 * bot.start();
 * await bot.stop();
 */
export class TelegramApprovals {
  readonly holder: string;
  readonly #store: Store;
  readonly #config: TelegramApprovalConfig;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #api: TelegramBotApi;
  readonly #approvers: ReadonlySet<number>;
  /** SHA-256 of the webhook secret (compared digest to digest: no length leaks), or undefined when polling. */
  readonly #webhookDigest: Buffer | undefined;
  readonly #stop = new AbortController();
  #running: Promise<void> | undefined;
  /** Aborts the work of one term as lease holder. */
  #term: AbortController | undefined;
  #work: Promise<unknown> | undefined;
  #wake: (() => void) | undefined;

  constructor(options: TelegramApprovalsOptions) {
    this.#store = options.store;
    this.#config = options.config;
    this.#log = options.logger;
    this.#clock = options.clock ?? { now: () => Date.now() };
    this.holder = options.holder ?? `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
    this.#approvers = new Set(options.config.approvers);
    this.#webhookDigest =
      options.config.webhookSecret === undefined ? undefined : sha256(options.config.webhookSecret);
    this.#api = new TelegramBotApi({
      botToken: options.config.botToken,
      baseUrl: options.config.baseUrl,
      minIntervalMs: options.config.minIntervalMs,
      ...(options.fetch === undefined ? {} : { fetch: options.fetch }),
    });
  }

  /** Whether this server holds the lease now (it sends and polls). */
  get active(): boolean {
    return this.#term !== undefined;
  }

  /** Whether updates come by webhook (then no server polls). */
  get webhook(): boolean {
    return this.#webhookDigest !== undefined;
  }

  /** Whether `header` (X-Telegram-Bot-Api-Secret-Token) is the configured webhook secret, compared in constant time. */
  acceptsWebhookSecret(header: unknown): boolean {
    if (this.#webhookDigest === undefined || typeof header !== 'string' || header === '') return false;
    return timingSafeEqual(sha256(header), this.#webhookDigest);
  }

  /** Starts competing for the lease; idempotent. */
  start(): void {
    this.#running ??= this.#leaseLoop().catch((error: unknown) => {
      this.#log.error({ err: error }, 'telegram approvals stopped after an unexpected error');
    });
  }

  /** Stops polling and sending, waits for the update or event in hand, and releases the lease. */
  async stop(): Promise<void> {
    this.#stop.abort();
    await this.#running;
  }

  async #leaseLoop(): Promise<void> {
    const stop = this.#stop.signal;
    const renewEvery = Math.max(100, Math.floor(this.#config.leaseTtlMs / 3));
    let renewedAt = Number.NEGATIVE_INFINITY;
    while (!stop.aborted) {
      let held = false;
      const now = Math.floor(this.#clock.now());
      try {
        held = await this.#store.telegram.acquireLease(
          TELEGRAM_LEASE,
          this.holder,
          now,
          this.#config.leaseTtlMs,
        );
        if (held) renewedAt = now;
      } catch (error) {
        // The store is unreachable: keep working while the lease surely still runs, not after.
        held = this.#term !== undefined && now - renewedAt < this.#config.leaseTtlMs - renewEvery;
        this.#log.warn({ err: error }, 'telegram lease could not be renewed; trying again');
      }
      if (held && this.#term === undefined) this.#beginTerm();
      else if (!held && this.#term !== undefined) {
        this.#log.warn({ holder: this.holder }, 'telegram lease lost: another server now talks to Telegram');
        await this.#endTerm();
      }
      await delay(renewEvery, undefined, { signal: stop }).catch(() => undefined);
    }
    if (this.#term !== undefined) {
      await this.#endTerm();
      await this.#store.telegram.releaseLease(TELEGRAM_LEASE, this.holder).catch((error: unknown) => {
        this.#log.warn({ err: error }, 'telegram lease not released; it expires on its own');
      });
    }
  }

  #beginTerm(): void {
    const term = new AbortController();
    this.#term = term;
    this.#log.info(
      { holder: this.holder },
      'telegram lease taken: this server sends approvals and polls updates',
    );
    this.#work = Promise.all([
      this.#sendLoop(term.signal).catch((error: unknown) =>
        this.#log.error({ err: error }, 'telegram sending loop failed'),
      ),
      // With a webhook, Telegram posts the updates to every server behind the URL: nobody polls.
      this.webhook
        ? undefined
        : this.#pollLoop(term.signal).catch((error: unknown) =>
            this.#log.error({ err: error }, 'telegram polling loop failed'),
          ),
    ]);
  }

  async #endTerm(): Promise<void> {
    this.#term?.abort();
    this.#wake?.();
    await this.#work;
    this.#term = undefined;
    this.#work = undefined;
  }

  // Sending: one message per pending signal, edits for decisions taken elsewhere.

  async #sendLoop(signal: AbortSignal): Promise<void> {
    const store = this.#store;
    let cursor = await store.telegram.getCursor('events');
    let pending = true;
    const unwatch = store.watchEvents(() => {
      pending = true;
      this.#wake?.();
    });
    try {
      while (!signal.aborted) {
        if (!pending) {
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, IDLE_CHECK_MS);
            this.#wake = () => {
              clearTimeout(timer);
              resolve();
            };
          });
          this.#wake = undefined;
          continue;
        }
        pending = false;
        let events: StreamEvent[];
        try {
          events = await store.readEvents(cursor, EVENTS_PER_READ);
        } catch (error) {
          this.#log.warn({ err: error }, 'telegram: reading the stream failed; trying again');
          await delay(1_000, undefined, { signal }).catch(() => undefined);
          pending = true;
          continue;
        }
        try {
          for (const event of events) {
            if (signal.aborted) return;
            await this.#onEvent(event);
            cursor = event.seq;
            await store.telegram.advanceCursor('events', cursor);
          }
        } catch (error) {
          // The store failed mid-event: that event is handled again (its message is claimed once).
          this.#log.warn({ err: error }, 'telegram: handling a stream event failed; trying again');
          await delay(1_000, undefined, { signal }).catch(() => undefined);
          pending = true;
          continue;
        }
        if (events.length === EVENTS_PER_READ) pending = true;
      }
    } finally {
      unwatch();
    }
  }

  async #onEvent(event: StreamEvent): Promise<void> {
    const { signal } = event;
    if (event.channel === null) {
      if (signal.status === 'pending_approval') await this.#sendApproval(signal.id);
      return;
    }
    // A press in Telegram: the server that applied it edits the message itself.
    if (event.channel === 'telegram') return;
    // A decision taken elsewhere: the message (if any, and still showing its buttons) now shows who decided.
    const message = await this.#store.telegram.getMessage(signal.id);
    if (message?.state !== 'sent' || message.closedAt !== null || message.messageId === null) return;
    await this.#showDecision(message.chatId, message.messageId, signal, event.channel);
  }

  async #sendApproval(signalId: string): Promise<void> {
    const store = this.#store;
    // Catching up on old events: a signal decided meanwhile needs no message.
    const signal = await store.getSignal(signalId);
    if (signal?.status !== 'pending_approval') return;
    const chatId = this.#config.chatId;
    if (!(await store.telegram.claimMessage(signalId, chatId, Math.floor(this.#clock.now())))) return;
    const sent = await this.#api.callChat<{ message_id: number }>(
      chatId,
      'sendMessage',
      { chat_id: chatId, text: renderSignal(signal), reply_markup: approvalKeyboard(signalId) },
      {
        signal: this.#stop.signal,
        onRetry: (failure, attempt, delayMs) =>
          this.#log.warn(
            { signal_id: signalId, http_code: failure.httpCode, attempt, delay_ms: delayMs },
            `telegram approval message not sent yet: ${failure.message}; trying again`,
          ),
      },
    );
    if (sent.ok && Number.isSafeInteger(sent.result?.message_id)) {
      await store.telegram.finishMessage(signalId, { messageId: sent.result.message_id });
      this.#log.info({ signal_id: signalId }, 'telegram approval message sent');
    } else {
      await store.telegram.finishMessage(signalId, 'failed');
      this.#log.error(
        { signal_id: signalId, http_code: sent.ok ? undefined : sent.httpCode },
        `telegram approval message given up: ${sent.ok ? 'the answer had no message_id' : sent.message}`,
      );
    }
  }

  async #showDecision(
    chatId: string | number,
    messageId: number,
    signal: SignalRecord,
    channel: DecisionChannel | null,
  ): Promise<void> {
    const edited = await this.#api.callChat(
      chatId,
      'editMessageText',
      { chat_id: chatId, message_id: messageId, text: renderDecided(signal, channel) },
      { signal: this.#stop.signal },
    );
    // "message is not modified": it already shows this decision.
    if (edited.ok || edited.description?.includes('message is not modified')) {
      await this.#store.telegram.closeMessage(signal.id, Math.floor(this.#clock.now()));
      return;
    }
    this.#log.warn(
      { signal_id: signal.id, http_code: edited.httpCode },
      `telegram message not edited: ${edited.message}`,
    );
  }

  // Polling: button presses.

  async #pollLoop(signal: AbortSignal): Promise<void> {
    const store = this.#store;
    let offset = await store.telegram.getCursor('updates');
    let failures = 0;
    const timeout = this.#config.pollTimeoutSeconds;
    while (!signal.aborted) {
      const answer = await this.#api.request<unknown[]>(
        'getUpdates',
        { offset, timeout, allowed_updates: ['callback_query'] },
        { extraTimeoutMs: timeout * 1000, signal },
      );
      if (signal.aborted) return;
      if (!answer.ok) {
        failures += 1;
        const pause =
          answer.retryAfterMs ?? Math.min(POLL_BACKOFF_CAP_MS, POLL_BACKOFF_MS * 2 ** (failures - 1));
        const hint =
          answer.httpCode === 409
            ? ' (a webhook is set for this bot, or another program polls it: remove the webhook with deleteWebhook, or stop the other poller)'
            : '';
        this.#log.warn(
          { http_code: answer.httpCode, delay_ms: pause },
          `telegram getUpdates failed: ${answer.message}${hint}`,
        );
        await delay(pause, undefined, { signal }).catch(() => undefined);
        continue;
      }
      failures = 0;
      const updates = Array.isArray(answer.result) ? answer.result : [];
      for (const update of updates) {
        const id = (update as { update_id?: unknown } | null)?.update_id;
        if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < offset) continue;
        try {
          await this.handleUpdate(update);
          offset = id + 1;
          await store.telegram.advanceCursor('updates', offset);
        } catch (error) {
          // Asked for again from the same offset (a decided signal is answered as already decided).
          this.#log.warn({ err: error }, 'telegram: handling an update failed; trying again');
          await delay(1_000, undefined, { signal }).catch(() => undefined);
          break;
        }
      }
    }
  }

  /**
   * Applies one update from Telegram (from getUpdates, or a webhook): a press of Approve or Reject.
   * Anything else is ignored. Never throws for a malformed update.
   */
  async handleUpdate(update: unknown): Promise<void> {
    const query = (update as { callback_query?: unknown } | null)?.callback_query;
    if (!isCallbackQuery(query)) return;
    const button = parseCallbackData(query.data);
    if (button === undefined) {
      await this.#answer(query.id, 'This button is not one of Sigpost’s.');
      return;
    }
    const user = query.from;
    const who = user.username === undefined ? String(user.id) : `@${user.username}`;
    if (!this.#approvers.has(user.id)) {
      this.#log.warn(
        { signal_id: button.signalId, telegram_user: user.id },
        'telegram: a user not on the approvers list pressed a button; nothing changed',
      );
      await this.#answer(
        query.id,
        `You may not decide signals: your Telegram user id ${user.id} is not on the approvers list.`,
        true,
      );
      return;
    }
    const actor = `telegram:${user.id}${user.username === undefined ? '' : ` (@${user.username})`}`;
    const decision = button.action === 'approve' ? 'approved' : 'rejected';
    const reason = decision === 'rejected' ? `rejected from Telegram by ${who}` : null;
    let result: Awaited<ReturnType<Store['decideSignal']>>;
    try {
      result = await this.#store.decideSignal(
        button.signalId,
        decision,
        actor,
        reason,
        Math.floor(this.#clock.now()),
        'telegram',
      );
    } catch (error) {
      this.#log.error(
        { err: error, signal_id: button.signalId },
        'telegram: the decision could not be stored',
      );
      await this.#answer(query.id, 'Not decided: the server could not store the decision. Try again.', true);
      return;
    }
    const message = query.message;
    const target = await this.#store.telegram.getMessage(button.signalId);
    const chatId = target?.messageId != null ? target.chatId : message?.chat.id;
    const messageId = target?.messageId ?? message?.message_id;
    switch (result.outcome) {
      case 'ok':
        this.#log.info(
          { signal_id: button.signalId, telegram_user: user.id, decision },
          `telegram: signal ${decision}`,
        );
        await this.#answer(query.id, decision === 'approved' ? 'Approved.' : 'Rejected.');
        if (chatId !== undefined && messageId !== undefined) {
          await this.#showDecision(chatId, messageId, result.signal, 'telegram');
        }
        return;
      case 'not-pending': {
        const s = result.signal;
        await this.#answer(
          query.id,
          `Already ${s.status}${s.decidedBy === null ? '' : ` by ${s.decidedBy}`}; nothing changed.`,
          true,
        );
        if (chatId !== undefined && messageId !== undefined)
          await this.#showDecision(chatId, messageId, s, null);
        return;
      }
      case 'not-found':
        await this.#answer(query.id, `Signal ${button.signalId} no longer exists.`, true);
        return;
    }
  }

  async #answer(queryId: string, text: string, alert = false): Promise<void> {
    const answered: BotApiResult<unknown> = await this.#api.request('answerCallbackQuery', {
      callback_query_id: queryId,
      text,
      ...(alert ? { show_alert: true } : {}),
    });
    if (!answered.ok)
      this.#log.warn({ http_code: answered.httpCode }, `telegram callback not answered: ${answered.message}`);
  }
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

function isCallbackQuery(value: unknown): value is CallbackQuery {
  if (typeof value !== 'object' || value === null) return false;
  const q = value as Record<string, unknown>;
  const from = q.from as Record<string, unknown> | null | undefined;
  if (typeof q.id !== 'string' || q.id.length === 0 || q.id.length > 256) return false;
  if (typeof from !== 'object' || from === null || !Number.isSafeInteger(from.id)) return false;
  if (
    from.username !== undefined &&
    (typeof from.username !== 'string' || !/^\w{1,64}$/.test(from.username))
  ) {
    return false;
  }
  const message = q.message as Record<string, unknown> | undefined;
  if (message !== undefined) {
    const chat = message.chat as Record<string, unknown> | undefined;
    if (!Number.isSafeInteger(message.message_id) || typeof chat !== 'object' || chat === null) return false;
    if (typeof chat.id !== 'number' && typeof chat.id !== 'string') return false;
  }
  return true;
}
