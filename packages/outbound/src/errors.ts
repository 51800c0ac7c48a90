// Every error the SDK throws on purpose, in one file so tests and docs can enumerate them.
// Programmer errors (a wrong argument type, an out-of-range option) are plain TypeError/RangeError,
// thrown at once and never retried; everything operational belongs to this tree.
import type { ProblemDetails } from '@sigpost/protocol';

/** Brand shared by every copy of this package, so `isOutboundError` works across duplicate installs. */
const BRAND = Symbol.for('sigpost.OutboundError');
/** The brand of 0.1.0, still set and accepted, so that a copy of either version recognises the other's errors. */
const BRAND_0_1 = Symbol.for('sigpost.outbound.error');

/** Stable codes of `OutboundError`; callers branch on these, never on messages. */
export const OUTBOUND_ERROR_CODES = Object.freeze([
  'OUTBOUND_HTTP_ERROR',
  'OUTBOUND_NETWORK_ERROR',
  'OUTBOUND_TIMEOUT',
  'OUTBOUND_BODY_TOO_LARGE',
  'OUTBOUND_INVALID_RESPONSE',
  'OUTBOUND_ABORTED',
  'OUTBOUND_CLIENT_CLOSED',
  'OUTBOUND_INVALID_SIGNAL',
  'OUTBOUND_SIGNATURE_INVALID',
  'OUTBOUND_CONFIG_INVALID',
  'OUTBOUND_DISABLED',
] as const);

export type OutboundErrorCode = (typeof OUTBOUND_ERROR_CODES)[number];

/** Codes an `OutboundClientError` (a request that failed or was refused) can carry. */
export type OutboundClientErrorCode = Extract<
  OutboundErrorCode,
  | 'OUTBOUND_HTTP_ERROR'
  | 'OUTBOUND_NETWORK_ERROR'
  | 'OUTBOUND_TIMEOUT'
  | 'OUTBOUND_BODY_TOO_LARGE'
  | 'OUTBOUND_INVALID_RESPONSE'
  | 'OUTBOUND_ABORTED'
  | 'OUTBOUND_CLIENT_CLOSED'
>;

/** Options of `OutboundError`: its `code`, and the error that caused it. */
export interface OutboundErrorOptions {
  readonly code: OutboundErrorCode;
  readonly cause?: unknown;
}

/**
 * Base of every error the SDK throws on purpose. Branch on `code`.
 *
 * @example
 * try { await client.postSignal(signal); } catch (e) { if (isOutboundError(e)) console.error(e.code); }
 */
export class OutboundError extends Error {
  override readonly name: string = 'OutboundError';
  readonly code: OutboundErrorCode;

  constructor(message: string, options: OutboundErrorOptions) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = options.code;
  }
}

// On the prototype, not enumerable: a brand, not data.
Object.defineProperty(OutboundError.prototype, BRAND, { value: true });
Object.defineProperty(OutboundError.prototype, BRAND_0_1, { value: true });

/**
 * True for any `OutboundError`, also one thrown by another installed copy of this package.
 *
 * @example
 * if (isOutboundError(error) && error.code === 'OUTBOUND_DISABLED') return;
 */
export function isOutboundError(value: unknown): value is OutboundError {
  const branded = value as { [BRAND]?: unknown; [BRAND_0_1]?: unknown } | null;
  return (
    typeof value === 'object' && branded !== null && (branded[BRAND] === true || branded[BRAND_0_1] === true)
  );
}

export interface OutboundClientErrorOptions {
  readonly code: OutboundClientErrorCode;
  readonly method: string;
  readonly url: string;
  /** Attempts made so far, this one included (0 when nothing was sent). */
  readonly attempts: number;
  readonly httpCode?: number | undefined;
  readonly details?: ProblemDetails | undefined;
  readonly retryAfterMs?: number | undefined;
  readonly cause?: unknown;
}

/**
 * A request that failed, was refused by the server, or was refused locally before sending.
 * `httpCode` is the server's status, `undefined` when no response was received.
 */
export class OutboundClientError extends OutboundError {
  override readonly name: string = 'OutboundClientError';
  declare readonly code: OutboundClientErrorCode;
  /** The HTTP status the server answered with; `undefined` when there was no response. */
  readonly httpCode: number | undefined;
  /** The server's RFC 9457 problem+json body, when it sent one. */
  readonly details: ProblemDetails | undefined;
  /** Attempts made, this one included; 0 when the request was refused before sending. */
  readonly attempts: number;
  /** How long the server asked to wait (`Retry-After`), in ms. */
  readonly retryAfterMs?: number;
  readonly method: string;
  readonly url: string;

