// Shared by the Telegram approval tests (telegram.test.ts on SQLite, telegram.system.test.ts on PostgreSQL):
// servers with the bot on, a fake Bot API, signed posts, and the two-servers scenario.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { currentTimestamp, INGEST_PATH } from '@sigpost/protocol';
import { validSignal } from '@sigpost/test-support/fixtures';
import { expect } from 'vitest';
import { Admin } from '../../admin.js';
import { SecretBox } from '../../secrets.js';
import { type RunningServer, startServer } from '../../server.js';
import { SqliteStore } from '../../store/sqlite.js';
import type { Store } from '../../store/store.js';
import { acceptRequest } from '../../store/test-helpers/fixtures.js';
import { captureLogger, SECRET, signed, tempDir } from '../../test-helpers/fixtures.js';
import { TELEGRAM_LEASE } from '../bot.js';
import { resolveTelegramConfig, type TelegramApprovalConfig } from '../config.js';
import { callbackData } from '../render.js';
import { BOT_TOKEN, CHAT_ID, type FakeBotApi, startFakeBotApi } from './bot-api.js';

export const ALICE = { id: 42, username: 'alice' };
export const BOB = { id: 43, username: 'bob' };
export const MALLORY = { id: 666, username: 'mallory' };
export const PRODUCER = 'desk-1';

/** Run, last first, after each test: the test file's afterEach calls `runCleanups`. */
export const cleanups: (() => Promise<void> | void)[] = [];
export async function runCleanups(): Promise<void> {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
}

export function botConfig(
  api: FakeBotApi,
  overrides: Partial<TelegramApprovalConfig> = {},
): TelegramApprovalConfig {
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
export async function serve(
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

export async function sqliteSetup() {
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
export async function post(
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
export async function storePending(store: Store, id: string): Promise<void> {
  await store.acceptBatch([
    acceptRequest({ id, producerId: PRODUCER, status: 'pending_approval', at: Date.now() }),
  ]);
}

export const sigId = (n: number) => `sig_01JC3M5W8QXG4K2N6Y7T9B${String(n).padStart(4, '0')}`;

/** Shared by the SQLite and PostgreSQL runs: a and b are two servers on one database. */
export async function twoServers(
  api: FakeBotApi,
  a: RunningServer,
  b: RunningServer,
  store: Store,
): Promise<void> {
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
