// Scale-out: two servers sharing one PostgreSQL schema, producers on both, subscribers on both.
// Every subscriber gets every event once, in seq order, whichever server committed it; a listener
// connection that was cut re-reads from the table when it reconnects.
import pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Admin } from '../admin.js';
import { SecretBox } from '../secrets.js';
import { type RunningServer, startServer } from '../server.js';
import { PostgresStore } from '../store/postgres.js';
import type { Store } from '../store/store.js';
import { acceptRequest, T0 } from '../store/test-helpers/fixtures.js';
import { StreamClient } from '../test-helpers/stream-client.js';

const url = process.env.SIGPOST_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const schema = `sigpost_stream_${process.pid}_${Date.now().toString(36)}`;
const admin = new pg.Pool({ connectionString: url, max: 2 });
admin.on('error', () => {});
const box = SecretBox.fromKey(Buffer.alloc(32, 5));
const servers: RunningServer[] = [];
const clients: StreamClient[] = [];

afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  for (const server of servers.splice(0)) await server.close();
});
afterAll(async () => {
  await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await admin.end();
});

async function server(): Promise<{ server: RunningServer; store: Store }> {
  const store = new PostgresStore({ connectionString: url, schema, max: 4 });
  await store.migrate();
  const running = await startServer({
    store,
    secretBox: box,
    handleSignals: false,
    processMetrics: false,
    config: { port: 0 },
  });
  servers.push(running);
  return { server: running, store };
}

function connect(base: string, token: string, after?: number): StreamClient {
  const client = new StreamClient(base, after === undefined ? { token } : { token, after });
  clients.push(client);
  return client;
}

let counter = 0;
async function put(store: Store, n: number): Promise<void> {
  await store.acceptBatch(
    Array.from({ length: n }, () => {
      const id = `sig_${String(++counter).padStart(26, '0')}`;
      return acceptRequest({
        id,
        at: T0 + counter,
        status: counter % 5 === 0 ? 'pending_approval' : 'received',
      });
    }),
  );
}

describe('stream on PostgreSQL with two servers', () => {
  it('delivers every event committed on either server to subscribers on both, once, in seq order', async () => {
    const a = await server();
    const b = await server();
    const { token } = await new Admin(a.store, box).createSubscriber({ name: 'both' });
    const head0 = (await a.store.streamPosition()).head;
    const subscribers = [
      connect(a.server.url, token),
      connect(b.server.url, token),
      connect(a.server.url, token, head0),
      connect(b.server.url, token, head0),
    ];
    await Promise.all(subscribers.map((s) => s.ready()));
    // Producers on both servers at once, and decisions on both.
    await Promise.all(
      [a.store, b.store].map(async (store, i) => {
        for (let round = 0; round < 40; round++) {
          await put(store, 1 + (round % 3));
          if (round % 10 === 9) {
            const [pending] = (await store.listSignals({ status: 'pending_approval', limit: 1 })).items;
            if (pending !== undefined)
              await store.decideSignal(pending.id, 'approved', `ops-${i}`, null, T0, 'api');
          }
        }
      }),
    );
    const head = (await a.store.streamPosition()).head;
    expect(head - head0).toBeGreaterThan(150);
    const expected = Array.from({ length: head - head0 }, (_, i) => head0 + i + 1);
    for (const [i, s] of subscribers.entries()) {
      await s.until(() => s.lastSeq === head, `subscriber ${i} to reach ${head}`);
      expect(s.seqs, `subscriber ${i}`).toEqual(expected);
    }
  });

  it('re-reads from the table after its listener connection was cut, so nothing committed meanwhile is missed', async () => {
    const a = await server();
    const b = await server();
    const { token } = await new Admin(a.store, box).createSubscriber({ name: 'cut' });
    const onB = connect(b.server.url, token);
    await onB.ready();
    const head0 = (await a.store.streamPosition()).head;
    await admin.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'sigpost-listener'`,
    );
    await put(a.store, 3); // committed on server A while B's listener may be down
    await onB.until(() => onB.lastSeq === head0 + 3, 'the three events');
    expect(onB.seqs).toEqual([head0 + 1, head0 + 2, head0 + 3]);
  });
});
