// A real node:http server on 127.0.0.1, port 0, that records every request it receives, for tests that
// observe the wire. Each test scripts the answers through `respond`.
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import { type LocalServer, listenLocal } from '../../../../test-support/fixtures.js';

export interface RecordedRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  /** Header names exactly as sent, in order. */
  readonly headerNames: readonly string[];
  readonly body: Buffer;
  /** The client's port: the same value on two requests means the connection was kept alive. */
  readonly remotePort: number | undefined;
}

export type Respond = (req: RecordedRequest, res: ServerResponse, index: number) => void;

export interface TestServer extends LocalServer {
  readonly requests: RecordedRequest[];
}

export async function startServer(respond: Respond): Promise<TestServer> {
  const requests: RecordedRequest[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const headerNames = req.rawHeaders.filter((_, i) => i % 2 === 0);
      const recorded: RecordedRequest = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        headerNames,
        body: Buffer.concat(chunks),
        remotePort: req.socket.remotePort,
      };
      requests.push(recorded);
      respond(recorded, res, requests.length - 1);
    });
  });
  return { ...(await listenLocal(server)), requests };
}

// The valid ingest answer, for the tests that take their server helpers from here.
export { INGEST_RESPONSE } from '../../../../test-support/fixtures.js';

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
  problem: Record<string, unknown>,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify({ status, ...problem });
  res.writeHead(status, { 'content-type': 'application/problem+json', ...headers });
  res.end(text);
}
