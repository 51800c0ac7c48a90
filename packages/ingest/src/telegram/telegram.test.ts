// Approve from Telegram, end to end: real servers (startServer) on a real SQLite file or PostgreSQL,
// a real producer request, and a local server that speaks the Bot API.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { currentTimestamp, INGEST_PATH } from '@sigpost/protocol';
import pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { validSignal } from '../../../../test-support/fixtures.js';
import { Admin } from '../admin.js';
import { SecretBox } from '../secrets.js';
import { type RunningServer, startServer } from '../server.js';
import { PostgresStore } from '../store/postgres.js';
import { SqliteStore } from '../store/sqlite.js';
import { type Store, StoreUnavailableError } from '../store/store.js';
import { acceptRequest } from '../store/test-helpers/fixtures.js';
import { captureLogger, SECRET, signed, tempDir, withOverride } from '../test-helpers/fixtures.js';
import { TELEGRAM_LEASE } from './bot.js';
import { resolveTelegramConfig, type TelegramApprovalConfig } from './config.js';
import { callbackData } from './render.js';
import { BOT_TOKEN, CHAT_ID, type FakeBotApi, startFakeBotApi } from './test-helpers/bot-api.js';
import { TELEGRAM_WEBHOOK_PATH } from './webhook.js';

const ALICE = { id: 42, username: 'alice' };
const BOB = { id: 43, username: 'bob' };
const MALLORY = { id: 666, username: 'mallory' };
const PRODUCER = 'desk-1';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function botConfig(api: FakeBotApi, overrides: Partial<TelegramApprovalConfig> = {}): TelegramApprovalConfig {
  return resolveTelegramConfig({
    botToken: BOT_TOKEN,
    chatId: CHAT_ID,
    approvers: [ALICE.id, BOB.id],
    baseUrl: api.url,
    pollTimeoutSeconds: 1,
    minIntervalMs: 0,
    leaseTtlMs: 600,
    ...overrides,
  });
}

/** A server on `store` with the bot on; the store stays the test's. */
async function serve(
  store: Store,
  box: SecretBox,
  config: TelegramApprovalConfig,
): Promise<RunningServer & { logs: string[] }> {
  const { logger, lines } = captureLogger();
  const server = await startServer({
    store,
    secretBox: box,
    logger,
    config: { port: 0 },
    handleSignals: false,
    processMetrics: false,
    closeStore: false,
    telegram: config,
  });
  cleanups.push(() => server.close());
  return Object.assign(server, { logs: lines });
}

async function sqliteSetup() {
  const { dir, cleanup } = tempDir('sigpost-telegram-');
  cleanups.push(cleanup);
  const path = join(dir, 'sigpost.db');
  const open = async () => {
    const store = new SqliteStore({ path });
    await store.migrate();
    cleanups.push(() => store.close());
    return store;
  };
  const store = await open();
  const box = SecretBox.fromKey(randomBytes(32));
  await new Admin(store, box).addProducer({ id: PRODUCER, secret: SECRET, approval: 'manual' });
  const api = await startFakeBotApi();
  cleanups.push(() => api.close());
  return { store, box, api, open };
}

/** Posts a signed signal as producer desk-1; returns its id. */
async function post(
  server: RunningServer,
  overrides: Parameters<typeof validSignal>[0] = {},
): Promise<string> {
  const body = JSON.stringify(validSignal(overrides));
  const { headers } = signed({ body, producerId: PRODUCER, timestamp: currentTimestamp() });
  const res = await fetch(`${server.url}${INGEST_PATH}`, { method: 'POST', headers, body });
  const answer = (await res.json()) as { signal_id: string; status: string };
  expect(res.status).toBe(201);
  expect(answer.status).toBe('pending_approval');
  return answer.signal_id;
}

/** Stores a pending signal directly, as another server would. */
async function storePending(store: Store, id: string): Promise<void> {
  await store.acceptBatch([
    acceptRequest({ id, producerId: PRODUCER, status: 'pending_approval', at: Date.now() }),
  ]);
}

