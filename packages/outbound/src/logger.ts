// The SDK takes a logger and never constructs one. Fields pass an allowlist so that headers, the
// secret, signatures and bodies cannot reach a log line by accident (fastify's request serializer
// works the same way).

type LogMethod = (obj: object, msg: string) => void;

/**
 * The logger `HmacClient` writes to: pino's method shape (`logger.info({ field }, 'message')`),
 * so a pino logger (or a child of one) can be passed as it is.
 *
 * @example
 * import pino from 'pino';
 * const client = new HmacClient(config, pino({ name: 'producer' }));
 */
export interface OutboundLogger {
  debug: LogMethod;
  info: LogMethod;
  warn: LogMethod;
  error: LogMethod;
  fatal: LogMethod;
  /** pino's level check; when present, debug lines are skipped without being built if debug is off. */
  isLevelEnabled?: (level: string) => boolean;
}

/** Every field the SDK may log, with its meaning. Nothing else is ever written. */
export interface OutboundLogFields {
  /** `X-Producer-Id`. */
  producer_id?: string | undefined;
  /** The server-assigned id of an accepted signal. */
  signal_id?: string | undefined;
  /** The `status` of an accepted signal (`received`, `pending_approval`, `rejected`). */
  signal_status?: string | undefined;
  /** HTTP status of the answer. */
  http_code?: number | undefined;
  /** Time of this attempt (or of the whole delivery, on the final line), in ms. */
  duration_ms?: number | undefined;
  /** 1-based number of this attempt. */
  attempt?: number | undefined;
  /** Attempts allowed (`retry.limit`). */
  attempt_limit?: number | undefined;
  /** `X-Idempotency-Key` (not a secret: the server echoes it in logs too). */
  idempotency_key?: string | undefined;
  /** The signal's instrument. */
  instrument?: string | undefined;
  /** Size of the serialised body, in bytes (never the body itself). */
  body_bytes?: number | undefined;
  /** The `OutboundError` code of a failure. */
  error_code?: string | undefined;
  /** The failure's message (messages never contain the secret, signature or body). */
  error_message?: string | undefined;
  /** The RFC 9457 problem `type` the server answered with. */
  problem_type?: string | undefined;
  /** Wait before the next attempt, in ms. */
  delay_ms?: number | undefined;
  /** Why no further attempt is made: `not-retryable`, `attempts-exhausted` or `deadline`. */
  retry_stop_reason?: string | undefined;
  /** Validation problems of a refused signal, one line per field. */
  validation_errors?: readonly string[] | undefined;
}

/** The allowlist, as data; `logFields` keeps only these keys. */
export const LOG_FIELDS: readonly (keyof OutboundLogFields)[] = Object.freeze([
  'producer_id',
  'signal_id',
  'signal_status',
  'http_code',
  'duration_ms',
  'attempt',
  'attempt_limit',
  'idempotency_key',
  'instrument',
  'body_bytes',
  'error_code',
  'error_message',
  'problem_type',
  'delay_ms',
  'retry_stop_reason',
  'validation_errors',
] as const);

const ALLOWED: ReadonlySet<string> = new Set(LOG_FIELDS);

/** Copies the allowlisted, defined fields of `fields` into a fresh object. */
export function logFields(fields: OutboundLogFields): OutboundLogFields {
  const out: Record<string, unknown> = {};
  for (const key in fields) {
    const value = (fields as Record<string, unknown>)[key];
    if (value !== undefined && ALLOWED.has(key)) out[key] = value;
  }
  return out as OutboundLogFields;
}

/** Checks that `logger` has the five methods, so a wrong argument fails at construction, not mid-delivery. */
export function assertLogger(logger: unknown): asserts logger is OutboundLogger {
  const missing = (['debug', 'info', 'warn', 'error', 'fatal'] as const).filter(
    (m) => typeof (logger as Record<string, unknown> | null)?.[m] !== 'function',
  );
  if (missing.length > 0) {
    throw new TypeError(
      `Expected \`logger\` to be a pino-compatible logger, missing ${missing.map((m) => `${m}()`).join(', ')}`,
    );
  }
}
