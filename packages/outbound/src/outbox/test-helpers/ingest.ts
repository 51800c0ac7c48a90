// The real ingest server (@sigpost/ingest) on a SQLite file, for the crash tests, started in this
// process (in a child process that a test can kill: @sigpost/test-support/server-process).
import { Admin, SecretBox, SqliteStore, startServer } from '@sigpost/ingest';
import Database from 'better-sqlite3';

export interface RealIngest {
  readonly url: string;
  close(): Promise<void>;
}

/** A fixed key for sealing producer secrets, so a restarted server can open what it stored before. */
const SEALING_KEY = Buffer.alloc(32, 7);

export async function startRealIngest(options: {
  dbPath: string;
  port: number;
  producerId: string;
  secret: string;
}): Promise<RealIngest> {
  const store = new SqliteStore({ path: options.dbPath });
  await store.migrate();
  const secretBox = SecretBox.fromKey(SEALING_KEY);
  const producers = await store.listProducers();
  if (!producers.some((p) => p.id === options.producerId)) {
    await new Admin(store, secretBox).addProducer({
      id: options.producerId,
      secret: options.secret,
      approval: 'auto',
    });
  }
  const server = await startServer({
    store,
    secretBox,
    // Thousands of signals in seconds from one producer: far above the default per-producer limit.
    config: { port: options.port, rateLimit: { perSecond: 1_000_000, burst: 1_000_000 } },
    handleSignals: false,
    processMetrics: false,
  });
  return { url: server.url, close: () => server.close() };
}

export interface ServerSignal {
  readonly id: string;
  readonly idempotency_key: string | null;
  readonly body: string;
}

/** Every signal the server stored, read from its file. */
export function storedSignals(dbPath: string): ServerSignal[] {
  const db = new Database(dbPath, { readonly: true });
  try {
    return db.prepare<[], ServerSignal>('SELECT id, idempotency_key, body FROM signals').all();
  } finally {
    db.close();
  }
}
