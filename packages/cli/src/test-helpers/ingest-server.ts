// A real node:http ingest server on 127.0.0.1 (port 0) for the `send` tests. It checks each request's
// signature with node:crypto alone (the recipe of docs/protocol.md, not the protocol package), records
// the request, and answers 201 unless the test scripts another answer.
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import {
  type LocalServer,
  listenLocal,
  requestVerifiesIndependently,
  SERVER_TIMESTAMP,
} from '../../../../test-support/fixtures.js';

export { SERVER_TIMESTAMP };

export interface ReceivedRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
  /** True when X-Signature verified against the server's secret. */
  readonly verified: boolean;
  /** The body parsed as JSON (undefined when it is not JSON). */
  readonly json: Record<string, unknown> | undefined;
}

/** Answers a verified request; return nothing to send the default 201. */
export type Script = (request: ReceivedRequest) => { status: number; body: unknown } | undefined;

export interface IngestServer {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly requests: ReceivedRequest[];
  close(): Promise<void>;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const type = status === 201 ? 'application/json' : 'application/problem+json';
  res.writeHead(status, { 'content-type': type }).end(JSON.stringify(body));
}

/** The 201 body for a request: the signal id is made from the signal's reason, so tests can predict it. */
export function acceptedResponse(json: Record<string, unknown> | undefined) {
  return {
    signal_id: `sig-${String(json?.reason)}`,
    status: 'received',
    server_timestamp: SERVER_TIMESTAMP,
    message: null,
    errors: null,
  };
}

export interface IngestServerOptions {
  readonly secret: string;
  readonly script?: Script;
  /** Awaited before a request is answered (it is already recorded), to hold answers until the test is ready. */
  readonly hold?: (request: ReceivedRequest) => Promise<void> | undefined;
}

export async function startIngestServer(options: IngestServerOptions): Promise<IngestServer> {
  const requests: ReceivedRequest[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const verified = requestVerifiesIndependently(options.secret, { headers: req.headers, body });
      let json: Record<string, unknown> | undefined;
      try {
        json = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
      } catch {
        json = undefined;
      }
      const request = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body,
        verified,
        json,
      };
      requests.push(request);
      const held = options.hold?.(request);
      if (held) void held.then(() => answer(request));
      else answer(request);
    });

    function answer(request: ReceivedRequest): void {
      if (!request.verified) {
        send(res, 401, {
          type: 'urn:sigpost:problem:invalid-signature',
          title: 'Unknown producer or invalid signature',
          status: 401,
          detail: 'Check the producer id and its secret.',
        });
        return;
      }
      const scripted = options.script?.(request);
      if (scripted) send(res, scripted.status, scripted.body);
      else send(res, 201, acceptedResponse(request.json));
    }
  });
  return { ...(await listenLocal(server)), requests };
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
