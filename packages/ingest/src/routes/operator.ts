import { timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import type { AppContext } from '../context.js';
import { type InputIssue, type InvalidInputError, isIngestError } from '../errors.js';
import { HttpProblem } from '../problems.js';
import { hashToken } from '../secrets.js';
import {
  ApproveBodySchema,
  decideSignal,
  getSignalView,
  parseSignalQuery,
  RejectBodySchema,
  toInputIssues,
  toSignalView,
} from '../signals.js';
import { StoreInvalidCursorError } from '../store/store.js';
import { registerProducerListRoute } from './producers.js';

/** Prefix of the operator HTTP API. */
export const OPERATOR_PREFIX = '/api/v1/operator';

const BEARER = /^Bearer ([\x21-\x7e]{1,512})$/i;
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * The operator API, behind bearer tokens (`sigpost tokens create`): list, show, approve and reject
 * signals. Tokens are looked up by their SHA-256; the token itself is never stored.
 */
export function registerOperatorRoutes(app: FastifyInstance, ctx: AppContext): void {
  app.register(
    async (scope) => {
      // onRequest, not preHandler: an unauthenticated request is refused before its body is read.
      scope.addHook('onRequest', async (request, reply) => {
        const match = BEARER.exec(request.headers.authorization ?? '');
        const refuse = (detail: string) =>
          new HttpProblem('operator-unauthorized', detail, {
            headers: { 'WWW-Authenticate': 'Bearer realm="sigpost"' },
          });
        if (!match?.[1]) {
          // The browser console authenticates with its session cookie (state changes also need its
          // CSRF token); a bearer token, when sent, always takes precedence.
          const viaSession = await ctx.consoleSessions.authenticate(request);
          if (viaSession !== undefined) {
            request.sigpost.operator = viaSession;
            return;
          }
          throw refuse('send Authorization: Bearer <token> (create one with `sigpost tokens create`)');
        }
        const hash = hashToken(match[1]);
        let found: Awaited<ReturnType<typeof ctx.store.findTokenByHash>>;
        try {
          found = await ctx.store.findTokenByHash(hash);
        } catch (error) {
          request.log.error({ err: error }, 'operator token lookup failed');
          throw new HttpProblem('store-unavailable', 'the signal store is unavailable; retry later', {
            cause: error,
          });
        }
        // The database found the row by its hash; compare again in constant time so no code path
        // accepts a token on a partial or case-folded match.
        if (!found || !timingSafeEqual(Buffer.from(found.hash, 'hex'), Buffer.from(hash, 'hex'))) {
          throw refuse('the operator token is not valid (it may have been revoked)');
        }
        request.sigpost.operator = found.name;
        void reply;
      });

      scope.get('/signals', async (request) => {
        const filter = guard(() => parseSignalQuery(request.query, (k) => k));
        try {
          const page = await ctx.store.listSignals(filter);
          return { items: page.items.map(toSignalView), next_cursor: page.nextCursor };
        } catch (error) {
          if (error instanceof StoreInvalidCursorError) {
            throw new HttpProblem(
              'invalid-request',
              'cursor: expected the next_cursor of a previous page, unchanged',
              {
                cause: error,
              },
            );
          }
          throw error;
        }
      });

      scope.get<{ Params: { id: string } }>('/signals/:id', async (request) =>
        guardAsync(() => getSignalView(ctx.store, request.params.id)),
      );

      scope.post<{ Params: { id: string } }>('/signals/:id/approve', async (request) => {
        const body = parseBody(request, ApproveBodySchema, false);
        return guardAsync(() =>
          decideSignal(
            ctx.store,
            ctx.clock,
            request.params.id,
            'approved',
            operator(request),
            body?.note ?? null,
          ),
        );
      });

      scope.post<{ Params: { id: string } }>('/signals/:id/reject', async (request) => {
        const body = parseBody(request, RejectBodySchema, true);
        return guardAsync(() =>
          decideSignal(
            ctx.store,
            ctx.clock,
            request.params.id,
            'rejected',
            operator(request),
            body?.reason ?? null,
          ),
        );
      });

      registerProducerListRoute(scope, ctx);
    },
    { prefix: OPERATOR_PREFIX },
  );
}

function operator(request: FastifyRequest): string {
  return `operator:${request.sigpost.operator ?? 'unknown'}`;
}

/** Maps the package's typed errors to problems: invalid input → 400, not found → 404, conflict → 409. */
function toProblem(error: unknown): unknown {
  if (!isIngestError(error)) return error;
  switch (error.code) {
    case 'INGEST_INVALID_INPUT':
      return invalidRequest((error as InvalidInputError).issues, error);
    case 'INGEST_NOT_FOUND':
      return new HttpProblem('not-found', error.message, { cause: error });
    case 'INGEST_CONFLICT':
      return new HttpProblem('signal-not-pending', error.message, { cause: error });
    default:
      return error;
  }
}

/** 400 invalid-request: the detail names each parameter; `errors` has one line per problem. */
function invalidRequest(issues: readonly InputIssue[], cause?: unknown): HttpProblem {
  return new HttpProblem(
    'invalid-request',
    issues.map((i) => `${i.key}: expected ${i.expected}`).join('; '),
    {
      extensions: { errors: issues.map((i) => `${i.key}: expected ${i.expected}, received ${i.received}`) },
      ...(cause === undefined ? {} : { cause }),
    },
  );
}

function guard<T>(step: () => T): T {
  try {
    return step();
  } catch (error) {
    throw toProblem(error);
  }
}

async function guardAsync<T>(step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (error) {
    throw toProblem(error);
  }
}

/** Parses an optional (or required) JSON body against a schema; refusals name the field. */
function parseBody<S extends z.ZodType>(
  request: FastifyRequest,
  schema: S,
  required: boolean,
): z.output<S> | undefined {
  const raw = Buffer.isBuffer(request.body) ? request.body : undefined;
  if (raw === undefined || raw.length === 0) {
    if (!required) return undefined;
    throw new HttpProblem('invalid-request', 'body: expected a JSON object such as {"reason": "…"}');
  }
  const type = (request.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/json') {
    throw new HttpProblem('unsupported-media-type', 'Content-Type must be application/json');
  }
  let json: unknown;
  try {
    json = JSON.parse(UTF8.decode(raw));
  } catch (error) {
    throw new HttpProblem('malformed-json', 'request body is not valid UTF-8 JSON', { cause: error });
  }
  const parsed = schema.safeParse(json, { reportInput: true });
  if (!parsed.success) {
    throw invalidRequest(toInputIssues(parsed.error.issues, (k) => k));
  }
  return parsed.data;
}
