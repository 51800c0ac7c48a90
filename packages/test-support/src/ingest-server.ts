// The one fake ingest server of the tests: a real node:http server on 127.0.0.1 (port 0 unless given)
// that records every request it receives. Three ways to use it:
// - `respond`: the test writes each answer itself (wire-level tests of the client: headers, keep-alive).
// - the default: an ingest endpoint. With `secret` or `producers` it checks X-Signature with
//   @sigpost/protocol's `verifySignature` and answers 401 to a request that does not verify; it answers
//   201 with `accept(request)` and keeps the accepted signals in memory (`signals()`). With `idempotency`
//   it also replays the first answer to a repeated idempotency key (Idempotent-Replayed: true).
// - `script`: per request, a scripted answer (a status and body or problem, a dropped connection, an
//   accepted signal whose answer is lost) or a delay before it is answered.
// The timestamp window, body limits and validation are not checked: that is the real server's job
// (packages/ingest), tested there; here a test scripts such answers.
import { createHash } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import {
  HEADERS,
  PROBLEM_CONTENT_TYPE,
  type ProblemCode,
  problem,
  type SignalIngestResponse,
  verifySignature,
} from '@sigpost/protocol';
import { type LocalServer, listenLocal, SERVER_TIMESTAMP } from './fixtures.js';

export interface IngestRequest {
  /** Position in arrival order, from 0. */
  readonly index: number;
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  /** Header names exactly as sent, in order. */
  readonly headerNames: readonly string[];
  readonly body: Buffer;
  /** The body as UTF-8 text. */
  readonly text: string;
  /** The body parsed as a JSON object (undefined when it is not one). */
  readonly json: Record<string, unknown> | undefined;
  /** The client's port: the same value on two requests means the connection was kept alive. */
  readonly remotePort: number | undefined;
  readonly producerId: string | undefined;
  readonly idempotencyKey: string | undefined;
  readonly timestamp: string | undefined;
  /** The signal's `instrument`, when the body has one. */
  readonly instrument: string | undefined;
  /**
   * X-Signature checked with @sigpost/protocol's `verifySignature` against the secret of X-Producer-Id
   * (`secret` or `producers`); false when the server knows no secret for it.
   */
  readonly verified: boolean;
  /** What the server answered: a status, `'dropped'`, or `'pending'` while it is held or with `respond`. */
  outcome: number | 'dropped' | 'pending';
  /** True when the answer was the replay of an earlier one (same idempotency key). */
  replayed: boolean;
}

/** The test answers each request itself (`index` counts from 0). */
export type Respond = (request: IngestRequest, res: ServerResponse, index: number) => void;

/** A scripted answer to one request. */
export type Answer =
  /**
   * Answer with this status and `body` (as JSON: application/json for a 2xx, else problem+json), or
   * without `body` with the problem of `code` (default: rate-limited for a 429, else internal). Nothing
   * is stored.
   */
  | {
      readonly status: number;
      readonly body?: unknown;
      readonly code?: ProblemCode;
      readonly retryAfter?: string;
    }
  /** Hold the request until `hold` settles, then answer it as if there were no script. */
  | { readonly hold: Promise<void> }
  /** Close the connection without answering (nothing stored). */
  | 'drop'
  /** Accept the signal, then close the connection without answering: the answer is lost. */
  | 'commit-then-drop';

/** Return an answer for a verified request, or nothing for the default (accept it). */
export type Script = (request: IngestRequest) => Answer | undefined;

export interface StoredSignal {
  readonly signal_id: string;
  readonly producer_id: string;
  readonly idempotency_key: string | null;
  readonly instrument: string;
  /** The body as received. */
  readonly body: string;
}

