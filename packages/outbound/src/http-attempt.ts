// One HTTP attempt of an ingest request: send the signed body, read the answer within a bound, and
// turn it into the response or an `OutboundClientError` (problem+json parsed, Retry-After read,
// transport errors classified). No retrying here: `retry.ts`'s runner decides about the next attempt.
import { EventEmitter } from 'node:events';
import { STATUS_CODES } from 'node:http';
import {
  isProblemDetails,
  type ProblemDetails,
  parseIngestResponse,
  type SignalIngestResponse,
} from '@sigpost/protocol';
import type { Dispatcher } from 'undici';
import { readBounded } from './bounded-body.js';
import { OutboundClientError, type OutboundClientErrorCode, OutboundTimeoutError } from './errors.js';
import { parseRetryAfter } from './retry.js';
import type { SignedHeaders } from './signing.js';

/** At most this much of a response body is read; the rest is discarded with the connection. */
export const MAX_RESPONSE_BYTES = 1_048_576; // bytes (1 MiB)

/** One attempt: where it goes, what it sends, and its place in the delivery. */
export interface HttpAttempt {
  /** The pool (or any undici dispatcher) connected to the ingest server's origin. */
  readonly dispatcher: Pick<Dispatcher, 'request'>;
  /** The full ingest URL, as messages name it. */
  readonly url: string;
  /** The request path on the dispatcher's origin (the base URL's prefix included). */
  readonly path: string;
  readonly headers: SignedHeaders;
  readonly body: string;
  /**
   * This attempt's number (1-based) and the most there may be, for the `(attempt n/limit)` tally;
   * `limit` undefined (the caller runs the retries: `retry: false`) leaves the tally out of messages.
   */
  readonly attempt: number;
  readonly limit: number | undefined;
  readonly timeoutMs: number;
  /** The caller's abort: ends the attempt with `OUTBOUND_ABORTED`. */
  readonly abortSignal: AbortSignal | undefined;
  /** Epoch ms now, to read a `Retry-After` HTTP date. */
  readonly clock: () => number;
}

/** A successful attempt: the server's answer and its status. */
export interface HttpAttemptResult {
  readonly body: SignalIngestResponse;
  readonly httpCode: number;
}

/** The message's tail: the problem's title and detail, bounded (the server's text, never ours). */
function problemSuffix(details: ProblemDetails | undefined): string {
  if (!details) return '';
  const detail = typeof details.detail === 'string' && details.detail !== '' ? ` — ${details.detail}` : '';
  const text = `${details.title}${detail}`;
  return `: ${text.length > 300 ? `${text.slice(0, 300)}…` : text}`;
}

function statusText(status: number): string {
  const text = STATUS_CODES[status];
  return text ? `${status} ${text}` : String(status);
}

/**
 * What OpenSSL says when the other side answers a TLS handshake with something that is not TLS (an
 * `https://` URL to a plain-HTTP port): its raw text ("wrong version number") says nothing useful.
 */
const NOT_TLS_CODES: ReadonlySet<unknown> = new Set([
  'ERR_SSL_WRONG_VERSION_NUMBER',
  'ERR_SSL_PACKET_LENGTH_TOO_LONG',
  'ERR_SSL_HTTP_REQUEST',
]);

function describeNetworkError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = (error as { code?: unknown }).code;
  if (NOT_TLS_CODES.has(code)) return 'the server does not speak TLS on this port (use http:// ?)';
  // Node's connect errors can be an AggregateError with an empty message (one error per address tried).
  if (error.message !== '') return error.message;
  return typeof code === 'string' ? code : error.name;
}

/**
 * The abort signal of one attempt. undici accepts an EventEmitter with `aborted`/`reason` as well as an
 * AbortSignal; this one costs a fraction of an AbortController, which showed in the client benchmark.
 */
class AttemptSignal extends EventEmitter {
  aborted = false;
  reason: unknown;

  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    this.emit('abort');
  }
}

/** ` (attempt n/limit)`, with its leading space; empty when the caller counts the attempts (no limit). */
function tallyOf(attempt: number, limit: number | undefined): string {
  return limit === undefined ? '' : ` (attempt ${attempt}/${limit})`;
}

/** `OUTBOUND_ABORTED`: the caller's `abortSignal` fired, before the first attempt or during one. */
export function abortedError(
  url: string,
  signal: AbortSignal,
  attempts: number,
  limit: number | undefined,
): OutboundClientError {
  const tally = attempts === 0 ? ' before the first attempt' : tallyOf(attempts, limit);
  return new OutboundClientError(`POST ${url} aborted by the caller${tally}`, {
    code: 'OUTBOUND_ABORTED',
    method: 'POST',
    url,
    attempts,
    cause: signal.reason,
  });
}

/** A delivery stopped or refused on this side (`POST <url> <what>`): closed client, body too large. */
export function refusalError(
  url: string,
  code: OutboundClientErrorCode,
  what: string,
  attempts = 0,
  cause?: unknown,
): OutboundClientError {
  return new OutboundClientError(`POST ${url} ${what}`, { code, method: 'POST', url, attempts, cause });
}

/**
 * Sends one attempt and reads its answer.
 *
 * @returns the `SignalIngestResponse` of a 2xx
 * @throws {OutboundClientError} `OUTBOUND_HTTP_ERROR` (with `details`, `retryAfterMs`),
 *   `OUTBOUND_NETWORK_ERROR`, `OUTBOUND_INVALID_RESPONSE`, `OUTBOUND_ABORTED`, `OUTBOUND_CLIENT_CLOSED`
 * @throws {OutboundTimeoutError} no complete answer within `timeoutMs`
 */