const sigId = (n: number) => `sig_01JC3M5W8QXG4K2N6Y7T9B${String(n).padStart(4, '0')}`;

describe('Approve from Telegram', () => {
  it('sends one message with Approve / Reject for a pending signal; an approver’s press approves it, edits the message and answers', async () => {
    const { store, box, api } = await sqliteSetup();
    const server = await serve(store, box, botConfig(api));
    const id = await post(server);

    await api.waitFor(() => api.messages.length === 1);
    const [message] = api.messages;
    expect(message?.chatId).toBe(CHAT_ID);
    expect(message?.text.split('\n').slice(0, 5)).toEqual([
      '🔔 Approval needed: GOLD BUY',
      `Producer: ${PRODUCER}`,
      'Entry 1950.5 · SL 1945 · TP 1960',
      'Confidence: 0.85',
      'Reason: test_signal',
    ]);
    expect(message?.text.split('\n')[5]).toMatch(
      new RegExp(`^Signal ${id}, received \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d UTC$`),
    );
    expect(message?.replyMarkup).toEqual({
      inline_keyboard: [
        [
          { text: '✅ Approve', callback_data: `a:${id}` },
          { text: '❌ Reject', callback_data: `r:${id}` },
        ],
      ],
    });
    await expect
      .poll(() => store.telegram.getMessage(id), { interval: 20 })
      .toMatchObject({
        state: 'sent',
        messageId: 1,
        chatId: CHAT_ID,
      });

    api.press(ALICE, callbackData('approve', id), 1);
    await api.waitFor(() => api.callsOf('editMessageText').length === 1);
    const signal = await store.getSignal(id);
    expect(signal).toMatchObject({ status: 'approved', decidedBy: 'telegram:42 (@alice)', message: null });
    const events = await store.readEvents(0, 100);
    expect(events.map((e) => [e.signal.id, e.signal.status, e.channel])).toEqual([
      [id, 'pending_approval', null],
      [id, 'approved', 'telegram'],
    ]);
    expect(api.callsOf('answerCallbackQuery').map((c) => c.body)).toEqual([
      { callback_query_id: 'query-1', text: 'Approved.' },
    ]);
    expect(message?.replyMarkup).toBeUndefined();
    expect(message?.text.split('\n')[0]).toBe('Signal: GOLD BUY');
    expect(message?.text.split('\n\n')[1]).toMatch(
      /^✅ Approved by telegram:42 \(@alice\) at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/,
    );
    await expect
      .poll(async () => (await store.telegram.getMessage(id))?.closedAt, { interval: 20 })
      .toBeTypeOf('number');
    // The sending loop has handled the decision's event too, and left the message to the press.
    await expect.poll(() => store.telegram.getCursor('events'), { interval: 20 }).toBe(2);
    expect(api.callsOf('editMessageText')).toHaveLength(1);
    expect(api.messages).toHaveLength(1);
  });

  it('rejects from Telegram with the reason "rejected from Telegram by @user"', async () => {
    const { store, box, api } = await sqliteSetup();
    await serve(store, box, botConfig(api));
    await storePending(store, sigId(1));
    await api.waitFor(() => api.messages.length === 1);
    api.press(BOB, callbackData('reject', sigId(1)), 1);
    await api.waitFor(() => api.callsOf('editMessageText').length === 1);
    expect(await store.getSignal(sigId(1))).toMatchObject({
      status: 'rejected',
      decidedBy: 'telegram:43 (@bob)',
      message: 'rejected from Telegram by @bob',
    });
    expect(api.messages[0]?.text).toContain('\n\n❌ Rejected by telegram:43 (@bob) at ');
    expect(api.messages[0]?.text.endsWith('\nReason: rejected from Telegram by @bob')).toBe(true);
  });

  it('refuses a user not on the approvers list: answered that they may not, nothing changes', async () => {
    const { store, box, api } = await sqliteSetup();
    const server = await serve(store, box, botConfig(api));
    await storePending(store, sigId(1));
    await api.waitFor(() => api.messages.length === 1);
    api.press(MALLORY, callbackData('approve', sigId(1)), 1);
    await api.waitFor(() => api.callsOf('answerCallbackQuery').length === 1);
    expect(api.callsOf('answerCallbackQuery')[0]?.body).toEqual({
      callback_query_id: 'query-1',
      text: 'You may not decide signals: your Telegram user id 666 is not on the approvers list.',
      show_alert: true,
    });
    expect(await store.getSignal(sigId(1))).toMatchObject({ status: 'pending_approval', decidedBy: null });
    expect((await store.readEvents(0, 100)).map((e) => e.channel)).toEqual([null]);
    expect(api.callsOf('editMessageText')).toEqual([]);
    expect(api.messages[0]?.replyMarkup).toBeDefined();
    expect(server.logs.join('')).toContain('not on the approvers list pressed a button');
    // The refusal was an update like any other: the offset moved past it.
    await api.waitFor(() => api.callsOf('getUpdates').some((c) => c.body.offset === 1001));
  });

  it('a signal decided elsewhere: the message shows who decided, and a later press is answered with it', async () => {
    const { store, box, api } = await sqliteSetup();
    await serve(store, box, botConfig(api));
    await storePending(store, sigId(1));
    await api.waitFor(() => api.messages.length === 1);
    await store.decideSignal(sigId(1), 'approved', 'ops-laptop', 'looks right', Date.now(), 'api');
    await api.waitFor(() => api.callsOf('editMessageText').length === 1);
    expect(api.messages[0]?.text).toMatch(
      /\n\n✅ Approved by ops-laptop via api at .+ UTC\nNote: looks right$/,
    );
    expect(api.messages[0]?.replyMarkup).toBeUndefined();

    api.press(ALICE, callbackData('reject', sigId(1)), 1);
    await api.waitFor(() => api.callsOf('answerCallbackQuery').length === 1);
    expect(api.callsOf('answerCallbackQuery')[0]?.body).toEqual({
      callback_query_id: 'query-1',
      text: 'Already approved by ops-laptop; nothing changed.',
      show_alert: true,
    });
    expect(await store.getSignal(sigId(1))).toMatchObject({ status: 'approved', decidedBy: 'ops-laptop' });
    expect((await store.readEvents(0, 100)).map((e) => e.channel)).toEqual([null, 'api']);
  });

  it('answers a button whose data is not a Sigpost button, or names no stored signal, changing nothing', async () => {
    const { store, box, api } = await sqliteSetup();
    await serve(store, box, botConfig(api));
    await storePending(store, sigId(1));
    await api.waitFor(() => api.messages.length === 1);
    api.press(ALICE, `a:${sigId(1)}x`, 1);
    api.press(ALICE, `approve:${sigId(1)}`, 1);
    api.press(ALICE, callbackData('approve', sigId(9)), 1);
    await api.waitFor(() => api.callsOf('answerCallbackQuery').length === 3);
    expect(api.callsOf('answerCallbackQuery').map((c) => c.body.text)).toEqual([
      'This button is not one of Sigpost’s.',
      'This button is not one of Sigpost’s.',
      `Signal ${sigId(9)} no longer exists.`,
    ]);
    expect(api.callsOf('editMessageText')).toEqual([]);
    expect((await store.getSignal(sigId(1)))?.status).toBe('pending_approval');
  });

  it('waits out a 429’s retry_after before sending again, and sends the message once', async () => {
    const { store, box, api } = await sqliteSetup();
    api.script('sendMessage', {
      status: 429,
      body: {
        ok: false,
        error_code: 429,
        description: 'Too Many Requests: retry after 1',
        parameters: { retry_after: 1 },
      },
    });
    const server = await serve(store, box, botConfig(api));
    await storePending(store, sigId(1));
    await api.waitFor(() => api.messages.length === 1);
    const sends = api.callsOf('sendMessage');
    expect(sends).toHaveLength(2);
    expect(sends[1]!.at - sends[0]!.at).toBeGreaterThanOrEqual(990);
    expect(server.logs.join('')).toContain('telegram approval message not sent yet');
    expect(server.logs.join('')).not.toContain(BOT_TOKEN.split(':')[1]);
    await expect
      .poll(() => store.telegram.getMessage(sigId(1)), { interval: 20 })
      .toMatchObject({ state: 'sent', messageId: 1 });
  });

  it('keeps to minIntervalMs between two messages to the chat', async () => {
    const { store, box, api } = await sqliteSetup();
    await serve(store, box, botConfig(api, { minIntervalMs: 400 }));
    await storePending(store, sigId(1));
    await storePending(store, sigId(2));
    await api.waitFor(() => api.messages.length === 2);
    const [first, second] = api.callsOf('sendMessage');
    // Paced from the start of the first request: its time on the wire may be taken off the gap.
    expect(second!.at - first!.at).toBeGreaterThanOrEqual(300);
  });

  it('a store failure while handling an event or a press is logged and tried again, not the end of the bot', async () => {
    const { store, box, api } = await sqliteSetup();
    let readFailures = 2;
    let decideFailures = 1;
    const flaky = withOverride(store, {
      getSignal: async (id) => {
        if (readFailures-- > 0) throw new StoreUnavailableError('database unreachable (test)');
        return store.getSignal(id);
      },
      decideSignal: async (...args) => {
        if (decideFailures-- > 0) throw new StoreUnavailableError('database unreachable (test)');
        return store.decideSignal(...args);
      },
    });
    const server = await serve(flaky, box, botConfig(api));
    await storePending(store, sigId(1));
    await api.waitFor(() => api.messages.length === 1, 15_000);
    expect(server.logs.join('')).toContain('telegram: handling a stream event failed; trying again');
    expect(api.callsOf('sendMessage')).toHaveLength(1);

    api.press(ALICE, callbackData('approve', sigId(1)), 1);
    await api.waitFor(() => api.callsOf('answerCallbackQuery').length === 1);
    expect(api.callsOf('answerCallbackQuery')[0]?.body.text).toBe(
      'Not decided: the server could not store the decision. Try again.',
    );
    expect((await store.getSignal(sigId(1)))?.status).toBe('pending_approval');
    api.press(ALICE, callbackData('approve', sigId(1)), 1);
    await api.waitFor(() => api.callsOf('editMessageText').length === 1);
    expect((await store.getSignal(sigId(1)))?.status).toBe('approved');
  });

  it('after a restart, sends nothing twice and goes on from its stored cursors', async () => {
    const { store, box, api } = await sqliteSetup();
    const first = await serve(store, box, botConfig(api));
    await storePending(store, sigId(1));
    await api.waitFor(() => api.messages.length === 1);
    await first.close();
    expect(await store.telegram.leaseHolder(TELEGRAM_LEASE, Date.now())).toBeUndefined();
    expect(await store.telegram.getCursor('events')).toBe(1);

    await storePending(store, sigId(2));
    const second = await serve(store, box, botConfig(api));
    await api.waitFor(() => api.messages.length === 2);
    expect(api.messages.map((m) => m.text.split('\n')[5]?.slice(0, 38))).toEqual([
      `Signal ${sigId(1)},`,
      `Signal ${sigId(2)},`,
    ]);
    api.press(ALICE, callbackData('approve', sigId(1)), 1);
    await api.waitFor(() => api.callsOf('editMessageText').length === 1);
    expect((await store.getSignal(sigId(1)))?.status).toBe('approved');
    expect(second.telegram?.active).toBe(true);
    expect(api.conflicts).toBe(0);
  });

  it('webhook: Telegram’s secret token lets an update in; a missing or wrong one gets 401 telegram-unauthorized and changes nothing; nobody polls', async () => {
    const { store, box, api } = await sqliteSetup();
    const secret = 'hook_secret-0123456789';
    const server = await serve(store, box, botConfig(api, { webhookSecret: secret }));
    await storePending(store, sigId(1));
    await api.waitFor(() => api.messages.length === 1);
    const update = JSON.stringify({
      update_id: 77,
      callback_query: {
        id: 'hook-query-1',
        from: { id: ALICE.id, is_bot: false, first_name: 'Alice', username: ALICE.username },
        message: { message_id: 1, chat: { id: Number(CHAT_ID) } },
        data: callbackData('approve', sigId(1)),
      },
    });
    const hook = (headers: Record<string, string>, body = update) =>
      fetch(`${server.url}${TELEGRAM_WEBHOOK_PATH}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body,
      });

    for (const headers of [
      {},
      { 'x-telegram-bot-api-secret-token': `${secret}x` },
      { 'x-telegram-bot-api-secret-token': '' },
    ]) {
      const refused = await hook(headers);
      expect(refused.status).toBe(401);
      expect(refused.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(((await refused.json()) as { type: string }).type).toBe(
        'urn:sigpost:problem:telegram-unauthorized',
      );
    }
    expect((await store.getSignal(sigId(1)))?.status).toBe('pending_approval');
    expect(api.callsOf('answerCallbackQuery')).toEqual([]);

    const bad = await hook({ 'x-telegram-bot-api-secret-token': secret }, '{"update_id":');
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { type: string }).type).toBe('urn:sigpost:problem:malformed-json');

    const accepted = await hook({ 'x-telegram-bot-api-secret-token': secret });
    expect(accepted.status).toBe(200);
    expect(await accepted.text()).toBe('{}');
    expect(await store.getSignal(sigId(1))).toMatchObject({
      status: 'approved',
      decidedBy: 'telegram:42 (@alice)',
    });
    expect(api.callsOf('answerCallbackQuery').map((c) => c.body.callback_query_id)).toEqual(['hook-query-1']);
    await api.waitFor(() => api.callsOf('editMessageText').length === 1);
    expect(api.messages[0]?.text).toContain('✅ Approved by telegram:42 (@alice) at ');
    expect(api.callsOf('getUpdates')).toEqual([]);
    expect(server.logs.join('')).not.toContain(secret);
  });

  it('startServer reads SIGPOST_TELEGRAM_* when not given `telegram`, and refuses to start on a malformed one', async () => {
    const { store, box, api } = await sqliteSetup();
    const saved = { ...process.env };
    cleanups.push(() => {
      for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
      Object.assign(process.env, saved);
    });
    const start = () =>
      startServer({
        store,
        secretBox: box,
        config: { port: 0 },
        handleSignals: false,
        processMetrics: false,
        closeStore: false,
      });
    Object.assign(process.env, {
      SIGPOST_TELEGRAM_APPROVERS: '42',
      SIGPOST_TELEGRAM_BOT_TOKEN: BOT_TOKEN,
      SIGPOST_TELEGRAM_CHAT_ID: 'not a chat',
      SIGPOST_TELEGRAM_API_URL: api.url,
    });
    await expect(start()).rejects.toThrow(
      /expected a numeric chat id or an @channelname, received "not a chat"\n {2}→ at SIGPOST_TELEGRAM_CHAT_ID/,
    );
    process.env.SIGPOST_TELEGRAM_CHAT_ID = CHAT_ID;
    const server = await start();
    cleanups.push(() => server.close());
    await storePending(store, sigId(1));
    await api.waitFor(() => api.messages.length === 1);
    expect(server.telegram?.active).toBe(true);
  });

  it('two servers on one SQLite file: one poller, one message per signal, one decision; the other takes over when it stops', async () => {
    const { store, box, api, open } = await sqliteSetup();
    const other = await open();
    await twoServers(
      api,
      await serve(store, box, botConfig(api)),
      await serve(other, box, botConfig(api)),
      store,
    );
  });
});

const url = process.env.SIGPOST_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const schema = `sigpost_tgbot_${process.pid}_${Date.now().toString(36)}`;
const admin = new pg.Pool({ connectionString: url, max: 1 });
admin.on('error', () => {});
const reachable = await admin.query('SELECT 1').then(
  () => true,
  () => false,
);
if (!reachable && process.env.CI === 'true') throw new Error(`PostgreSQL at ${url} is unreachable`);
afterAll(async () => {
  if (reachable) await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await admin.end();
});

describe.runIf(reachable)('Approve from Telegram on PostgreSQL', () => {
  it('two servers on one database: one poller, one message per signal, one decision; a dead holder’s lease is taken over when it expires', async () => {
    const open = async () => {
      const store = new PostgresStore({ connectionString: url, schema, max: 4 });
      await store.migrate();
      cleanups.push(() => store.close());
      return store;
    };
    const store = await open();
    const box = SecretBox.fromKey(randomBytes(32));
    await new Admin(store, box).addProducer({ id: PRODUCER, secret: SECRET, approval: 'manual' });
    const api = await startFakeBotApi();
    cleanups.push(() => api.close());
    // A server that died holding the lease: nobody polls until it expires.
    const ttl = 600;
    expect(await store.telegram.acquireLease(TELEGRAM_LEASE, 'dead-server', Date.now(), ttl)).toBe(true);
    const deadUntil = Date.now() + ttl;
    const a = await serve(store, box, botConfig(api, { leaseTtlMs: ttl }));
    const b = await serve(await open(), box, botConfig(api, { leaseTtlMs: ttl }));
    await api.waitFor(() => api.callsOf('getUpdates').length > 0);
    expect(api.calls[0]!.at).toBeGreaterThanOrEqual(deadUntil - 5);
    await twoServers(api, a, b, store);
  });
});

/** Shared by the SQLite and PostgreSQL runs: a and b are two servers on one database. */
async function twoServers(api: FakeBotApi, a: RunningServer, b: RunningServer, store: Store): Promise<void> {
  const holder = async () => store.telegram.leaseHolder(TELEGRAM_LEASE, Date.now());
  await api.waitFor(() => api.callsOf('getUpdates').length > 0);
  const first = (await holder()) === a.telegram?.holder ? a : b;
  const second = first === a ? b : a;
  expect(first.telegram?.active).toBe(true);
  expect(second.telegram?.active).toBe(false);

  // Signals accepted through either server: one message each.
  const ids = [
    await post(a, { reason: 'one' }),
    await post(b, { reason: 'two' }),
    await post(a, { reason: 'three' }),
  ];
  await api.waitFor(() => api.messages.length === 3);

  // Two approvers press at once: one decision, the other answered with it.
  api.press(ALICE, callbackData('approve', ids[0]!), 1);
  api.press(BOB, callbackData('reject', ids[0]!), 1);
  await api.waitFor(() => api.callsOf('answerCallbackQuery').length === 2);
  expect((await store.getSignal(ids[0]!))?.status).toBe('approved');
  expect(api.callsOf('answerCallbackQuery').map((c) => c.body.text)).toEqual([
    'Approved.',
    'Already approved by telegram:42 (@alice); nothing changed.',
  ]);
  const decisions = (await store.readEvents(0, 100)).filter((e) => e.channel !== null);
  expect(decisions.map((e) => [e.signal.id, e.channel, e.signal.decidedBy])).toEqual([
    [ids[0], 'telegram', 'telegram:42 (@alice)'],
  ]);

  // The holder stops: the other server takes the lease over and goes on from the stored offset.
  await first.close();
  await expect.poll(() => second.telegram?.active, { timeout: 5_000, interval: 50 }).toBe(true);
  api.press(ALICE, callbackData('approve', ids[1]!), 2);
  await api.waitFor(() => api.callsOf('answerCallbackQuery').length === 3);
  expect((await store.getSignal(ids[1]!))?.status).toBe('approved');
  const id4 = await post(second, { reason: 'four' });
  await api.waitFor(() => api.messages.length === 4);
  expect(api.messages[3]?.text).toContain(`Signal ${id4}`);

  expect(api.messages).toHaveLength(4);
  expect(api.conflicts).toBe(0);
  expect(api.maxConcurrentPolls).toBe(1);
  const answeredIds = api.callsOf('answerCallbackQuery').map((c) => c.body.callback_query_id);
  expect(new Set(answeredIds).size).toBe(answeredIds.length);
}
