import { afterEach, describe, expect, it } from 'vitest';
import { startServer } from '../server.js';
import { StoreUnavailableError } from '../store/store.js';
import { withOverride } from '../test-helpers/fixtures.js';
import { TELEGRAM_LEASE } from './bot.js';
import { callbackData } from './render.js';
import {
  ALICE,
  BOB,
  botConfig,
  cleanups,
  MALLORY,
  PRODUCER,
  post,
  runCleanups,
  serve,
  sigId,
  sqliteSetup,
  storePending,
  twoServers,
} from './test-helpers/approvals.js';
import { BOT_TOKEN, CHAT_ID } from './test-helpers/bot-api.js';
import { TELEGRAM_WEBHOOK_PATH } from './webhook.js';

afterEach(runCleanups);

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
