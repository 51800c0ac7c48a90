import { type ServerResponse, STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { defineBrand, PROBLEM_CONTENT_TYPE, PROBLEMS, type ProblemCode, problem } from '@sigpost/protocol';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { isStoreError } from './store/errors.js';

/** Largest request line plus headers, in bytes, before 431 `headers-too-large` (node's default, pinned here). */
export const MAX_HEADER_BYTES = 16_384;

/** Options of `HttpProblem`: the problem type, its extension members, headers to send, and the cause. */
export interface HttpProblemOptions {
  /** The problem type, from the protocol's `PROBLEMS` table. */
  readonly code: ProblemCode;
  readonly extensions?: Readonly<Record<string, unknown>>;
  readonly headers?: Readonly<Record<string, string>>;
  readonly cause?: unknown;
}

/**
 * A refusal raised inside a route: the error handler turns it into the problem+json answer, with
 * `detail` (the constructor's first argument) as its `detail`. Its `message` is `<code>: <detail>`.
 * Not exported from the package: it is how routes talk to the error handler, not an API.
 */
export class HttpProblem extends Error {
  override readonly name = 'HttpProblem' as const;
  readonly code: ProblemCode;
  readonly detail: string;
  readonly extensions: Readonly<Record<string, unknown>>;
  readonly headers: Readonly<Record<string, string>>;

  constructor(detail: string, options: HttpProblemOptions) {
    const { code } = options;
    super(detail ? `${code}: ${detail}` : code, options.cause === undefined ? {} : { cause: options.cause });
    this.code = code;
    this.detail = detail;
    this.extensions = options.extensions ?? {};
    this.headers = options.headers ?? {};
  }
}

/** True for any `HttpProblem`, also one raised by another loaded copy of this package. */
export const isHttpProblem = defineBrand(HttpProblem, 'sigpost.HttpProblem');

/** Sends an RFC 9457 answer for a code of the protocol's `PROBLEMS` table and records it for metrics and logs. */
export function sendProblem(
  reply: FastifyReply,
  code: ProblemCode,
  detail?: string,
  extensions: Readonly<Record<string, unknown>> = {},
  headers: Readonly<Record<string, string>> = {},
): FastifyReply {
  const state = reply.request.sigpost;
  if (state) state.problem = code;
  for (const [name, value] of Object.entries(headers)) reply.header(name, value);
  return reply
    .code(PROBLEMS[code].status)
    .type(PROBLEM_CONTENT_TYPE)
    .send(JSON.stringify(problem(code, detail, extensions)));
}

/**
 * A complete HTTP/1.1 problem+json response that closes the connection, for the places that write to
 * the socket themselves (the HTTP parser's refusals, CONNECT, unsupported `Expect`).
 */
export function rawProblemResponse(
  code: ProblemCode,
  detail: string,
  headers: Readonly<Record<string, string>> = {},
): string {
  const body = JSON.stringify(problem(code, detail));
  const { status } = PROBLEMS[code];
  const lines = [
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}`,
    `Content-Type: ${PROBLEM_CONTENT_TYPE}`,
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Connection: close',
    `Date: ${new Date().toUTCString()}`,
    ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
  ];
  return `${lines.join('\r\n')}\r\n\r\n${body}`;
}

/** An error of node's HTTP parser (llhttp) or of its request timers, as `clientError` hands it over. */
export interface ClientError extends Error {
  readonly code?: string;
  /** llhttp's fixed explanation (`Duplicate Content-Length`); never contains request bytes. */
  readonly reason?: unknown;
  /** The bytes of the packet llhttp was reading: inspected to name the fault, never logged or echoed. */
  readonly rawPacket?: unknown;
  /** Where in `rawPacket` llhttp stopped. */
  readonly bytesParsed?: unknown;
}

/** The timeouts a refusal names. */
export interface ClientErrorLimits {
  readonly headersTimeoutMs: number;
  readonly requestTimeoutMs: number;
}

const HEADER_SYNTAX = new Set([
  'HPE_INVALID_HEADER_TOKEN',
  'HPE_CR_EXPECTED',
  'HPE_LF_EXPECTED',
  'HPE_STRICT',
  'HPE_INVALID_CONSTANT',
]);
const BODY_FRAMING = new Set([
  'HPE_UNEXPECTED_CONTENT_LENGTH',
  'HPE_INVALID_CONTENT_LENGTH',
  'HPE_INVALID_TRANSFER_ENCODING',
]);
const CHUNKS = new Set(['HPE_INVALID_CHUNK_SIZE', 'HPE_CHUNK_EXTENSIONS_OVERFLOW']);

/**
 * The problem answering an error of node's HTTP layer. `requestStarted`: the request line and headers
 * were read (a timeout then means the body is late).
 */
export function describeClientError(
  error: ClientError,
  requestStarted: boolean,
  limits: ClientErrorLimits,
): { code: ProblemCode; detail: string } {
  const code = typeof error.code === 'string' ? error.code : '';
  const reason =
    typeof error.reason === 'string' && /^[\x20-\x7e]{1,100}$/.test(error.reason) ? error.reason : code;
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    return requestStarted
      ? {
          code: 'request-timeout',
          detail:
            `the request body did not arrive within ${limits.requestTimeoutMs} ms of the request's start; ` +
            'send the whole body right after the headers, and exactly as many bytes as Content-Length says',
        }
      : {
          code: 'request-timeout',
          detail: `the request line and headers did not arrive within ${limits.headersTimeoutMs} ms; send them at once`,
        };
  }
  if (code === 'HPE_HEADER_OVERFLOW') {
    return {
      code: 'headers-too-large',
      detail:
        `the request line and headers exceed ${MAX_HEADER_BYTES} bytes; send fewer or shorter headers ` +
        '(a signed ingest request needs well under 1 KiB)',
    };
  }
  if (HEADER_SYNTAX.has(code)) {
    return {
      code: 'malformed-http',
      detail:
        `a header line is malformed (${reason}): write each header as \`Name: value\` on one line ending ` +
        'in CRLF, with no bare CR or LF, no NUL, no space before the colon and no folded continuation lines',
    };
  }
  if (BODY_FRAMING.has(code)) {
    return {
      code: 'malformed-http',
      detail:
        `the body length is ambiguous or invalid (${reason}): send one Content-Length with a decimal ` +
        'length, or `Transfer-Encoding: chunked` without Content-Length',
    };
  }
  if (CHUNKS.has(code)) {
    return {
      code: 'malformed-http',
      detail:
        `the chunked body is malformed (${reason}): each chunk is its size in hexadecimal, CRLF, the bytes, ` +
        'CRLF, and the body ends with a zero-size chunk',
    };
  }
  if (code === 'HPE_INVALID_EOF_STATE') {
    return {
      code: 'malformed-http',
      detail: 'the client closed its side of the connection before the request was complete',
    };
  }
  if (code === 'HPE_CLOSED_CONNECTION') {
    return { code: 'malformed-http', detail: 'data was sent after a request with `Connection: close`' };
  }
  const packet = Buffer.isBuffer(error.rawPacket) ? error.rawPacket : undefined;
  if (code === 'HPE_INVALID_METHOD') {
    if (packet?.[0] === 0x16) {
      // 0x16 is a TLS handshake record: a ClientHello, from an https:// URL.
      return {
        code: 'malformed-http',
        detail: 'TLS handshake on a plain-HTTP port: use http://, not https:// (or put a TLS proxy in front)',
      };
    }
    return { code: 'malformed-http', detail: `the request method is not a known HTTP method (${reason})` };
  }
  if (code === 'HPE_INVALID_URL') {
    return { code: 'malformed-http', detail: `the request target is not a valid path (${reason})` };
  }
  if (code === 'HPE_PAUSED_H2_UPGRADE') {
    return {
      code: 'malformed-http',
      detail:
        'an HTTP/2 connection preface (PRI * HTTP/2.0): this port serves HTTP/1.1 (and 1.0) only; ' +
        'connect with HTTP/1.1',
    };
  }
  if (code === 'HPE_INVALID_VERSION') return describeVersionError(packet, error.bytesParsed, reason);
  return { code: 'malformed-http', detail: `the request is not valid HTTP/1.1 (${reason || 'unreadable'})` };
}

