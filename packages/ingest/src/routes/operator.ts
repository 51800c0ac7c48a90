import { timingSafeEqual } from 'node:crypto';
import { checkJson } from '@sigpost/protocol';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
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
  type SignalView,
  signalViewJson,
  toInputIssues,
  toSignalView,
} from '../signals.js';
import { StoreInvalidCursorError } from '../store/store.js';
import { eventMessage } from '../stream/messages.js';
import { registerProducerListRoute } from './producers.js';

/** Prefix of the operator HTTP API. */
export const OPERATOR_PREFIX = '/api/v1/operator';

const BEARER = /^Bearer ([\x21-\x7e]{1,512})$/i;
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const JSON_TYPE = 'application/json; charset=utf-8';

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
          new HttpProblem(detail, {
            code: 'operator-unauthorized',
            headers: { 'WWW-Authenticate': 'Bearer realm="sigpost"' },
          });
        if (!match?.[1]) {
          // The browser console authenticates with its session cookie (state changes also need its
          // CSRF token); a bearer token, when sent, always takes precedence.
          const viaSession = await ctx.consoleSessions.authenticate(request);
          if (viaSession !== undefined) {
            request.sigpost.operator = viaSession;
            request.sigpost.operatorChannel = 'console';
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
          throw new HttpProblem('the signal store is unavailable; retry later', {
            code: 'store-unavailable',
            cause: error,
          });
        }
        // The database found the row by its hash; compare again in constant time so no code path
        // accepts a token on a partial or case-folded match.
        if (!found || !timingSafeEqual(Buffer.from(found.hash, 'hex'), Buffer.from(hash, 'hex'))) {
          throw refuse('the operator token is not valid (it may have been revoked)');
        }
        request.sigpost.operator = found.name;
        request.sigpost.operatorChannel = 'api';
        void reply;
      });

      // Answers are serialised here, row by row (signalViewJson): a stored body that cannot be shown
      // as JSON is shown as its text, so one bad row never fails a listing, and a decision that has
      // been committed is always answered with what was committed.
      scope.get('/signals', async (request, reply) => {
        const filter = guard(() => parseSignalQuery(request.query, (k) => k));
        try {
          const page = await ctx.store.listSignals(filter);
          const items = page.items.map((record) => signalViewJson(toSignalView(record)));
          reply.type(JSON_TYPE);
          return `{"items":[${items.join(',')}],"next_cursor":${JSON.stringify(page.nextCursor)}}`;
        } catch (error) {
          if (error instanceof StoreInvalidCursorError) {
            throw new HttpProblem('cursor: expected the next_cursor of a previous page, unchanged', {
              code: 'invalid-request',
              cause: error,
            });
          }
          throw error;
        }
      });

      scope.get<{ Params: { id: string } }>('/signals/:id', async (request, reply) =>
        viewAnswer(reply, await guardAsync(() => getSignalView(ctx.store, request.params.id))),
      );

      // A signal's history: its stream events (docs/stream.md), each exactly as the stream frames it.
      scope.get<{ Params: { id: string } }>('/signals/:id/events', async (request, reply) => {
        const view = await guardAsync(() => getSignalView(ctx.store, request.params.id));
        const events = await ctx.store.readSignalEvents(view.signal_id);
        reply.type(JSON_TYPE);
        return `{"items":[${events.map(eventMessage).join(',')}]}`;
      });

      // Approve (an optional note) and reject (a required reason): one decision, the text as its message.
      const decide = async (
        request: FastifyRequest<{ Params: { id: string } }>,
        reply: FastifyReply,
        decision: 'approved' | 'rejected',
        message: string | null,
      ) => {
        const view = await guardAsync(() =>
          decideSignal(
            ctx.store,
            ctx.clock,
            request.params.id,
            decision,
            operator(request),
            message,
            request.sigpost.operatorChannel ?? 'api',
          ),
        );
        return viewAnswer(reply, view);
      };
      scope.post<{ Params: { id: string } }>('/signals/:id/approve', async (request, reply) =>
        decide(request, reply, 'approved', parseBody(request, ApproveBodySchema, false)?.note ?? null),
      );
      scope.post<{ Params: { id: string } }>('/signals/:id/reject', async (request, reply) =>
        decide(request, reply, 'rejected', parseBody(request, RejectBodySchema, true)?.reason ?? null),
      );

      registerProducerListRoute(scope, ctx);
    },
    { prefix: OPERATOR_PREFIX },
  );
}

function viewAnswer(reply: FastifyReply, view: SignalView): string {
  reply.type(JSON_TYPE);
  return signalViewJson(view);
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
      return new HttpProblem(error.message, { code: 'not-found', cause: error });
    case 'INGEST_CONFLICT':
      return new HttpProblem(error.message, { code: 'signal-not-pending', cause: error });
    default:
      return error;
  }
}

/** 400 invalid-request: the detail names each parameter; `errors` has one line per problem. */
function invalidRequest(issues: readonly InputIssue[], cause?: unknown): HttpProblem {
  return new HttpProblem(issues.map((i) => `${i.key}: expected ${i.expected}`).join('; '), {
    code: 'invalid-request',
    extensions: { errors: issues.map((i) => `${i.key}: expected ${i.expected}, received ${i.received}`) },
    ...(cause === undefined ? {} : { cause }),
  });
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
    throw new HttpProblem('body: expected a JSON object such as {"reason": "…"}', {
      code: 'invalid-request',
    });
  }
  const type = (request.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/json') {
    throw new HttpProblem('Content-Type must be application/json', { code: 'unsupported-media-type' });
  }
  let text: string;
  try {
    text = UTF8.decode(raw);
  } catch (error) {
    throw new HttpProblem('request body is not valid UTF-8 JSON', { code: 'malformed-json', cause: error });
  }
  // The same scan as for signals: a duplicate "reason" is refused rather than read last-wins.
  const check = checkJson(text);
  if (!check.ok) {
    if (check.reason === 'syntax') {
      throw new HttpProblem(`request body is not valid UTF-8 JSON: ${check.message}`, {
        code: 'malformed-json',
      });
    }
    throw new HttpProblem(`body: ${check.message}`, {
      code: 'invalid-request',
      extensions: { errors: [check.message] },
    });
  }
  const json: unknown = JSON.parse(text);
  const parsed = schema.safeParse(json, { reportInput: true });
  if (!parsed.success) {
    throw invalidRequest(toInputIssues(parsed.error.issues, (k) => k));
  }
  return parsed.data;
}
