// A small ingest server for the outbox's tests, faithful to wire protocol v1 where delivery depends on
// it: node:http on 127.0.0.1, signatures checked with the protocol's verifySignature, the timestamp
// window, a body cap, idempotency by (producer, X-Idempotency-Key) with replays and 422 on a changed
// body, and every accepted signal committed to a SQLite file (WAL, synchronous=FULL) before the 201.
// The lookup-then-commit of a key runs synchronously, so two requests with one key never overlap and
// the real server's 409 "in flight" cannot arise here. `fault` lets a test script failures, including "commit, then drop the connection" (a lost answer).
import { createHash, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import {
  formatTimestamp,
  HEADERS,
  INGEST_PATH,
  isValidIdempotencyKey,
  isValidProducerId,
  PROBLEM_CONTENT_TYPE,
  type ProblemCode,
  parseTimestamp,
  problem,
  type SignalIngestResponse,
  validateSignal,
  verifySignature,
} from '@sigpost/protocol';
import Database from 'better-sqlite3';
import { listenLocal } from '../../../../../test-support/fixtures.js';

/** What a scripted fault does to one request. */
export type Fault =
  /** Answer with this status and problem (nothing stored). */
  | { readonly status: number; readonly retryAfter?: string; readonly code?: ProblemCode }
  /** Close the connection without answering (nothing stored). */
  | 'drop'
  /** Store the signal, then close the connection without answering: the producer never learns it was accepted. */
  | 'commit-then-drop'
  /** Hold the request until `release()` is called, then process it normally. */
  | { readonly hold: Promise<void> };

export interface SeenRequest {
  readonly index: number;
  readonly idempotencyKey: string | undefined;
  readonly timestamp: string | undefined;
  readonly signatureValid: boolean;
  readonly body: string;
  readonly instrument: string | undefined;
  /** What the server answered: a status, or `'dropped'`. */
  outcome: number | 'dropped' | 'pending';
  readonly replayed: boolean;
}

export interface LocalIngestOptions {
  /** SQLite file the accepted signals are committed to. */
  readonly dbPath: string;
  /** Producer id → secret. */
  readonly producers: Readonly<Record<string, string>>;
  /** @default 0 (any free port) */
  readonly port?: number;
  /** Called for each request after it was read; return a fault to answer differently. */
  readonly fault?: (request: SeenRequest) => Fault | undefined;
  /** @default 300 */
  readonly toleranceSeconds?: number;
}

export interface StoredSignal {
  readonly signal_id: string;
  readonly producer_id: string;
  readonly idempotency_key: string | null;
  readonly instrument: string;
  readonly body: string;
}

export interface LocalIngest {
  readonly url: string;
  readonly port: number;
  /** Every request read, in arrival order. */
  readonly requests: SeenRequest[];
  /** Requests being processed now, and the most at once so far. */
  readonly concurrency: { now: number; max: number; maxPerInstrument: number };
  signals(): StoredSignal[];
  close(): Promise<void>;
}

const MAX_BODY_BYTES = 65_536;

export async function startLocalIngest(options: LocalIngestOptions): Promise<LocalIngest> {
  const db = new Database(options.dbPath);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.exec(`
    CREATE TABLE IF NOT EXISTS signals (
      signal_id TEXT PRIMARY KEY, producer_id TEXT NOT NULL, idempotency_key TEXT,
      instrument TEXT NOT NULL, body TEXT NOT NULL, received_at TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS idempotency (
      producer_id TEXT NOT NULL, idempotency_key TEXT NOT NULL, request_hash TEXT NOT NULL,
      response TEXT NOT NULL, PRIMARY KEY (producer_id, idempotency_key));`);
  const findKey = db.prepare<[string, string], { request_hash: string; response: string }>(
    'SELECT request_hash, response FROM idempotency WHERE producer_id = ? AND idempotency_key = ?',
  );
  const insertSignal = db.prepare(
    'INSERT INTO signals (signal_id, producer_id, idempotency_key, instrument, body, received_at) VALUES (?, ?, ?, ?, ?, ?)',
  );
  const insertKey = db.prepare(
    'INSERT INTO idempotency (producer_id, idempotency_key, request_hash, response) VALUES (?, ?, ?, ?)',
  );
  const accept = db.transaction(
    (producerId: string, key: string | undefined, instrument: string, body: string, hash: string) => {
      const response: SignalIngestResponse = {
        signal_id: `sig_${randomUUID()}`,
        status: 'received',
        server_timestamp: formatTimestamp(Date.now()),
        message: null,
        errors: null,
      };
      const text = JSON.stringify(response);
      insertSignal.run(
        response.signal_id,
        producerId,
        key ?? null,
        instrument,
        body,
        response.server_timestamp,
      );
      if (key !== undefined) insertKey.run(producerId, key, hash, text);
      return text;
    },
  );

  const requests: SeenRequest[] = [];
  const concurrency = { now: 0, max: 0, maxPerInstrument: 0 };
  const perInstrument = new Map<string, number>();
  const tolerance = (options.toleranceSeconds ?? 300) * 1000;

  const sendProblem = (
    res: ServerResponse,
    code: ProblemCode,
    detail?: string,
    extra?: Readonly<Record<string, unknown>>,
  ) => {
    const body = problem(code, detail, extra ?? {});
    res.writeHead(body.status, { 'content-type': PROBLEM_CONTENT_TYPE });
    res.end(JSON.stringify(body));
    return body.status;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse, body: string, seen: SeenRequest) => {
    const fault = options.fault?.(seen);
    if (fault !== undefined && typeof fault === 'object' && 'hold' in fault) await fault.hold;
    else if (fault === 'drop') {
      seen.outcome = 'dropped';
      req.socket.destroy();
      return;
    } else if (fault !== undefined && fault !== 'commit-then-drop') {
      const code: ProblemCode = fault.code ?? (fault.status === 429 ? 'rate-limited' : 'internal');
      const problemBody = { ...problem(code), status: fault.status };
      res.writeHead(fault.status, {
        'content-type': PROBLEM_CONTENT_TYPE,
        ...(fault.retryAfter === undefined ? {} : { 'retry-after': fault.retryAfter }),
      });
      res.end(JSON.stringify(problemBody));
      seen.outcome = fault.status;
      return;
    }
    const producerId = req.headers['x-producer-id'];
    const timestamp = req.headers['x-timestamp'];
    const key = seen.idempotencyKey;
    if (!/^application\/json\b/i.test(req.headers['content-type'] ?? '')) {
      seen.outcome = sendProblem(res, 'unsupported-media-type');
      return;
    }
    if (typeof producerId !== 'string' || !isValidProducerId(producerId) || typeof timestamp !== 'string') {
      seen.outcome = sendProblem(res, 'missing-auth-headers');
      return;
    }
    const at = parseTimestamp(timestamp);
    if (at === undefined || Math.abs(at - Date.now()) > tolerance) {
      seen.outcome = sendProblem(
        res,
        'timestamp-out-of-window',
        `server time ${formatTimestamp(Date.now())}`,
      );
      return;
    }
    if (!seen.signatureValid) {
      seen.outcome = sendProblem(res, 'invalid-signature');
      return;
    }
    if (key !== undefined && !isValidIdempotencyKey(key)) {
      seen.outcome = sendProblem(res, 'invalid-idempotency-key');
      return;
    }
    let json: unknown;
    try {
      json = JSON.parse(body);
    } catch {
      seen.outcome = sendProblem(res, 'malformed-json');
      return;
    }
    const valid = validateSignal(json);
    if (!valid.ok) {
      seen.outcome = sendProblem(res, 'invalid-signal', undefined, { errors: valid.errors });
      return;
    }
    const hash = createHash('sha256').update(body).digest('hex');
    if (key !== undefined) {
      const existing = findKey.get(producerId, key);
      if (existing !== undefined) {
        if (existing.request_hash !== hash) {
          seen.outcome = sendProblem(res, 'idempotency-key-reused');
          return;
        }
        (seen as { replayed: boolean }).replayed = true;
        res.writeHead(201, { 'content-type': 'application/json', [HEADERS.idempotentReplayed]: 'true' });
        res.end(existing.response);
        seen.outcome = 201;
        return;
      }
    }
    const text = accept(producerId, key, valid.value.instrument, body, hash);
    if (fault === 'commit-then-drop') {
      seen.outcome = 'dropped';
      req.socket.destroy();
      return;
    }
    res.writeHead(201, { 'content-type': 'application/json' });
    res.end(text);
    seen.outcome = 201;
  };

  const server: Server = createServer((req, res) => {
    if (req.method !== 'POST' || req.url !== INGEST_PATH) {
      sendProblem(res, req.url === INGEST_PATH ? 'method-not-allowed' : 'not-found');
      return;
    }
    const declared = Number(req.headers['content-length'] ?? Number.NaN);
    if (declared > MAX_BODY_BYTES) {
      sendProblem(res, 'body-too-large');
      req.socket.destroy();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        sendProblem(res, 'body-too-large');
        req.socket.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (size > MAX_BODY_BYTES) return;
      const body = Buffer.concat(chunks).toString('utf8');
      const producerId = req.headers['x-producer-id'];
      const secret = typeof producerId === 'string' ? options.producers[producerId] : undefined;
      const keyHeader = req.headers['x-idempotency-key'];
      let instrument: string | undefined;
      try {
        instrument = (JSON.parse(body) as { instrument?: string }).instrument;
      } catch {
        instrument = undefined;
      }
      const seen: SeenRequest = {
        index: requests.length,
        idempotencyKey: typeof keyHeader === 'string' ? keyHeader : undefined,
        timestamp: typeof req.headers['x-timestamp'] === 'string' ? req.headers['x-timestamp'] : undefined,
        signatureValid:
          secret !== undefined &&
          verifySignature({
            secret,
            body,
            timestamp: String(req.headers['x-timestamp'] ?? ''),
            producerId: String(producerId),
            providedSignature: String(req.headers['x-signature'] ?? ''),
          }),
        body,
        instrument,
        outcome: 'pending',
        replayed: false,
      };
      requests.push(seen);
      concurrency.now += 1;
      concurrency.max = Math.max(concurrency.max, concurrency.now);
      const instrumentKey = instrument ?? '';
      const count = (perInstrument.get(instrumentKey) ?? 0) + 1;
      perInstrument.set(instrumentKey, count);
      concurrency.maxPerInstrument = Math.max(concurrency.maxPerInstrument, count);
      handle(req, res, body, seen)
        .catch((error: unknown) => {
          if (!res.headersSent) sendProblem(res, 'internal', String(error));
        })
        .finally(() => {
          concurrency.now -= 1;
          perInstrument.set(instrumentKey, (perInstrument.get(instrumentKey) ?? 1) - 1);
        });
    });
  });
  const { url, port, close } = await listenLocal(server, options.port ?? 0);
  return {
    url,
    port,
    requests,
    concurrency,
    signals: () => db.prepare<[], StoredSignal>('SELECT * FROM signals ORDER BY rowid').all(),
    close: async () => {
      await close();
      db.close();
    },
  };
}
