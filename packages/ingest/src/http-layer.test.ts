// What node's HTTP layer and fastify answer on their own (malformed requests, timeouts, the
// connection cap), on a real socket: raw bytes over node:net to a server on 127.0.0.1, port 0.
import { connect, type Socket } from 'node:net';
import { INGEST_PATH, PROBLEMS, type ProblemCode } from '@sigpost/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import type { ServerConfigInput } from './config.js';
import { type TestEnv, testEnv } from './test-helpers/fixtures.js';

let env: TestEnv | undefined;
const sockets: Socket[] = [];

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  await env?.close();
  env = undefined;
});

/** A listening app (real SQLite store, captured logs); returns its port. */
async function listen(config: ServerConfigInput = {}): Promise<number> {
  env = await testEnv({ config });
  await env.app.listen({ host: '127.0.0.1', port: 0 });
  const address = env.app.server.address();
  if (address === null || typeof address === 'string') throw new Error('not listening on TCP');
  return address.port;
}

function open(port: number): Socket {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => {
    // A reset after the answer is not what these tests look at; the bytes received are.
  });
  sockets.push(socket);
  return socket;
}

interface Exchange {
  /** Everything the server sent before closing the connection. */
  readonly raw: string;
  readonly statusLine: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/** Everything received on `socket` until the server closes it. */
function untilClosed(socket: Socket): Promise<Exchange> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('close', () => {
      const raw = Buffer.concat(chunks).toString('latin1');
      const end = raw.indexOf('\r\n\r\n');
      const head = end === -1 ? raw : raw.slice(0, end);
      const [statusLine = '', ...lines] = head.split('\r\n');
      const headers: Record<string, string> = {};
      for (const line of lines) {
        const colon = line.indexOf(':');
        if (colon > 0) headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
      }
      resolve({ raw, statusLine, headers, body: end === -1 ? '' : raw.slice(end + 4) });
    });
  });
}

/** Sends `bytes` on a fresh connection and returns what came back before the server closed it. */
async function exchange(port: number, bytes: string | Buffer): Promise<Exchange> {
  const socket = open(port);
  const done = untilClosed(socket);
  socket.write(bytes);
  return done;
}

