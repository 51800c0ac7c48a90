// A local HTTP server that speaks the part of the Bot API the approval bot uses: sendMessage,
// editMessageText, answerCallbackQuery and getUpdates (long polling, with Telegram's 409 when two
// polls overlap). Tests press buttons by queueing callback_query updates.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { listenLocal } from '@sigpost/test-support/fixtures';

export const BOT_TOKEN = '123456789:AAH-test_token-abcdefghijklmnopqrstu';
export const CHAT_ID = '-1001234567890';

export interface BotCall {
  readonly method: string;
  readonly body: Record<string, unknown>;
  /** Date.now() when the request arrived. */
  readonly at: number;
}

export interface SentMessage {
  readonly messageId: number;
  readonly chatId: unknown;
  text: string;
  replyMarkup: unknown;
}

type Answer = { status: number; body: unknown };

export interface FakeBotApi {
  readonly url: string;
  readonly calls: BotCall[];
  readonly messages: SentMessage[];
  /** getUpdates requests refused with 409 because another was still open (two pollers at once). */
  conflicts: number;
  /** The most getUpdates requests open at once. */
  maxConcurrentPolls: number;
  /** Answers the next call of `method` with `answer` instead of the normal one. */
  script(method: string, answer: Answer): void;
  /** Queues a press of a button (callback_query) by `user`; returns its update_id. */
  press(user: { id: number; username?: string }, data: string, messageId?: number): number;
  /** Calls of `method`. */
  callsOf(method: string): BotCall[];
  /** Resolves when `predicate` holds (checked after each call is handled), or rejects after `ms`. */
  waitFor(predicate: () => boolean, ms?: number): Promise<void>;
  close(): Promise<void>;
}

export async function startFakeBotApi(): Promise<FakeBotApi> {
  const calls: BotCall[] = [];
  const messages: SentMessage[] = [];
  const updates: { update_id: number; callback_query: unknown }[] = [];
  const scripts = new Map<string, Answer[]>();
  const polls = new Set<{ res: ServerResponse; offset: number; timer: NodeJS.Timeout }>();
  const waiters = new Set<() => void>();
  let nextUpdate = 1000;
  let queryIds = 0;
  const notify = () => {
    for (const w of [...waiters]) w();
  };

  const send = (res: ServerResponse, answer: Answer) => {
    if (res.writableEnded) return;
    res.writeHead(answer.status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(answer.body));
  };
  const ok = (result: unknown): Answer => ({ status: 200, body: { ok: true, result } });
  const flushPolls = () => {
    for (const poll of [...polls]) {
      const ready = updates.filter((u) => u.update_id >= poll.offset);
      if (ready.length === 0) continue;
      polls.delete(poll);
      clearTimeout(poll.timer);
      send(poll.res, ok(ready));
    }
  };

  const state = { conflicts: 0, maxConcurrentPolls: 0 };
  const handle = (req: IncomingMessage, res: ServerResponse, raw: string) => {
    const match = /^\/bot([^/]+)\/(\w+)$/.exec(req.url ?? '');
    if (match === null || match[1] !== BOT_TOKEN) {
      send(res, { status: 404, body: { ok: false, error_code: 404, description: 'Not Found' } });
      return;
    }
    const method = match[2]!;
    const body = (raw === '' ? {} : JSON.parse(raw)) as Record<string, unknown>;
    calls.push({ method, body, at: Date.now() });
    const scripted = scripts.get(method)?.shift();
    if (scripted !== undefined) {
      send(res, scripted);
      return;
    }
    switch (method) {
      case 'sendMessage': {
        const message: SentMessage = {
          messageId: messages.length + 1,
          chatId: body.chat_id,
          text: String(body.text),
          replyMarkup: body.reply_markup,
        };
        messages.push(message);
        send(
          res,
          ok({ message_id: message.messageId, chat: { id: Number(body.chat_id) }, text: message.text }),
        );
        return;
      }
      case 'editMessageText': {
        const message = messages.find((m) => m.messageId === body.message_id);
        if (message === undefined) {
          send(res, {
            status: 400,
            body: { ok: false, error_code: 400, description: 'Bad Request: message to edit not found' },
          });
          return;
        }
        if (
          message.text === body.text &&
          body.reply_markup === undefined &&
          message.replyMarkup === undefined
        ) {
          send(res, {
            status: 400,
            body: { ok: false, error_code: 400, description: 'Bad Request: message is not modified' },
          });
          return;
        }
        message.text = String(body.text);
        message.replyMarkup = body.reply_markup;
        send(res, ok({ message_id: message.messageId, text: message.text }));
        return;
      }
      case 'answerCallbackQuery':
        send(res, ok(true));
        return;
      case 'getUpdates': {
        if (polls.size > 0) {
          // Telegram ends the other request with 409 Conflict; either way two pollers are a bug.
          state.conflicts += 1;
          send(res, {
            status: 409,
            body: {
              ok: false,
              error_code: 409,
              description: 'Conflict: terminated by other getUpdates request',
            },
          });
          return;
        }
        const offset = typeof body.offset === 'number' ? body.offset : 0;
        // Like Telegram: asking from an offset confirms (forgets) every earlier update.
        while (updates.length > 0 && updates[0]!.update_id < offset) updates.shift();
        const timeoutMs = (typeof body.timeout === 'number' ? body.timeout : 0) * 1000;
        const poll = {
          res,
          offset,
          timer: setTimeout(() => {
            polls.delete(poll);
            send(res, ok([]));
          }, timeoutMs),
        };
        polls.add(poll);
        state.maxConcurrentPolls = Math.max(state.maxConcurrentPolls, polls.size);
        res.on('close', () => {
          clearTimeout(poll.timer);
          polls.delete(poll);
        });
        flushPolls();
        return;
      }
      default:
        send(res, {
          status: 404,
          body: { ok: false, error_code: 404, description: 'Not Found: method not found' },
        });
    }
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      handle(req, res, Buffer.concat(chunks).toString('utf8'));
      notify();
    });
  });
  const local = await listenLocal(server);
  return {
    url: local.url,
    calls,
    messages,
    get conflicts() {
      return state.conflicts;
    },
    set conflicts(value: number) {
      state.conflicts = value;
    },
    get maxConcurrentPolls() {
      return state.maxConcurrentPolls;
    },
    set maxConcurrentPolls(value: number) {
      state.maxConcurrentPolls = value;
    },
    script(method, answer) {
      const list = scripts.get(method) ?? [];
      list.push(answer);
      scripts.set(method, list);
    },
    press(user, data, messageId = 1) {
      const update_id = nextUpdate++;
      updates.push({
        update_id,
        callback_query: {
          id: `query-${++queryIds}`,
          from: {
            id: user.id,
            is_bot: false,
            first_name: 'Op',
            ...(user.username ? { username: user.username } : {}),
          },
          message: { message_id: messageId, chat: { id: Number(CHAT_ID) } },
          chat_instance: '1',
          data,
        },
      });
      flushPolls();
      return update_id;
    },
    callsOf(method) {
      return calls.filter((c) => c.method === method);
    },
    waitFor(predicate, ms = 10_000) {
      if (predicate()) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(
            new Error(
              `fake Bot API: condition not met within ${ms} ms; calls: ${calls.map((c) => c.method).join(', ')}`,
            ),
          );
        }, ms);
        const check = () => {
          if (!predicate()) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve();
        };
        waiters.add(check);
      });
    },
    async close() {
      for (const poll of polls) {
        clearTimeout(poll.timer);
        send(poll.res, ok([]));
      }
      polls.clear();
      await local.close();
    },
  };
}