export interface IngestServerOptions {
  /** Answer every request yourself; the options below then do nothing. */
  readonly respond?: Respond;
  /** The secret of every producer id (for tests with one producer). */
  readonly secret?: string;
  /** Producer id → secret. */
  readonly producers?: Readonly<Record<string, string>>;
  /**
   * Called for each verified request (it is already recorded, and counted in `concurrency`); return an
   * answer to answer differently, or to hold it until the test is ready.
   */
  readonly script?: Script;
  /**
   * Keep the first answer to each (producer, idempotency key) and replay it to the same body under that
   * key; another body under it gets the 422 `idempotency-key-reused`. @default false
   */
  readonly idempotency?: boolean;
  /** The 201 body of an accepted signal. @default acceptedResponse(request.json) */
  readonly accept?: (request: IngestRequest) => SignalIngestResponse;
  /** @default 0 (a free port) */
  readonly port?: number;
}

export interface IngestServer extends LocalServer {
  /** Every request received, in arrival order. */
  readonly requests: IngestRequest[];
  /** Requests being answered now, and the most at once so far (in all, and of one instrument). */
  readonly concurrency: { now: number; max: number; maxPerInstrument: number };
  /** The signals accepted, in order. */
  signals(): StoredSignal[];
}

/** The 201 body for a signal: its id is made from the signal's reason, so tests can predict it. */
export function acceptedResponse(json: Record<string, unknown> | undefined): SignalIngestResponse {
  return {
    signal_id: `sig-${String(json?.reason)}`,
    status: 'received',
    server_timestamp: SERVER_TIMESTAMP,
    message: null,
    errors: null,
  };
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

export function sendProblem(
  res: ServerResponse,
  status: number,
  problemBody: Record<string, unknown>,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify({ status, ...problemBody });
  res.writeHead(status, { 'content-type': PROBLEM_CONTENT_TYPE, ...headers });
  res.end(text);
}

const header = (headers: IncomingHttpHeaders, name: string): string | undefined => {
  const value = headers[name];
  return typeof value === 'string' ? value : undefined;
};

/**
 * Starts the fake ingest server; `startIngestServer(respond)` is `startIngestServer({ respond })`.
 *
 * @example
 * const server = await startIngestServer({ secret: SECRET, script: (r) => (r.index === 0 ? { status: 503 } : undefined) });
 */
export async function startIngestServer(options: IngestServerOptions | Respond = {}): Promise<IngestServer> {
  const opts: IngestServerOptions = typeof options === 'function' ? { respond: options } : options;
  const requests: IngestRequest[] = [];
  const stored: StoredSignal[] = [];
  /** producer id + key → the body's hash and the answer sent. */
  const answered = new Map<string, { hash: string; text: string }>();
  const concurrency = { now: 0, max: 0, maxPerInstrument: 0 };
  const perInstrument = new Map<string, number>();
  const secretOf = (producerId: string | undefined) =>
    producerId === undefined ? undefined : (opts.producers?.[producerId] ?? opts.secret);

  const answer = async (request: IngestRequest, res: ServerResponse): Promise<void> => {
    if (!request.verified) {
      const body = problem('invalid-signature', 'Check the producer id and its secret.');
      sendProblem(res, body.status, body);
      request.outcome = body.status;
      return;
    }
    let scripted = opts.script?.(request);
    if (typeof scripted === 'object' && 'hold' in scripted) {
      await scripted.hold;
      scripted = undefined;
    }
    if (scripted === 'drop') {
      request.outcome = 'dropped';
      res.socket?.destroy();
      return;
    }
    if (scripted !== undefined && scripted !== 'commit-then-drop') {
      const code = scripted.code ?? (scripted.status === 429 ? 'rate-limited' : 'internal');
      const body = scripted.body ?? { ...problem(code), status: scripted.status };
      res.writeHead(scripted.status, {
        'content-type': scripted.status < 300 ? 'application/json' : PROBLEM_CONTENT_TYPE,
        ...(scripted.retryAfter === undefined ? {} : { 'retry-after': scripted.retryAfter }),
      });
      res.end(JSON.stringify(body));
      request.outcome = scripted.status;
      return;
    }
    const key =
      !opts.idempotency || request.idempotencyKey === undefined
        ? undefined
        : `${request.producerId}\n${request.idempotencyKey}`;
    const hash = createHash('sha256').update(request.body).digest('hex');
    const earlier = key === undefined ? undefined : answered.get(key);
    if (earlier !== undefined && earlier.hash === hash) {
      request.replayed = true;
      res.writeHead(201, { 'content-type': 'application/json', [HEADERS.idempotentReplayed]: 'true' });
      res.end(earlier.text);
      request.outcome = 201;
      return;
    }
    if (earlier !== undefined) {
      const body = problem('idempotency-key-reused');
      sendProblem(res, body.status, body);
      request.outcome = body.status;
      return;
    }
    const response = (opts.accept ?? ((r: IngestRequest) => acceptedResponse(r.json)))(request);
    const text = JSON.stringify(response);
    stored.push({
      signal_id: response.signal_id,
      producer_id: request.producerId ?? '',
      idempotency_key: request.idempotencyKey ?? null,
      instrument: request.instrument ?? '',
      body: request.text,
    });
    if (key !== undefined) answered.set(key, { hash, text });
    if (scripted === 'commit-then-drop') {
      request.outcome = 'dropped';
      res.socket?.destroy();
      return;
    }
    res.writeHead(201, { 'content-type': 'application/json' }).end(text);
    request.outcome = 201;
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const text = body.toString('utf8');
      let json: Record<string, unknown> | undefined;
      try {
        const parsed: unknown = JSON.parse(text);
        json =
          typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : undefined;
      } catch {
        json = undefined;
      }
      const producerId = header(req.headers, 'x-producer-id');
      const timestamp = header(req.headers, 'x-timestamp');
      const secret = secretOf(producerId);
      const request: IngestRequest = {
        index: requests.length,
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        headerNames: req.rawHeaders.filter((_, i) => i % 2 === 0),
        body,
        text,
        json,
        remotePort: req.socket.remotePort,
        producerId,
        idempotencyKey: header(req.headers, 'x-idempotency-key'),
        timestamp,
        instrument: typeof json?.instrument === 'string' ? json.instrument : undefined,
        verified:
          secret !== undefined &&
          verifySignature({
            secret,
            body,
            timestamp: timestamp ?? '',
            producerId: producerId ?? '',
            providedSignature: header(req.headers, 'x-signature') ?? '',
          }),
        outcome: 'pending',
        replayed: false,
      };
      requests.push(request);
      if (opts.respond) {
        opts.respond(request, res, request.index);
        return;
      }
      const instrument = request.instrument ?? '';
      const ofInstrument = (perInstrument.get(instrument) ?? 0) + 1;
      perInstrument.set(instrument, ofInstrument);
      concurrency.now += 1;
      concurrency.max = Math.max(concurrency.max, concurrency.now);
      concurrency.maxPerInstrument = Math.max(concurrency.maxPerInstrument, ofInstrument);
      answer(request, res)
        .catch((error: unknown) => {
          if (!res.headersSent) sendProblem(res, 500, problem('internal', String(error)));
        })
        .finally(() => {
          concurrency.now -= 1;
          perInstrument.set(instrument, (perInstrument.get(instrument) ?? 1) - 1);
        });
    });
  });
  return {
    ...(await listenLocal(server, opts.port ?? 0)),
    requests,
    concurrency,
    signals: () => [...stored],
  };
}

/** A server that accepts connections and never answers, for timeouts. */
export function startSilentServer(): Promise<LocalServer> {
  const server = createServer(() => {
    // Never answers: the client's timeout has to end the request.
  });
  return listenLocal(server);
}

/** A port on 127.0.0.1 where nothing listens (it was bound, then released). */
export async function closedPort(): Promise<number> {
  const { port, close } = await listenLocal(createServer());
  await close();
  return port;
}