/** Asserts a complete problem+json answer of `code` that closes the connection. */
function expectProblem(answer: Exchange, code: ProblemCode): Record<string, unknown> {
  const { status } = PROBLEMS[code];
  expect(answer.statusLine, answer.raw).toMatch(new RegExp(`^HTTP/1\\.1 ${status} `));
  expect(answer.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(answer.headers.connection).toBe('close');
  const body = answer.headers['transfer-encoding'] === 'chunked' ? dechunk(answer.body) : answer.body;
  if (answer.headers['content-length'] !== undefined)
    expect(Buffer.byteLength(body, 'latin1')).toBe(Number(answer.headers['content-length']));
  const problem = JSON.parse(Buffer.from(body, 'latin1').toString('utf8')) as Record<string, unknown>;
  expect(problem).toMatchObject({ type: `urn:sigpost:problem:${code}`, status });
  expect(problem.detail).toEqual(expect.any(String));
  return problem;
}

function dechunk(text: string): string {
  let out = '';
  let rest = text;
  for (;;) {
    const lineEnd = rest.indexOf('\r\n');
    const size = Number.parseInt(rest.slice(0, lineEnd), 16);
    if (!(size > 0)) return out;
    out += rest.slice(lineEnd + 2, lineEnd + 2 + size);
    rest = rest.slice(lineEnd + 2 + size + 2);
  }
}

const GET = 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n';
const POST = `POST ${INGEST_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n`;

describe('refusals of the HTTP parser are problem+json', () => {
  it.each([
    { name: 'a NUL in a header value', bytes: `${GET}X-Note: a\0b\r\n\r\n`, detail: /header line/ },
    { name: 'a bare LF ending a header', bytes: `${GET}X-Note: a\nX-Other: b\r\n\r\n`, detail: /header/ },
    { name: 'a bare CR inside a header', bytes: `${GET}X-Note: a\rb\r\n\r\n`, detail: /header line/ },
    { name: 'a folded header', bytes: `${GET}X-Note: a\r\n  continued\r\n\r\n`, detail: /folded/ },
    { name: 'a space before the colon', bytes: `${GET}X-Note : a\r\n\r\n`, detail: /header line/ },
    {
      name: 'two Content-Length headers',
      bytes: `${POST}Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}`,
      detail: /Duplicate Content-Length/,
    },
    {
      name: 'Content-Length with Transfer-Encoding: chunked',
      bytes: `${POST}Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n`,
      detail: /body length is ambiguous/,
    },
    {
      name: 'a Content-Length that is not a number',
      bytes: `${POST}Content-Length: 2x\r\n\r\n{}`,
      detail: /Content-Length/,
    },
    {
      name: 'a chunk size that is not hexadecimal',
      bytes: `${POST}Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n`,
      detail: /chunked body is malformed/,
    },
    {
      name: 'a transfer coding other than chunked',
      bytes: `${POST}Transfer-Encoding: gzip\r\n\r\n{}`,
      detail: /body length/,
    },
    { name: 'an unknown method', bytes: 'BREW /healthz HTTP/1.1\r\nHost: a\r\n\r\n', detail: /method/ },
    {
      name: 'an HTTP/2 preface',
      bytes: 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n',
      detail: /^an HTTP\/2 connection preface \(PRI \* HTTP\/2\.0\): this port serves HTTP\/1\.1/,
    },
    {
      name: 'HTTP/3.0',
      bytes: 'GET /healthz HTTP/3.0\r\nHost: a\r\n\r\n',
      detail: /^HTTP\/3\.0 is not served on this port, which serves HTTP\/1\.1 \(and 1\.0\) only/,
    },
    {
      // llhttp parses this one; the onRequest hook refuses it.
      name: 'a request line claiming HTTP/2.0',
      bytes: 'GET /healthz HTTP/2.0\r\nHost: a\r\n\r\n',
      detail: /^HTTP\/2\.0 is not served on this port, which serves HTTP\/1\.1 \(and 1\.0\) only/,
    },
    {
      // HTTP/0.9 (no version): llhttp parses it; the onRequest hook refuses it.
      name: 'an HTTP/0.9 request line',
      bytes: 'GET /healthz\r\n\r\n',
      detail: /^HTTP\/0\.9 is not served on this port/,
    },
    {
      name: 'HTTP/1.2',
      bytes: 'GET /healthz HTTP/1.2\r\nHost: a\r\n\r\n',
      detail: /^HTTP\/1\.2 is not an HTTP version this port serves; send HTTP\/1\.1/,
    },
    {
      name: 'a bare LF after the request line (not a version problem)',
      bytes: 'GET /healthz HTTP/1.1\nHost: x\n\n',
      detail: /^the request line ends in a bare LF: end the request line, and every header line, with CRLF/,
    },
    {
      name: 'a space after the version',
      bytes: 'GET /healthz HTTP/1.1 \r\nHost: x\r\n\r\n',
      detail: /^the request line has characters after the version/,
    },
    {
      name: 'a TLS ClientHello (an https:// URL on this plain-HTTP port)',
      bytes: Buffer.from('16030100c4010000c00303', 'hex'),
      detail: /^TLS handshake on a plain-HTTP port: use http:\/\//,
    },
    {
      name: 'two Host headers (RFC 9112 §3.2)',
      bytes: 'GET /healthz HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n',
      detail: /^the request has 2 Host headers; send exactly one \(RFC 9112 §3\.2\)$/,
    },
    {
      name: 'two Host headers written differently, in HTTP/1.0',
      bytes: 'GET /healthz HTTP/1.0\r\nHost: x\r\nhOST: x\r\n\r\n',
      detail: /2 Host headers/,
    },
  ])('400 malformed-http for $name', async ({ bytes, detail }) => {
    const port = await listen();
    const problem = expectProblem(await exchange(port, bytes), 'malformed-http');
    expect(problem.detail).toMatch(detail);
  });

  it('400 malformed-http when the client half-closes before its body is complete', async () => {
    const port = await listen();
    const socket = open(port);
    const done = untilClosed(socket);
    socket.end(`${POST}Content-Length: 100\r\n\r\n{"side":`);
    const problem = expectProblem(await done, 'malformed-http');
    expect(problem.detail).toMatch(/closed its side of the connection/);
  });

  it('answers a malformed pipelined request after the answer to the request before it', async () => {
    const port = await listen();
    const answer = await exchange(port, `${GET}\r\n${GET}X-Note: a\0b\r\n\r\n`);
    expect(answer.statusLine).toMatch(/^HTTP\/1\.1 200 /);
    const second = answer.raw.slice(answer.raw.indexOf('{"status":"ok"}') + '{"status":"ok"}'.length);
    const end = second.indexOf('\r\n\r\n');
    const [statusLine = '', ...lines] = second.slice(0, end).split('\r\n');
    const headers = Object.fromEntries(
      lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]),
    );
    expectProblem({ raw: second, statusLine, headers, body: second.slice(end + 4) }, 'malformed-http');
  });

  it('431 headers-too-large for more than 16 KiB of headers, without logging the request bytes', async () => {
    const port = await listen();
    const marker = 'sgp_secret_marker';
    const bytes = `${GET}Authorization: Bearer ${marker}\r\nX-Padding: ${'a'.repeat(17_000)}\r\n\r\n`;
    const problem = expectProblem(await exchange(port, bytes), 'headers-too-large');
    expect(problem.detail).toContain('16384 bytes');
    const logs = env?.logs.join('') ?? '';
    expect(logs).toContain('"problem":"headers-too-large"');
    expect(logs).not.toContain(marker);
  });

  it('400 malformed-http for an HTTP/1.1 request without Host (node answers a bare 400 by itself)', async () => {
    const port = await listen();
    const problem = expectProblem(await exchange(port, 'GET /healthz HTTP/1.1\r\n\r\n'), 'malformed-http');
    expect(problem.detail).toMatch(/Host header/);
  });

  it('still serves HTTP/1.0, which has no Host', async () => {
    const port = await listen();
    const answer = await exchange(port, 'GET /healthz HTTP/1.0\r\n\r\n');
    expect(answer.statusLine).toMatch(/^HTTP\/1\.1 200 /);
  });

  it('417 expectation-failed for an Expect other than 100-continue (node answers a bare 417)', async () => {
    const port = await listen();
    const problem = expectProblem(await exchange(port, `${GET}Expect: teapot\r\n\r\n`), 'expectation-failed');
    expect(problem.detail).toMatch(/100-continue/);
  });

  it('405 method-not-allowed for CONNECT (node drops the connection without an answer)', async () => {
    const port = await listen();
    const answer = await exchange(port, 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n');
    expectProblem(answer, 'method-not-allowed');
    expect(answer.headers.allow).toBe('GET, HEAD, POST');
  });

  it('400 invalid-request for a path parameter over 100 characters (fastify answered 500)', async () => {
    const port = await listen();
    const answer = await exchange(
      port,
      `GET /api/v1/operator/signals/sig_${'x'.repeat(120)} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`,
    );
    expectProblem(answer, 'invalid-request');
  });

  it('counts parser refusals on /metrics', async () => {
    const port = await listen();
    await exchange(port, `${GET}X-Note: a\0b\r\n\r\n`);
    const metrics = await exchange(port, `GET /metrics HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`);
    expect(metrics.body).toMatch(
      /sigpost_requests_total\{route="\(unparsed\)",outcome="refused",problem="malformed-http"\} 1/,
    );
  });
});