/**
 * llhttp's HPE_INVALID_VERSION covers both a version it does not serve (`HTTP/2.0`, `HTTP/3.0`,
 * `HTTP/1.2`) and a request line that does not end in CRLF right after the version (a bare LF, a
 * trailing space): the request line, read from the packet, tells which. Only a version that matches
 * `HTTP/d.d` is quoted back; no other request byte is.
 */
function describeVersionError(
  packet: Buffer | undefined,
  bytesParsed: unknown,
  reason: string,
): { code: ProblemCode; detail: string } {
  let line = '';
  if (packet !== undefined) {
    const stop = Math.min(typeof bytesParsed === 'number' ? bytesParsed : packet.length, packet.length);
    // The request line holding the error: from after the last LF before it (a pipelined request
    // before it ends in one), to the first CR or LF; 200 bytes at most.
    const start = stop >= 2 ? packet.lastIndexOf(0x0a, stop - 2) + 1 : 0;
    line = packet.subarray(start, Math.min(packet.length, start + 200)).toString('latin1');
  }
  const end = line.search(/[\r\n]/);
  const requestLine = end === -1 ? line : line.slice(0, end);
  const version = /(?:^| )(HTTP\/(\d)\.\d)$/.exec(requestLine);
  if (version !== null && end !== -1 && line[end] === '\r' && line[end + 1] === '\n') {
    return {
      code: 'malformed-http',
      detail:
        Number(version[2]) >= 2
          ? `${version[1]} is not served on this port, which serves HTTP/1.1 (and 1.0) only; send HTTP/1.1`
          : `${version[1]} is not an HTTP version this port serves; send HTTP/1.1 (or 1.0)`,
    };
  }
  if (version !== null && end !== -1 && line[end] === '\n') {
    return {
      code: 'malformed-http',
      detail:
        'the request line ends in a bare LF: end the request line, and every header line, with CRLF (\\r\\n)',
    };
  }
  if (/ HTTP\/\d\.\d[ \t]/.test(requestLine)) {
    return {
      code: 'malformed-http',
      detail: 'the request line has characters after the version: end it with `HTTP/1.1` and CRLF',
    };
  }
  return {
    code: 'malformed-http',
    detail: `the request line's version is malformed (${reason}): write it as \`METHOD /path HTTP/1.1\` ending in CRLF`,
  };
}

