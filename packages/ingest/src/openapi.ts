import {
  HEADERS,
  INGEST_PATH,
  PROBLEM_CONTENT_TYPE,
  PROBLEM_TYPE_PREFIX,
  PROBLEMS,
  type ProblemCode,
  SignalCandidateSchema,
  SignalIngestResponseSchema,
  STORED_SIGNAL_STATUSES,
} from '@sigpost/protocol';
import { z } from 'zod';
import { OPERATOR_PREFIX } from './routes/operator.js';
import { ApproveBodySchema, RejectBodySchema, SignalListQuerySchema } from './signals.js';

type Json = Record<string, unknown>;

/** Documentation-only shape of every refusal (RFC 9457); the answers are built by `problem()` of the protocol. */
const ProblemSchema = z
  .object({
    type: z
      .enum(Object.keys(PROBLEMS).map((code) => `${PROBLEM_TYPE_PREFIX}${code}`) as [string, ...string[]])
      .meta({ description: 'Stable problem type URI; see docs/errors.md.' }),
    title: z.string(),
    status: z.int().min(100).max(599).meta({ description: 'The HTTP status code of the answer.' }),
    detail: z.string().optional().meta({ description: 'What went wrong and how to fix it, for humans.' }),
    errors: z
      .array(z.string())
      .optional()
      .meta({ description: 'invalid-signal and invalid-request: one line per field problem.' }),
    differing_fields: z.array(z.string()).optional().meta({
      description:
        'idempotency-key-reused: the top-level fields whose values differ from the first request under this key (empty: the same values written differently).',
    }),
    first_timestamp: z.string().optional().meta({
      description:
        'idempotency-key-reused, when `timestamp` differs: the first request’s `timestamp`, to send the same signal again.',
    }),
  })
  .meta({ id: 'Problem', title: 'Problem', description: 'RFC 9457 problem details.' });

const SignalViewSchema = z
  .object({
    signal_id: z.string(),
    producer_id: z.string(),
    idempotency_key: z.string().nullable(),
    instrument: z.string(),
    side: z.enum(['buy', 'sell']),
    status: z.enum(STORED_SIGNAL_STATUSES),
    message: z.string().nullable(),
    received_at: z.string().meta({ format: 'date-time' }),
    decided_at: z.string().nullable().meta({ format: 'date-time' }),
    decided_by: z.string().nullable(),
    signal: z.union([
      SignalCandidateSchema,
      z.string().meta({ description: 'The stored body as text, when `signal_issue` is present.' }),
    ]),
    signal_issue: z.string().optional().meta({
      description:
        'Present only when the stored body cannot be shown as JSON (a row from an older release over the body limits, or with a duplicate key); says why. `signal` is then the stored text.',
    }),
  })
  .meta({ id: 'SignalView', title: 'SignalView', description: 'A stored signal, as operators see it.' });

const SignalPageSchema = z
  .object({
    items: z.array(SignalViewSchema),
    next_cursor: z
      .string()
      .nullable()
      .meta({ description: 'Pass as `cursor` for the next page; null on the last.' }),
  })
  .meta({ id: 'SignalPage', title: 'SignalPage' });

const COMPONENTS = {
  SignalCandidate: SignalCandidateSchema,
  SignalIngestResponse: SignalIngestResponseSchema,
  Problem: ProblemSchema,
  SignalView: SignalViewSchema,
  SignalPage: SignalPageSchema,
  RejectRequest: RejectBodySchema,
  ApproveRequest: ApproveBodySchema,
} as const;

function componentSchemas(): Record<string, Json> {
  const registry = z.registry<{ id: string }>();
  for (const [id, schema] of Object.entries(COMPONENTS)) registry.add(schema, { id });
  const { schemas } = z.toJSONSchema(registry, {
    target: 'draft-2020-12',
    io: 'input',
    unrepresentable: 'any',
    uri: (id) => `#/components/schemas/${id}`,
  });
  const out: Record<string, Json> = {};
  for (const [id, schema] of Object.entries(schemas)) {
    const { $schema: _s, $id: _i, ...rest } = schema as Json;
    out[id] = rest;
  }
  return out;
}