describe('timeouts', () => {
  it('408 request-timeout when the body never arrives whole (Content-Length 1000, 10 bytes sent)', async () => {
    const port = await listen({ headersTimeoutMs: 200, requestTimeoutMs: 300 });
    const started = Date.now();
    const answer = await exchange(port, `${POST}Content-Length: 1000\r\n\r\n0123456789`);
    const elapsed = Date.now() - started;
    const problem = expectProblem(answer, 'request-timeout');
    expect(problem.detail).toMatch(/request body did not arrive within 300 ms/);
    expect(elapsed).toBeGreaterThanOrEqual(280);
    expect(elapsed).toBeLessThan(5_000);
    // The cut request is logged and counted under its route, not as a server fault.
    const metrics = await exchange(port, `GET /metrics HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`);
    expect(metrics.body).toContain(
      `sigpost_requests_total{route="${INGEST_PATH}",outcome="refused",problem="request-timeout"} 1`,
    );
    expect(env?.logs.join('') ?? '').not.toContain('"level":50');
  });

  it('closes the connection after answering before the body arrived, with no second answer (408) later', async () => {
    const port = await listen({ headersTimeoutMs: 200, requestTimeoutMs: 300 });
    // The operator API refuses a missing token from the headers; 1 of 100 body bytes is ever sent.
    const answer = await exchange(
      port,
      'POST /api/v1/operator/signals/sig_x/approve HTTP/1.1\r\nHost: a\r\n' +
        'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{',
    );
    expectProblem(answer, 'operator-unauthorized');
    expect(answer.raw.match(/HTTP\/1\.1 /g)).toHaveLength(1);
  });

  it('408 request-timeout when the headers never end', async () => {
    const port = await listen({ headersTimeoutMs: 200, requestTimeoutMs: 5_000 });
    const answer = await exchange(port, `${POST}X-Producer-Id: slow`);
    const problem = expectProblem(answer, 'request-timeout');
    expect(problem.detail).toMatch(/headers did not arrive within 200 ms/);
  });

  it('408 request-timeout for a connection that sends nothing', async () => {
    const port = await listen({ headersTimeoutMs: 200, requestTimeoutMs: 300 });
    const socket = open(port);
    expectProblem(await untilClosed(socket), 'request-timeout');
  });

  it('closes an idle keep-alive connection after keepAliveTimeoutMs, and says so in Keep-Alive', async () => {
    const port = await listen({ keepAliveTimeoutMs: 100 });
    const socket = open(port);
    const closed = untilClosed(socket);
    socket.write(`${GET}\r\n`);
    const answer = await closed;
    expect(answer.statusLine).toMatch(/^HTTP\/1\.1 200 /);
    expect(answer.headers.connection).toBe('keep-alive');
    expect(answer.headers['keep-alive']).toBe('timeout=0');
    // Closed by the server, with nothing after the one response.
    expect(answer.body).toBe('{"status":"ok"}');
  });

  it('keeps the defaults bounded', async () => {
    await listen();
    const server = env?.app.server;
    expect(server?.headersTimeout).toBe(10_000);
    expect(server?.requestTimeout).toBe(10_000);
    expect(server?.keepAliveTimeout).toBe(72_000);
    expect(server?.maxConnections).toBe(1_024);
  });
});

