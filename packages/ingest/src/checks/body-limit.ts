// Check 1: the body limit. A body over `maxBodyBytes` is refused with 413 `body-too-large` by the one
// raw body reader every route uses (app.ts: `bodyLimit`, `addContentTypeParser('*', { parseAs:
// 'buffer' })`), from Content-Length before anything is read and while a chunked body streams, so a
// body is never buffered past the limit (the refusal's wording: problems.ts `fromFastifyError`).
//
// For that reader to see every ingest body, the route sets the Content-Type aside before fastify
// looks at it: fastify refuses a malformed media type (415) without reading the body, which would
// answer 415 before 413, and before authentication. The media type is checked later, by validation.
import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';

const EMPTY = Buffer.alloc(0);

/** `onRequest` hook of the ingest route: keeps the Content-Type for validation and hides it from fastify. */
export function setContentTypeAside(
  request: FastifyRequest,
  _reply: FastifyReply,
  done: HookHandlerDoneFunction,
): void {
  const headers = request.raw.headers;
  const contentType = headers['content-type'];
  request.sigpost.contentType = contentType;
  // Assigned, not deleted: fastify reads a missing header as undefined either way, and `delete` would
  // turn the headers object into a slow dictionary for every later lookup of the request.
  if (contentType !== undefined) headers['content-type'] = undefined;
  done();
}

/** The body bytes as read under the limit (empty when there was none). */
export function bodyBytes(request: FastifyRequest): Buffer {
  return Buffer.isBuffer(request.body) ? request.body : EMPTY;
}