const ref = (id: keyof typeof COMPONENTS) => ({ $ref: `#/components/schemas/${id}` });

function problems(...codes: ProblemCode[]): Json {
  const byStatus = new Map<number, ProblemCode[]>();
  for (const code of codes) {
    const { status } = PROBLEMS[code];
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  const out: Json = {};
  for (const [status, list] of byStatus) {
    out[String(status)] = {
      description: list.map((c) => `\`${c}\`: ${PROBLEMS[c].title}`).join('; '),
      content: { [PROBLEM_CONTENT_TYPE]: { schema: ref('Problem') } },
    };
  }
  return out;
}

/** A JSON request or response body of `schema`. */
const jsonContent = (schema: Json): Json => ({ 'application/json': { schema } });

/** `{"items": [ITEM, …]}`: how the operator API answers a list that comes in one piece. */
const itemList = (item: Json): Json => ({
  type: 'object',
  required: ['items'],
  properties: { items: { type: 'array', items: item } },
});

const header = (name: string, description: string, pattern?: string, required = true): Json => ({
  name,
  in: 'header',
  required,
  description,
  schema: { type: 'string', ...(pattern ? { pattern } : {}) },
});

const bearer = [{ operatorToken: [] }];
/** Every operator route can meet these: the store down or failing. */
const OPERATOR_FAILURES: readonly ProblemCode[] = ['store-unavailable', 'internal'];
/** Approve and reject read a JSON body. */
const DECISION_BODY_REFUSALS: readonly ProblemCode[] = [
  'malformed-json',
  'unsupported-media-type',
  'body-too-large',
];
const idParam = {
  name: 'id',
  in: 'path',
  required: true,
  schema: { type: 'string' },
  description: 'Signal id (sig_…).',
};

/** Options of `buildOpenApiDocument`: values that appear in the descriptions. */
export interface OpenApiOptions {
  readonly toleranceSeconds: number;
  readonly maxBodyBytes: number;
  readonly idempotencyTtlSeconds: number;
}

/**
 * The OpenAPI 3.1 document of the ingest server. Schemas are generated with `z.toJSONSchema` from the
 * same zod schemas the server validates with (`SignalCandidateSchema`, `SignalListQuerySchema`, …).
 *
 * @example
 * const doc = buildOpenApiDocument({ toleranceSeconds: 300, maxBodyBytes: 65536, idempotencyTtlSeconds: 86400 });
 */
export function buildOpenApiDocument(options: OpenApiOptions): Json {
  const queryShape = z.toJSONSchema(SignalListQuerySchema, { target: 'draft-2020-12', io: 'input' }) as {
    properties: Record<string, Json>;
  };
  const listParameters = Object.entries(queryShape.properties).map(([name, schema]) => {
    const { description, ...rest } = schema;
    return { name, in: 'query', required: false, description, schema: rest };
  });
  return {
    openapi: '3.1.0',
    info: {
      title: 'Sigpost ingest server',
      version: '1',
      description:
        'Receives HMAC-SHA256 signed trading signals (wire protocol v1, see docs/protocol.md), and lets ' +
        'operators review them. Every refusal is RFC 9457 problem+json with a stable `type`; docs/errors.md ' +
        'lists each with how to fix it. Any request can also be refused by the HTTP layer before it reaches ' +
        'a route: `malformed-http` (400), `request-timeout` (408), `expectation-failed` (417), ' +
        '`headers-too-large` (431). The wire protocol (signing, golden vectors) is at /docs/protocol. ' +
        'Accepted and decided signals are delivered live over the WebSocket stream `GET /api/v1/stream` ' +
        '(docs/stream.md).',
    },
    // Relative: the server that serves this document, whatever name or port it is reached by.
    servers: [{ url: '/', description: 'This server (the origin /openapi.json was fetched from).' }],
    paths: {
      [INGEST_PATH]: {
        post: {
          operationId: 'ingestSignal',
          summary: 'Submit a signed signal',
          description:
            `Checks, in order: body size (≤ ${options.maxBodyBytes} bytes) → auth headers → timestamp within ` +
            `±${options.toleranceSeconds} s → signature over the exact body bytes → rate limit → idempotency key form ` +
            '→ Content-Type → JSON → signal validation → same key in flight → approval policy → commit, which ' +
            'answers a committed key from its record and refuses a signature already accepted. ' +
            `A repeat with the same key and body within ${options.idempotencyTtlSeconds} s gets the stored answer ` +
            `again with \`${HEADERS.idempotentReplayed}: true\`.`,
          parameters: [
            header(
              HEADERS.producerId,
              'Producer id: 1–64 characters of A-Z a-z 0-9 . _ -',
              '^[A-Za-z0-9._-]{1,64}$',
            ),
            header(HEADERS.timestamp, 'RFC 3339 date-time of signing, e.g. 2025-10-25T14:30:45.123456Z'),
            header(HEADERS.signature, 'base64 HMAC-SHA256 of the canonical string (44 characters)'),
            header(
              HEADERS.idempotencyKey,
              '1–255 visible ASCII characters; reuse it on every retry of the same signal',
              '^[\\x21-\\x7e]{1,255}$',
              false,
            ),
          ],
          requestBody: {
            required: true,
            content: jsonContent(ref('SignalCandidate')),
          },
          responses: {
            '201': {
              description: 'Stored (status received, pending_approval, or rejected by policy).',
              headers: {
                [HEADERS.idempotentReplayed]: {
                  description:
                    '`true` when this is the stored answer to an earlier request with the same key and body.',
                  schema: { type: 'string', enum: ['true'] },
                },
              },
              content: jsonContent(ref('SignalIngestResponse')),
            },
            ...problems(
              'malformed-json',
              'invalid-signal',
              'invalid-idempotency-key',
              'missing-auth-headers',
              'timestamp-out-of-window',
              'invalid-signature',
              'request-in-flight',
              'replayed-signature',
              'body-too-large',
              'unsupported-media-type',
              'idempotency-key-reused',
              'rate-limited',
              'internal',
              'store-unavailable',
              // The HTTP layer's, before the route (every path can meet them; see info.description).
              'malformed-http',
              'request-timeout',
              'headers-too-large',
            ),
          },
        },
      },
      [`${OPERATOR_PREFIX}/signals`]: {
        get: {
          operationId: 'listSignals',
          summary: 'List signals, newest first',
          security: bearer,
          parameters: listParameters,
          responses: {
            '200': {
              description: 'One page.',
              content: jsonContent(ref('SignalPage')),
            },
            ...problems('invalid-request', 'operator-unauthorized', ...OPERATOR_FAILURES),
          },
        },
      },
      [`${OPERATOR_PREFIX}/producers`]: {
        get: {
          operationId: 'listProducers',
          summary: 'List producers: approval mode, allowed instruments, secret ids (never secrets)',
          security: bearer,
          responses: {
            '200': {
              description: 'Every producer, by id.',
              content: jsonContent(
                itemList({
                  type: 'object',
                  required: ['producer_id', 'approval', 'instruments', 'created_at', 'secrets'],
                  properties: {
                    producer_id: { type: 'string' },
                    approval: { enum: ['auto', 'manual'] },
                    instruments: {
                      description: 'Allowed instruments; null means any.',
                      oneOf: [{ type: 'array', items: { type: 'string' } }, { type: 'null' }],
                    },
                    created_at: { type: 'string', format: 'date-time' },
                    secrets: {
                      description: 'Active secrets, oldest first: ids only.',
                      type: 'array',
                      items: {
                        type: 'object',
                        required: ['secret_id', 'created_at'],
                        properties: {
                          secret_id: { type: 'string' },
                          created_at: { type: 'string', format: 'date-time' },
                        },
                      },
                    },
                  },
                }),
              ),
            },
            ...problems('operator-unauthorized', ...OPERATOR_FAILURES),
          },
        },
      },
      [`${OPERATOR_PREFIX}/signals/{id}`]: {
        get: {
          operationId: 'getSignal',
          summary: 'Get one signal',
          security: bearer,
          parameters: [idParam],
          responses: {
            '200': {
              description: 'The signal.',
              content: jsonContent(ref('SignalView')),
            },
            ...problems('not-found', 'operator-unauthorized', ...OPERATOR_FAILURES),
          },
        },
      },
      [`${OPERATOR_PREFIX}/signals/{id}/events`]: {
        get: {
          operationId: 'getSignalEvents',
          summary: "A signal's history: its live-stream events",
          description:
            'The events the live stream sent (or would send) about this signal, oldest first: its acceptance, then its decision, each exactly as a stream frame (docs/stream.md): `type`, `seq`, `at`, and `signal` as of that event, with `decided_by` (the actor) and `decision_channel` (api, cli, console or telegram). Empty once retention purged them.',
          security: bearer,
          parameters: [idParam],
          responses: {
            '200': {
              description: 'The events, oldest first.',
              content: jsonContent(
                itemList({
                  type: 'object',
                  required: ['type', 'seq', 'at', 'signal'],
                  properties: {
                    type: {
                      type: 'string',
                      enum: [
                        'signal.received',
                        'signal.pending_approval',
                        'signal.approved',
                        'signal.rejected',
                      ],
                    },
                    seq: { type: 'integer', minimum: 1 },
                    at: { type: 'string', format: 'date-time' },
                    signal: { type: 'object' },
                  },
                }),
              ),
            },
            ...problems('not-found', 'operator-unauthorized', ...OPERATOR_FAILURES),
          },
        },
      },
      [`${OPERATOR_PREFIX}/signals/{id}/approve`]: {
        post: {
          operationId: 'approveSignal',
          summary: 'Approve a pending signal',
          security: bearer,
          parameters: [idParam],
          requestBody: {
            required: false,
            content: jsonContent(ref('ApproveRequest')),
          },
          responses: {
            '200': {
              description: 'Approved.',
              content: jsonContent(ref('SignalView')),
            },
            ...problems(
              'not-found',
              'signal-not-pending',
              'invalid-request',
              'operator-unauthorized',
              ...DECISION_BODY_REFUSALS,
              ...OPERATOR_FAILURES,
            ),
          },
        },
      },
      [`${OPERATOR_PREFIX}/signals/{id}/reject`]: {
        post: {
          operationId: 'rejectSignal',
          summary: 'Reject a pending signal with a reason',
          security: bearer,
          parameters: [idParam],
          requestBody: { required: true, content: jsonContent(ref('RejectRequest')) },
          responses: {
            '200': {
              description: 'Rejected.',
              content: jsonContent(ref('SignalView')),
            },
            ...problems(
              'not-found',
              'signal-not-pending',
              'invalid-request',
              'operator-unauthorized',
              ...DECISION_BODY_REFUSALS,
              ...OPERATOR_FAILURES,
            ),
          },
        },
      },
      '/api/v1/stream': {
        get: {
          operationId: 'stream',
          summary: 'Live stream of accepted and decided signals (WebSocket)',
          description:
            'Upgrade to WebSocket (RFC 6455) with `Authorization: Bearer <subscriber token>` ' +
            '(`sigpost subscribers create`; browsers send the token as the first message instead). Query: ' +
            '`after` (replay events with a larger seq, then live), `statuses`, `producers` (within the ' +
            "token's scope). Messages, close codes and resume rules: docs/stream.md. Never put a token in the query string.",
          responses: {
            '101': { description: 'Switching Protocols: the stream starts with a `hello` message.' },
            ...problems(
              'invalid-stream-request',
              'token-in-query',
              'invalid-subscriber-token',
              'stream-scope-forbidden',
              'too-many-connections',
              'store-unavailable',
            ),
          },
        },
      },
      '/healthz': {
        get: {
          operationId: 'health',
          summary: 'Liveness: the process answers',
          responses: { '200': { description: 'Alive.' } },
        },
      },
      '/readyz': {
        get: {
          operationId: 'ready',
          summary: 'Readiness: the store answers and the server is not shutting down',
          responses: { '200': { description: 'Ready.' }, ...problems('store-unavailable') },
        },
      },
      '/metrics': {
        get: {
          operationId: 'metrics',
          summary: 'Prometheus metrics',
          responses: { '200': { description: 'Prometheus text format.', content: { 'text/plain': {} } } },
        },
      },
    },
    components: {
      schemas: componentSchemas(),
      securitySchemes: {
        operatorToken: {
          type: 'http',
          scheme: 'bearer',
          description:
            'An operator token from `sigpost tokens create`. (The browser console at /console uses a session cookie and an X-CSRF-Token header instead.)',
        },
      },
    },
  };
}

/** Escapes text for HTML content and attribute values. */
export const escapeHtml = (value: unknown): string =>
  String(value).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const html = escapeHtml;

/** Escapes a description and renders its Markdown code spans (`like this`) as `<code>`. */
export function inlineMarkdown(value: unknown): string {
  return html(value).replace(/`([^`]+)`/g, '<code>$1</code>');
}

function typeOf(schema: Json): string {
  if (typeof schema.$ref === 'string') {
    const id = schema.$ref.split('/').pop() ?? '';
    return `<a href="#schema-${html(id)}">${html(id)}</a>`;
  }
  if (Array.isArray(schema.anyOf)) return (schema.anyOf as Json[]).map(typeOf).join(' | ');
  if (Array.isArray(schema.enum))
    return (schema.enum as unknown[]).map((v) => `<code>${html(JSON.stringify(v))}</code>`).join(' | ');
  const type = Array.isArray(schema.type) ? schema.type.join(' | ') : String(schema.type ?? 'any');
  if (schema.type === 'array' && schema.items) return `${typeOf(schema.items as Json)}[]`;
  return html(type);
}

function constraints(schema: Json): string {
  const parts: string[] = [];
  for (const key of [
    'pattern',
    'format',
    'minimum',
    'maximum',
    'minLength',
    'maxLength',
    'example',
  ] as const) {
    const value = schema[key];
    // z.int() without bounds says "a safe integer" as ±(2^53 − 1): noise, not a limit.
    if ((key === 'minimum' || key === 'maximum') && Math.abs(Number(value)) === Number.MAX_SAFE_INTEGER)
      continue;
    if (value !== undefined)
      parts.push(
        `${key}: <code>${html(typeof schema[key] === 'string' ? schema[key] : JSON.stringify(schema[key]))}</code>`,
      );
  }
  return parts.join(', ');
}

function schemaTable(schema: Json): string {
  const properties = (schema.properties ?? {}) as Record<string, Json>;
  const required = new Set((schema.required ?? []) as string[]);
  const rows = Object.entries(properties)
    .map(
      ([name, p]) =>
        `<tr><td><code>${html(name)}</code>${required.has(name) ? '' : ' <small>optional</small>'}</td>` +
        `<td>${typeOf(p)}</td><td>${inlineMarkdown(p.description ?? '')} ${constraints(p)}</td></tr>`,
    )
    .join('');
  return `<table><tr><th>field</th><th>type</th><th>notes</th></tr>${rows}</table>`;
}

/**
 * A self-contained HTML reference (no scripts, no CDN) rendered from the OpenAPI document, for `/docs`.
 */
export function renderDocsHtml(doc: Json): string {
  const info = doc.info as Json;
  const paths = doc.paths as Record<string, Record<string, Json>>;
  const schemas = (doc.components as { schemas: Record<string, Json> }).schemas;
  const operations = Object.entries(paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, op]) => {
      const params = ((op.parameters ?? []) as Json[])
        .map(
          (p) =>
            `<tr><td><code>${html(p.name)}</code></td><td>${html(p.in)}${p.required ? ', required' : ''}</td>` +
            `<td>${inlineMarkdown(p.description ?? '')} ${constraints((p.schema ?? {}) as Json)}</td></tr>`,
        )
        .join('');
      const body = op.requestBody as { content: Record<string, { schema: Json }> } | undefined;
      const responses = Object.entries((op.responses ?? {}) as Record<string, Json>)
        .map(([status, r]) => {
          const content = r.content as Record<string, { schema?: Json }> | undefined;
          const schema = content ? Object.values(content)[0]?.schema : undefined;
          return `<tr><td>${html(status)}</td><td>${inlineMarkdown(r.description ?? '')}</td><td>${schema ? typeOf(schema) : ''}</td></tr>`;
        })
        .join('');
      return (
        `<section id="${html(op.operationId)}"><h3><span class="m">${html(method.toUpperCase())}</span> <code>${html(path)}</code></h3>` +
        `<p><strong>${html(op.summary ?? '')}</strong>${op.security ? ' — needs an operator bearer token' : ''}</p>` +
        (op.description ? `<p>${inlineMarkdown(op.description)}</p>` : '') +
        (params
          ? `<h4>Parameters</h4><table><tr><th>name</th><th>in</th><th>notes</th></tr>${params}</table>`
          : '') +
        (body
          ? `<h4>Request body</h4><p>${Object.entries(body.content)
              .map(([type, c]) => `<code>${html(type)}</code>: ${typeOf(c.schema)}`)
              .join('')}</p>`
          : '') +
        `<h4>Responses</h4><table><tr><th>status</th><th>when</th><th>body</th></tr>${responses}</table></section>`
      );
    }),
  );
  const schemaSections = Object.entries(schemas)
    .map(
      ([id, schema]) =>
        `<section id="schema-${html(id)}"><h3>${html(id)}</h3><p>${inlineMarkdown(schema.description ?? '')}</p>${schemaTable(schema)}</section>`,
    )
    .join('');
  const problemRows = Object.entries(PROBLEMS)
    .map(
      ([code, p]) =>
        `<tr><td><code>${html(PROBLEM_TYPE_PREFIX + code)}</code></td><td>${p.status}</td><td>${html(p.title)}</td></tr>`,
    )
    .join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${html(info.title)} — API reference</title>
<style>
body{font:15px/1.5 system-ui,sans-serif;max-width:960px;margin:2rem auto;padding:0 1rem;color:#1d1d1f}
code{font:13px ui-monospace,monospace;background:#f2f2f5;padding:0 .25em;border-radius:3px}
table{border-collapse:collapse;width:100%;margin:.5rem 0}td,th{border:1px solid #ddd;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f7f7f9}section{border-top:1px solid #eee;padding-top:.5rem}.m{background:#1d4ed8;color:#fff;padding:0 .4em;border-radius:3px}
</style></head><body>
<h1>${html(info.title)}</h1><p>${inlineMarkdown(info.description)}</p>
<p>Machine-readable: <a href="/openapi.json">/openapi.json</a> (OpenAPI ${html(doc.openapi)}). The wire protocol
(canonical string, signing, golden vectors): <a href="/docs/protocol">/docs/protocol</a>.</p>
<h2>Operations</h2>${operations.join('\n')}
<h2>Schemas</h2>${schemaSections}
<h2>Problem types</h2><table><tr><th>type</th><th>status</th><th>title</th></tr>${problemRows}</table>
</body></html>`;
}