export async function sendAttempt(ctx: HttpAttempt): Promise<HttpAttemptResult> {
  const { attempt, limit, timeoutMs, abortSignal, headers, url } = ctx;
  const signal = new AttemptSignal();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    signal.abort(new DOMException(`The attempt timed out after ${timeoutMs} ms`, 'TimeoutError'));
  }, timeoutMs);
  const onAbort = () => signal.abort(abortSignal?.reason);
  abortSignal?.addEventListener('abort', onAbort, { once: true });

  let status: number;
  let text: string | undefined;
  let retryAfter: string | string[] | undefined;
  let contentType: string | string[] | undefined;
  try {
    const response = await ctx.dispatcher.request({
      path: ctx.path,
      method: 'POST',
      headers,
      body: ctx.body,
      signal,
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
    status = response.statusCode;
    retryAfter = response.headers['retry-after'];
    contentType = response.headers['content-type'];
    const body = response.body;
    text = await readBounded(
      body,
      MAX_RESPONSE_BYTES,
      () => body.destroy(),
      response.headers['content-length'],
    );
  } catch (cause) {
    throw transportError(cause, { url, timedOut, attempt, limit, timeoutMs, abortSignal });
  } finally {
    clearTimeout(timer);
    abortSignal?.removeEventListener('abort', onAbort);
  }

  const where = `POST ${url}`;
  const tally = tallyOf(attempt, limit);
  if (status >= 200 && status <= 299) {
    const invalid = (what: string, cause?: unknown) =>
      new OutboundClientError(`${where} answered ${statusText(status)} with ${what}${tally}`, {
        code: 'OUTBOUND_INVALID_RESPONSE',
        method: 'POST',
        url,
        attempts: attempt,
        httpCode: status,
        cause,
      });
    if (text === undefined) throw invalid(`a body over ${MAX_RESPONSE_BYTES} bytes`);
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (cause) {
      throw invalid('a body that is not JSON', cause);
    }
    const parsed = parseIngestResponse(json);
    if (!parsed.ok) {
      throw invalid(`a body that is not a SignalIngestResponse (${parsed.errors.join('; ')})`);
    }
    return { body: parsed.value, httpCode: status };
  }

  const details = parseProblem(text, contentType);
  const retryAfterMs = parseRetryAfter(typeof retryAfter === 'string' ? retryAfter : undefined, ctx.clock());
  throw new OutboundClientError(
    `${where} failed with ${statusText(status)}${tally}${problemSuffix(details)}`,
    {
      code: 'OUTBOUND_HTTP_ERROR',
      method: 'POST',
      url,
      attempts: attempt,
      httpCode: status,
      details,
      retryAfterMs,
    },
  );
}

/**
 * What a failed request or body read means: the caller's abort, a timeout, a closed pool, our own bug
 * (surfaced as it is), or a network error described for a person (TLS to a plain-HTTP port included).
 */
function transportError(
  cause: unknown,
  at: {
    url: string;
    timedOut: boolean;
    attempt: number;
    limit: number | undefined;
    timeoutMs: number;
    abortSignal: AbortSignal | undefined;
  },
): Error {
  const { url, attempt, limit, timeoutMs, abortSignal } = at;
  const where = `POST ${url}`;
  const tally = tallyOf(attempt, limit);
  const code = (cause as { code?: unknown } | null)?.code;
  if (abortSignal?.aborted && !at.timedOut) return abortedError(url, abortSignal, attempt, limit);
  if (
    at.timedOut ||
    code === 'UND_ERR_HEADERS_TIMEOUT' ||
    code === 'UND_ERR_BODY_TIMEOUT' ||
    code === 'UND_ERR_CONNECT_TIMEOUT'
  ) {
    return new OutboundTimeoutError(`${where} timed out after ${timeoutMs} ms${tally}`, {
      method: 'POST',
      url,
      attempts: attempt,
      timeoutMs,
      cause,
    });
  }
  if (code === 'UND_ERR_CLOSED' || code === 'UND_ERR_DESTROYED') {
    return refusalError(
      url,
      'OUTBOUND_CLIENT_CLOSED',
      `stopped: the client was closed${tally}`,
      attempt - 1,
      cause,
    );
  }
  // An invalid argument to undici is our bug, not the network's: surface it as it is, never retried.
  if (code === 'UND_ERR_INVALID_ARG' || !(cause instanceof Error)) {
    return cause instanceof Error ? cause : new TypeError(String(cause));
  }
  return new OutboundClientError(
    `${where} failed with a network error: ${describeNetworkError(cause)}${tally}`,
    { code: 'OUTBOUND_NETWORK_ERROR', method: 'POST', url, attempts: attempt, cause },
  );
}

/** The server's problem+json, when the body is one. */
function parseProblem(
  text: string | undefined,
  contentType: string | string[] | undefined,
): ProblemDetails | undefined {
  if (text === undefined || typeof contentType !== 'string' || !/[/+]json\b/i.test(contentType))
    return undefined;
  try {
    const json: unknown = JSON.parse(text);
    return isProblemDetails(json) ? json : undefined;
  } catch {
    return undefined;
  }
}
