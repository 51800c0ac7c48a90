import { PROBLEM_CONTENT_TYPE, PROBLEMS, type ProblemCode, problem } from '@sigpost/protocol';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';

/**
 * A refusal raised inside a route: the error handler turns it into the problem+json answer.
 * Not exported from the package: it is how routes talk to the error handler, not an API.
 */
export class HttpProblem extends Error {
  override readonly name = 'HttpProblem' as const;
  readonly code: ProblemCode;
  readonly detail: string | undefined;
  readonly extensions: Readonly<Record<string, unknown>>;
  readonly headers: Readonly<Record<string, string>>;

  constructor(
    code: ProblemCode,
    detail?: string,
    options: {
      extensions?: Readonly<Record<string, unknown>>;
      headers?: Readonly<Record<string, string>>;
      cause?: unknown;
    } = {},
  ) {
    super(detail ? `${code}: ${detail}` : code, options.cause === undefined ? {} : { cause: options.cause });
    this.code = code;
    this.detail = detail;
    this.extensions = options.extensions ?? {};
    this.headers = options.headers ?? {};
  }
}

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
export function makeErrorHandler(bodyLimit: number) {
  return function errorHandler(error: unknown, request: FastifyRequest, reply: FastifyReply): void {
    if (error instanceof HttpProblem) {
      sendProblem(reply, error.code, error.detail, error.extensions, error.headers);
      return;
    }
    if ((error as { code?: unknown } | null)?.code === 'STORE_UNAVAILABLE') {
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
