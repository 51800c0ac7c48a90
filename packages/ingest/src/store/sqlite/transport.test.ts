import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { MessageChannel } from 'node:worker_threads';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Admin } from '../../admin.js';
import { SecretBox } from '../../secrets.js';
import { SECRET, tempDir } from '../../test-helpers/fixtures.js';
import { acceptRequest } from '../test-helpers/fixtures.js';
import { SqliteStore } from './store.js';
import { serveWriter, type WriterReply, type WriterRequest } from './transport.js';
import { encodeAcceptBatch } from './wire.js';
import { SqliteWriter } from './writer.js';

const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A migrated database with producer-a, and the writer thread's side served on a channel in this thread. */
async function served() {
  const { dir, cleanup } = tempDir();
  cleanups.push(cleanup);
  const path = join(dir, 'writer.db');
  const store = new SqliteStore({ path });
  await store.migrate();
  await new Admin(store, SecretBox.fromKey(randomBytes(32))).addProducer({
    id: 'producer-a',
    secret: SECRET,
  });
  await store.close();
  const { port1, port2 } = new MessageChannel();
  cleanups.push(() => {
    port1.close();
    port2.close();
  });
  serveWriter(port1);
  const replies: WriterReply[] = [];
  port2.on('message', (reply: WriterReply) => replies.push(reply));
  const send = (request: WriterRequest) => port2.postMessage(request);
  return { path, replies, send };
}

describe('serveWriter (the writer thread side)', () => {
  it('commits the accept batches that queued up meanwhile in one transaction, before a later write; a failing batch fails alone', async () => {
    const { path, replies, send } = await served();
    const together = vi.spyOn(SqliteWriter.prototype, 'acceptBatches');
    const batch = (id: string, signalId = id) => {
      const request = acceptRequest({ id, signature: `sig-${id}` });
      return encodeAcceptBatch([{ ...request, signal: { ...request.signal, id: signalId } }]);
    };
    send({ id: 1, conn: 1, op: 'open', args: [path, 5_000] });
    send({ id: 2, conn: 1, op: 'acceptBatch', args: [batch('sig_a')] });
    send({ id: 3, conn: 1, op: 'acceptBatch', args: [batch('sig_b')] });
    send({ id: 4, conn: 1, op: 'acceptBatch', args: [batch('sig_c', 'sig_b')] }); // sig_b again: a conflict
    send({ id: 5, conn: 1, op: 'acceptBatch', args: [batch('sig_d')] });
    send({ id: 6, conn: 1, op: 'close', args: [] }); // commits the batches before it first
    await vi.waitFor(() => expect(replies).toHaveLength(6));
    expect(replies.map((r) => [r.id, r.ok])).toEqual([
      [1, true],
      [2, true],
      [3, true],
      [4, false],
      [5, true],
      [6, true],
    ]);
    expect(replies[3]).toMatchObject({ error: { name: 'StoreConflictError' } });
    expect(together).toHaveBeenCalledTimes(1);
    expect(together.mock.calls[0]?.[0]).toHaveLength(4);
    const store = new SqliteStore({ path });
    cleanups.push(() => store.close());
    expect((await store.listSignals({})).items.map((s) => s.id).sort()).toEqual(['sig_a', 'sig_b', 'sig_d']);
  });
});
