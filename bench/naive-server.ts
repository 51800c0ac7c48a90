// The naive baseline of bench/ingest.bench.ts: the ingest endpoint as a user would write it in an
// afternoon with fastify 5 and better-sqlite3. HMAC verify of the raw body (node:crypto,
// timingSafeEqual) with a timestamp window, fastify's built-in JSON schema validation (ajv) of the
// signal, one `INSERT … ON CONFLICT DO NOTHING` per request into a WAL database with
// `synchronous = NORMAL` (no fsync per commit: a power loss may lose the last accepted signals), 201.
// With `groupCommit`, the inserts of one event-loop turn share one transaction (setImmediate batching).
// No replay guard, no rate limit, no logging, no metrics: the figure sigpost should beat.
import { createHash, createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import Database from 'better-sqlite3';
import Fastify, { type FastifyInstance } from 'fastify';

export interface NaiveServerOptions {
  readonly dbPath: string;
  /** Producer id → HMAC secret. */
  readonly secrets: ReadonlyMap<string, string>;
  readonly toleranceSeconds: number;
  /** One transaction per event-loop turn instead of one per request. */
  readonly groupCommit: boolean;
}

const price = { type: 'number', exclusiveMinimum: 0 } as const;
const signalSchema = {
  type: 'object',
  additionalProperties: false,
  required: [
    'instrument',
    'side',
    'entry_price',
    'stop_loss',
    'take_profit',
    'confidence',
    'reason',
    'timestamp',
  ],
  properties: {
    instrument: { type: 'string', pattern: '^[A-Za-z0-9._/-]{1,32}$' },
    side: { type: 'string', enum: ['buy', 'sell'] },
    entry_price: price,
    stop_loss: price,
    take_profit: price,
    confidence: { type: 'number', minimum: 0, maximum: 1 },
    reason: { type: 'string', minLength: 1, maxLength: 500 },
    timestamp: { type: 'string', format: 'date-time' },
    payload: { type: 'object' },
  },
} as const;

interface Signal {
  instrument: string;
  side: string;
  entry_price: number;
  stop_loss: number;
  take_profit: number;
  confidence: number;
  reason: string;
  timestamp: string;
  payload?: Record<string, unknown>;
}

class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
  }
}

/** Throws a 401 unless the request carries a fresh, valid HMAC of `body`. */
function verify(
  headers: Record<string, string | string[] | undefined>,
  body: Buffer,
  options: NaiveServerOptions,
) {
  const producerId = headers['x-producer-id'];
  const timestamp = headers['x-timestamp'];
  const signature = headers['x-signature'];
  if (typeof producerId !== 'string' || typeof timestamp !== 'string' || typeof signature !== 'string') {
    throw new HttpError(401, 'missing X-Producer-Id, X-Timestamp or X-Signature');
  }
  const secret = options.secrets.get(producerId);
  if (secret === undefined) throw new HttpError(401, 'unknown producer');
  const at = Date.parse(timestamp);
  if (!(Math.abs(Date.now() - at) <= options.toleranceSeconds * 1000))
    throw new HttpError(401, 'stale timestamp');
  const bodySha = createHash('sha256').update(body).digest('base64');
  const expected = createHmac('sha256', secret)
    .update(
      `METHOD:POST\nENDPOINT:/api/v1/signals/ingest\nTIMESTAMP:${timestamp}\nPRODUCER_ID:${producerId}\nBODY_SHA256:${bodySha}`,
    )
    .digest();
  const given = Buffer.from(signature, 'base64');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw new HttpError(401, 'bad signature');
  }
}

export async function startNaiveServer(options: NaiveServerOptions): Promise<FastifyInstance> {
  const db = new Database(options.dbPath);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.exec(`CREATE TABLE IF NOT EXISTS signals (
    id TEXT PRIMARY KEY,
    producer_id TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    instrument TEXT NOT NULL,
    side TEXT NOT NULL,
    entry_price REAL NOT NULL,
    stop_loss REAL NOT NULL,
    take_profit REAL NOT NULL,
    confidence REAL NOT NULL,
    reason TEXT NOT NULL,
    signal_timestamp TEXT NOT NULL,
    payload TEXT,
    received_at TEXT NOT NULL,
    UNIQUE (producer_id, idempotency_key)
  )`);
  const insert = db.prepare(`INSERT INTO signals (id, producer_id, idempotency_key, instrument, side,
    entry_price, stop_loss, take_profit, confidence, reason, signal_timestamp, payload, received_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (producer_id, idempotency_key) DO NOTHING`);
  type Row = unknown[];

  // Group commit: the rows of one event-loop turn, committed together before their answers go out.
  let queue: { row: Row; resolve: (inserted: boolean) => void; reject: (error: unknown) => void }[] = [];
  const commitAll = db.transaction((rows: Row[]) => rows.map((row) => insert.run(...row).changes === 1));
  const flush = () => {
    const batch = queue;
    queue = [];
    try {
      const inserted = commitAll(batch.map((item) => item.row));
      for (const [i, item] of batch.entries()) item.resolve(inserted[i] as boolean);
    } catch (error) {
      for (const item of batch) item.reject(error);
    }
  };
  const store = (row: Row): Promise<boolean> | boolean => {
    if (!options.groupCommit) return insert.run(...row).changes === 1;
    return new Promise((resolve, reject) => {
      if (queue.push({ row, resolve, reject }) === 1) setImmediate(flush);
    });
  };

  const app = Fastify({ logger: false });
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    try {
      verify(request.headers, body as Buffer, options);
      done(null, JSON.parse((body as Buffer).toString('utf8')));
    } catch (error) {
      if (!(error instanceof HttpError)) (error as { statusCode?: number }).statusCode = 400;
      done(error as Error, undefined);
    }
  });
  app.post<{ Body: Signal }>(
    '/api/v1/signals/ingest',
    { schema: { body: signalSchema } },
    async (request, reply) => {
      const s = request.body;
      const id = randomUUID();
      const now = new Date().toISOString();
      const inserted = await store([
        id,
        request.headers['x-producer-id'],
        request.headers['x-idempotency-key'] ?? id,
        s.instrument,
        s.side,
        s.entry_price,
        s.stop_loss,
        s.take_profit,
        s.confidence,
        s.reason,
        s.timestamp,
        s.payload === undefined ? null : JSON.stringify(s.payload),
        now,
      ]);
      reply.code(inserted ? 201 : 200);
      return {
        signal_id: id,
        status: inserted ? 'received' : 'duplicate',
        server_timestamp: now,
        message: null,
        errors: null,
      };
    },
  );
  app.addHook('onClose', async () => {
    if (queue.length > 0) flush();
    db.close();
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  return app;
}
