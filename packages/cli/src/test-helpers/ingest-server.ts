// A real node:http ingest server on 127.0.0.1 (port 0) for the `send` tests. It checks each request's
// signature with node:crypto alone (the recipe of docs/protocol.md, not the protocol package), records
// the request, and answers 201 unless the test scripts another answer.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

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

export const SERVER_TIMESTAMP = '2025-10-25T14:30:46.123456Z';

function verify(
  secret: string,
  body: Buffer,
  timestamp: string,
  producerId: string,
  signature: string,
): boolean {
  const bodySha = createHash('sha256').update(body).digest('base64');
  const canonical = `METHOD:POST\nENDPOINT:/api/v1/signals/ingest\nTIMESTAMP:${timestamp}\nPRODUCER_ID:${producerId}\nBODY_SHA256:${bodySha}`;
  const expected = createHmac('sha256', secret).update(canonical).digest();
  const provided = Buffer.from(signature, 'base64');
  return provided.length === expected.length && timingSafeEqual(provided, expected);
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

export async function startIngestServer(options: { secret: string; script?: Script }): Promise<IngestServer> {
  const requests: ReceivedRequest[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const header = (name: string) => String(req.headers[name] ?? '');
      const verified = verify(
        options.secret,
        body,
        header('x-timestamp'),
        header('x-producer-id'),
        header('x-signature'),
      );
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
      if (!verified) {
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
      else send(res, 201, acceptedResponse(json));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}

/** A server that accepts connections and never answers, for timeouts. */
export async function startSilentServer(): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer(() => {
    // Never answers: the client's timeout has to end the request.
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A port on 127.0.0.1 where nothing listens (it was bound, then released). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
