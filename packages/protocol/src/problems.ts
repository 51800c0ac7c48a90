/**
 * RFC 9457 problem details: the one table of problem types that the ingest server answers with.
 * `docs/errors.md` documents every code (a test keeps the two in step).
 */

/** Prefix of every problem `type` URI: `urn:sigpost:problem:<code>`. */
export const PROBLEM_TYPE_PREFIX = 'urn:sigpost:problem:' as const;

export const PROBLEMS = Object.freeze({
  'body-too-large': { status: 413, title: 'Request body too large' },
  'missing-auth-headers': { status: 401, title: 'Missing or malformed authentication headers' },
  'timestamp-out-of-window': { status: 401, title: 'Timestamp outside the accepted window' },
  'invalid-signature': { status: 401, title: 'Unknown producer or invalid signature' },
  'unsupported-media-type': { status: 415, title: 'Content-Type must be application/json' },
  'malformed-json': { status: 400, title: 'Body is not valid JSON' },
  'invalid-signal': { status: 400, title: 'Signal failed validation' },
  'invalid-idempotency-key': { status: 400, title: 'Malformed idempotency key' },
  'request-in-flight': { status: 409, title: 'A request with this idempotency key is in flight' },
  'replayed-signature': { status: 409, title: 'Signature already accepted' },
  'idempotency-key-reused': { status: 422, title: 'Idempotency key reused with a different body' },
  'rate-limited': { status: 429, title: 'Producer over its rate limit' },
  'operator-unauthorized': { status: 401, title: 'Missing or invalid operator token' },
  'telegram-unauthorized': { status: 401, title: 'Missing or invalid Telegram webhook secret token' },
  'csrf-rejected': { status: 403, title: 'Cross-site request refused' },
  'too-many-sign-in-attempts': { status: 429, title: 'Too many console sign-in attempts' },
  'invalid-request': { status: 400, title: 'Invalid request parameters' },
  'malformed-http': { status: 400, title: 'Malformed HTTP request' },
  'request-timeout': { status: 408, title: 'Request not received in time' },
  'expectation-failed': { status: 417, title: 'Expectation not supported' },
  'headers-too-large': { status: 431, title: 'Request headers too large' },
  'not-found': { status: 404, title: 'Not found' },
  'method-not-allowed': { status: 405, title: 'Method not allowed' },
  'signal-not-pending': { status: 409, title: 'Signal is not pending approval' },
  'invalid-subscriber-token': { status: 401, title: 'Missing or invalid stream token' },
  'token-in-query': { status: 400, title: 'Token in the query string' },
  'invalid-stream-request': { status: 400, title: 'Invalid stream request' },
  'stream-scope-forbidden': { status: 403, title: 'Outside the token scope' },
  'too-many-connections': { status: 429, title: 'Too many stream connections for this token' },
  'store-unavailable': { status: 503, title: 'Storage unavailable' },
  internal: { status: 500, title: 'Internal server error' },
} as const satisfies Record<string, { status: number; title: string }>);

export type ProblemCode = keyof typeof PROBLEMS;

/** An RFC 9457 `application/problem+json` body. */
export interface ProblemDetails {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail?: string;
  /** One line per field problem, for `invalid-signal`. */
  readonly errors?: readonly string[];
  readonly [extension: string]: unknown;
}

export const PROBLEM_CONTENT_TYPE = 'application/problem+json' as const;

export function problemType(code: ProblemCode): string {
  return `${PROBLEM_TYPE_PREFIX}${code}`;
}

/** Builds the problem body for a code, with an optional detail and extension members. */
export function problem(
  code: ProblemCode,
  detail?: string,
  extensions: Readonly<Record<string, unknown>> = {},
): ProblemDetails {
  const { status, title } = PROBLEMS[code];
  return {
    type: problemType(code),
    title,
    status,
    ...(detail === undefined ? {} : { detail }),
    ...extensions,
  };
}

/** The code of a problem type URI, when it is one of ours. */
export function problemCode(type: unknown): ProblemCode | undefined {
  if (typeof type !== 'string' || !type.startsWith(PROBLEM_TYPE_PREFIX)) return undefined;
  const code = type.slice(PROBLEM_TYPE_PREFIX.length);
  return Object.hasOwn(PROBLEMS, code) ? (code as ProblemCode) : undefined;
}

/** True when a parsed JSON value looks like a problem+json body. */
export function isProblemDetails(value: unknown): value is ProblemDetails {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return typeof v.type === 'string' && typeof v.title === 'string' && typeof v.status === 'number';
}