describe('connection cap', () => {
  it('closes connections beyond maxConnections at once, and serves again once slow ones go', async () => {
    const cap = 3;
    const port = await listen({ maxConnections: cap, headersTimeoutMs: 5_000, requestTimeoutMs: 5_000 });
    const server = env?.app.server;
    if (!server) throw new Error('no server');
    const serverSide: Socket[] = [];
    server.on('connection', (socket: Socket) => serverSide.push(socket));

    // `cap` slow bodies: headers sent, 10 of 1000 body bytes, then nothing.
    const slow: Socket[] = [];
    for (let i = 0; i < cap; i++) {
      const socket = open(port);
      const accepted = new Promise<void>((resolve) => server.once('connection', () => resolve()));
      socket.write(`${POST}Content-Length: 1000\r\n\r\n0123456789`);
      await accepted;
      slow.push(socket);
    }
    const dropped = new Promise<void>((resolve) => server.once('drop', () => resolve()));
    const extra = open(port);
    const extraAnswer = untilClosed(extra);
    extra.write(`${GET}\r\n`);
    await dropped;
    expect((await extraAnswer).raw).toBe('');
    expect(serverSide).toHaveLength(cap);

    // The slow clients give up; once their connections are gone, a normal request is served.
    const gone = serverSide.map((s) => new Promise((resolve) => s.once('close', resolve)));
    for (const socket of slow) socket.destroy();
    await Promise.all(gone);
    const answer = await exchange(port, `GET /metrics HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`);
    expect(answer.statusLine).toMatch(/^HTTP\/1\.1 200 /);
    expect(answer.body).toContain('sigpost_connections_refused_total 1');
    // Only the connection asking for the metrics is left.
    expect(answer.body).toContain('sigpost_open_connections 1\n');
  });

  it("with maxConnectionsPerAddress, closes one address's connections beyond it while others still connect", async () => {
    const port = await listen({ maxConnectionsPerAddress: 2 });
    const server = env?.app.server;
    if (!server) throw new Error('no server');
    const serverSide: Socket[] = [];
    server.on('connection', (socket: Socket) => serverSide.push(socket));
    // Two idle keep-alive connections from 127.0.0.1, each answered once (so the server holds them).
    const held: Socket[] = [];
    for (let i = 0; i < 2; i++) {
      const socket = open(port);
      const answered = new Promise<void>((resolve) => socket.once('data', () => resolve()));
      socket.write(`${GET}\r\n`);
      await answered;
      held.push(socket);
    }
    // A third from the same address is closed at once, with nothing read or answered.
    const third = open(port);
    const thirdAnswer = untilClosed(third);
    third.write(`${GET}\r\n`);
    expect((await thirdAnswer).raw).toBe('');
    // Another address (127.0.0.2, also the loopback) is served.
    const other = connect({ port, host: '127.0.0.1', localAddress: '127.0.0.2' });
    other.on('error', () => {});
    sockets.push(other);
    const otherAnswer = untilClosed(other);
    other.write(`GET /metrics HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`);
    const metrics = await otherAnswer;
    expect(metrics.statusLine).toMatch(/^HTTP\/1\.1 200 /);
    expect(metrics.body).toContain('sigpost_connections_refused_total 1\n');
    // Once one of the two goes, the first address may connect again.
    const first = serverSide.find((s) => s.remotePort === held[0]?.localPort);
    if (!first) throw new Error('no server side of the first connection');
    const gone = new Promise((resolve) => first.once('close', resolve));
    held[0]?.destroy();
    await gone;
    const again = await exchange(port, `${GET}Connection: close\r\n\r\n`);
    expect(again.statusLine).toMatch(/^HTTP\/1\.1 200 /);
  });

  it('has no per-address cap by default (behind a proxy every client shares its address)', async () => {
    await listen();
    expect(env?.app.sigpost.config.maxConnectionsPerAddress).toBe(0);
  });
});