/** How long a refused connection stays open for its client to read the answer, in ms. */
const LINGER_MS = 1_000;

/**
 * Writes a complete response and half-closes the connection, so that the client reads the answer
 * before it goes (closing at once could reset the connection and lose it); destroyed after `LINGER_MS`
 * whatever the client does.
 */
export function endWithResponse(socket: Duplex, response: string): void {
  if (socket.writable) socket.end(response);
  setTimeout(() => socket.destroy(), LINGER_MS).unref();
}

/**
 * Fastify's `clientErrorHandler`: errors of node's HTTP parser and request timers, raised before (or
 * while) a request reaches fastify. Answers a complete problem+json response on the raw socket and
 * closes it. `refusalOf` tells the app's error handler which problem cut short a request it was reading.
 * The request bytes (`error.rawPacket`) are never logged: they can hold signatures and tokens.
 */
export function makeClientErrorHandler(
  limits: ClientErrorLimits,
  onRefusal: (code: ProblemCode, parserCode: string, requestStarted: boolean) => void,
): {
  handler: (error: ClientError, socket: Socket) => void;
  refusalOf: (socket: Socket | null | undefined) => ProblemCode | undefined;
} {
  const refused = new WeakMap<Socket, ProblemCode>();
  const handler = (error: ClientError, socket: Socket): void => {
    // A reset connection has nobody to answer; a socket answered once is closing (llhttp repeats its error).
    if (error.code === 'ECONNRESET' || socket.destroyed || refused.has(socket)) return;
    const response = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
    const requestStarted = response !== undefined && response !== null;
    const { code, detail } = describeClientError(error, requestStarted, limits);
    refused.set(socket, code);
    onRefusal(code, typeof error.code === 'string' ? error.code : '', requestStarted);
    if (response?.req?.complete && !response.writableFinished) {
      // A pipelined request went wrong while the answer to the one before it is being prepared: that
      // answer goes first, then this refusal (answering now would read as the answer to the first).
      response.once('finish', () => endWithResponse(socket, rawProblemResponse(code, detail)));
      return;
    }
    const canAnswer = socket.writable && !(response?.headersSent ?? false);
    if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT' || requestStarted) {
      // The parser still runs: bytes arriving later must not complete the request. Close now.
      if (canAnswer) socket.write(rawProblemResponse(code, detail));
      socket.destroy();
      return;
    }
    // The parser has failed for good: later bytes cannot start a request.
    if (canAnswer) endWithResponse(socket, rawProblemResponse(code, detail));
    else socket.destroy();
  };
  return { handler, refusalOf: (socket) => (socket ? refused.get(socket) : undefined) };
}