  constructor(message: string, options: OutboundClientErrorOptions) {
    super(message, { code: options.code, cause: options.cause });
    this.httpCode = options.httpCode;
    this.details = options.details;
    this.attempts = options.attempts;
    if (options.retryAfterMs !== undefined) this.retryAfterMs = options.retryAfterMs;
    this.method = options.method;
    this.url = options.url;
  }
}

/** An attempt that got no complete answer within its timeout (connect, headers or body). */
export class OutboundTimeoutError extends OutboundClientError {
  override readonly name = 'OutboundTimeoutError' as const;
  declare readonly code: 'OUTBOUND_TIMEOUT';
  /** The timeout the attempt had, in ms. */
  readonly timeoutMs: number;

  constructor(message: string, options: Omit<OutboundClientErrorOptions, 'code'> & { timeoutMs: number }) {
    super(message, { ...options, code: 'OUTBOUND_TIMEOUT' });
    this.timeoutMs = options.timeoutMs;
  }
}

/**
 * A signature that does not verify (`assertSignature`). The message never contains the
 * signature or the secret.
 */
export class OutboundSignatureError extends OutboundError {
  override readonly name = 'OutboundSignatureError' as const;
  declare readonly code: 'OUTBOUND_SIGNATURE_INVALID';

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, { code: 'OUTBOUND_SIGNATURE_INVALID', cause: options?.cause });
  }
}

/** What a config problem is about. */
export type ConfigIssueCode = 'required' | 'invalid_type' | 'invalid_value' | 'renamed' | 'unknown_key';

/** One configuration problem, as data. `received` never contains the secret (only its byte length). */
export interface ConfigIssue {
  /** The env variable (`fromEnv`) or option name (constructor) the problem is about. */
  readonly key: string;
  readonly code: ConfigIssueCode;
  /** What would be valid, in words (for `renamed`: the name to use instead). */
  readonly expected: string;
  /** What was found, in words. */
  readonly received: string;
}

/** Renders issues in zod's `✖ … → at KEY` style, one block per issue. */
export function formatConfigIssues(issues: readonly ConfigIssue[]): string {
  return issues
    .map((issue) => {
      const line =
        issue.code === 'renamed'
          ? `${issue.key} is not read; use ${issue.expected}`
          : `expected ${issue.expected}, received ${issue.received}`;
      return `✖ ${line}\n  → at ${issue.key}`;
    })
    .join('\n');
}

/** An invalid configuration: every problem found, at once, in `issues`. */
export class OutboundConfigError extends OutboundError {
  override readonly name = 'OutboundConfigError' as const;
  declare readonly code: 'OUTBOUND_CONFIG_INVALID';
  readonly issues: readonly ConfigIssue[];

  constructor(issues: readonly ConfigIssue[]) {
    const count = issues.length === 1 ? '1 problem' : `${issues.length} problems`;
    super(`Invalid outbound configuration (${count}):\n${formatConfigIssues(issues)}`, {
      code: 'OUTBOUND_CONFIG_INVALID',
    });
    this.issues = Object.freeze(issues.map((i) => Object.freeze({ ...i })));
  }
}

/**
 * Thrown by `postSignal` when the config has `enabled: false` (`HMAC_PRODUCER_ENABLED=false`):
 * nothing was sent, nothing was opened.
 */
export class OutboundDisabledError extends OutboundError {
  override readonly name = 'OutboundDisabledError' as const;
  declare readonly code: 'OUTBOUND_DISABLED';

  constructor() {
    super(
      'Signal not sent: delivery is disabled by HMAC_PRODUCER_ENABLED=false (enabled: false); nothing was sent',
      { code: 'OUTBOUND_DISABLED' },
    );
  }
}

/**
 * A signal that fails the protocol's validation, refused before anything is sent and never retried.
 * It is an `OutboundError` rather than a `TypeError` because signals usually come from data
 * (market feeds, strategies), not from code, and callers handle them as operational failures.
 */
export class SignalValidationError extends OutboundError {
  override readonly name = 'SignalValidationError' as const;
  declare readonly code: 'OUTBOUND_INVALID_SIGNAL';
  /** One line per problem, each starting with the field (`stop_loss: expected below entry_price for a buy`). */
  readonly errors: readonly string[];

  constructor(errors: readonly string[], options?: { cause?: unknown }) {
    const count = errors.length === 1 ? '1 problem' : `${errors.length} problems`;
    super(
      `Signal failed validation (${count}); nothing was sent:\n${errors.map((e) => `  ${e}`).join('\n')}`,
      { code: 'OUTBOUND_INVALID_SIGNAL', cause: options?.cause },
    );
    this.errors = Object.freeze([...errors]);
  }
}