/** Fastify's own errors that reach us, by their code, as problem answers. */
function fromFastifyError(
  error: FastifyError,
  bodyLimit: number,
): { code: ProblemCode; detail: string } | undefined {
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { code: 'body-too-large', detail: `request body exceeds the limit of ${bodyLimit} bytes` };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return { code: 'unsupported-media-type', detail: 'Content-Type must be application/json' };
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return {
        code: 'invalid-request',
        detail: 'request body length does not match the Content-Length header',
      };
    default:
      if (typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500) {
        // Malformed URLs, aborted bodies and the like: the client's fault, reported without internals.
        return { code: 'invalid-request', detail: 'the request could not be read' };
      }
      return undefined;
  }
}

/**
 * The app's error handler: `HttpProblem` and known fastify errors become problem+json; anything else is
 * logged with its stack and answered with a generic 500 that reveals nothing.
 */
export function makeErrorHandler(
  bodyLimit: number,
  refusalOf: (socket: Socket | null | undefined) => ProblemCode | undefined = () => undefined,
) {
  return function errorHandler(error: unknown, request: FastifyRequest, reply: FastifyReply): void {
    const refusal = refusalOf(request.raw.socket as Socket | null | undefined);
    const clientGone = request.raw.aborted && (error as { code?: unknown } | null)?.code === 'ECONNRESET';
    if (refusal !== undefined || clientGone) {
      // The body never arrived whole: the connection was cut by a timeout (already answered 408 on the
      // socket) or closed by the client. Nothing can be sent; the onRequestAbort hook logs and counts it.
      sendProblem(reply, refusal ?? 'invalid-request', 'the connection closed before the request was read');
      return;
    }
    if (isHttpProblem(error)) {
      sendProblem(reply, error.code, error.detail, error.extensions, error.headers);
      return;
    }
    if (isStoreError(error) && error.code === 'STORE_UNAVAILABLE') {
      // StoreUnavailableError: the database is down or unreachable; the client may retry.
      request.log.error({ err: error }, 'the store is unavailable');
      sendProblem(
        reply,
        'store-unavailable',
        'the signal store is unavailable; retry later',
        {},
        { 'Retry-After': '1' },
      );
      return;
    }
    const known = error instanceof Error ? fromFastifyError(error as FastifyError, bodyLimit) : undefined;
    if (known) {
      sendProblem(reply, known.code, known.detail);
      return;
    }
    request.log.error({ err: error }, 'unhandled error while serving a request');
    sendProblem(reply, 'internal', 'the server failed to process the request; retry later');
  };
}
