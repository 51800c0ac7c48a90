// Every error the SDK throws on purpose, in one file so tests and docs can enumerate them.
// Programmer errors (a wrong argument type, an out-of-range option) are plain TypeError/RangeError,
// thrown at once and never retried; everything operational belongs to this tree.
import {
  defineBrand,
  type Issue,
  type IssueCode,
  type ProblemDetails,
  renderIssues,
} from '@sigpost/protocol';

/** The codes an `OutboundClientError` (a request that failed or was refused) can carry. */
const CLIENT_ERROR_CODES = [
  'OUTBOUND_HTTP_ERROR',
  'OUTBOUND_NETWORK_ERROR',
  'OUTBOUND_TIMEOUT',
  'OUTBOUND_BODY_TOO_LARGE',
  'OUTBOUND_INVALID_RESPONSE',
  'OUTBOUND_ABORTED',
  'OUTBOUND_CLIENT_CLOSED',
] as const;

/** Stable codes of `OutboundError`; callers branch on these, never on messages. */
export const OUTBOUND_ERROR_CODES = Object.freeze([
  ...CLIENT_ERROR_CODES,
  'OUTBOUND_INVALID_SIGNAL',
  'OUTBOUND_SIGNATURE_INVALID',
  'OUTBOUND_CONFIG_INVALID',
  'OUTBOUND_DISABLED',
] as const);

export type OutboundErrorCode = (typeof OUTBOUND_ERROR_CODES)[number];

/** Codes an `OutboundClientError` (a request that failed or was refused) can carry. */
export type OutboundClientErrorCode = (typeof CLIENT_ERROR_CODES)[number];

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

/**
 * True for any `OutboundError`, also one thrown by another installed copy of this package (0.1.0's
 * brand, `sigpost.outbound.error`, is still set and accepted, so either version recognises the other's).
 *
 * @example
 * if (isOutboundError(error) && error.code === 'OUTBOUND_DISABLED') return;
 */
export const isOutboundError = defineBrand(OutboundError, 'sigpost.OutboundError', 'sigpost.outbound.error');

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

/** What a config problem is about: the protocol's `IssueCode`. */
export type ConfigIssueCode = IssueCode;

/**
 * One configuration problem: the protocol's `Issue`, with its `code` always set. `key` is the env
 * variable (`fromEnv`) or option name (constructor) the problem is about.
 */
export type ConfigIssue = Issue & { readonly code: IssueCode };

/** Renders issues in zod's `✖ … → at KEY` style: the protocol's `renderIssues`. */
export const formatConfigIssues: (issues: readonly ConfigIssue[]) => string = renderIssues;

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

// Guards for the subclasses callers branch on, by `code` (each code belongs to one class), so that
// they also recognise errors of another installed copy, 0.1.0 included, where `instanceof` is false.
const clientCodes: ReadonlySet<string> = new Set(CLIENT_ERROR_CODES);

/** True for any `OutboundClientError` (an `OutboundTimeoutError` too), also from another installed copy. */
export function isOutboundClientError(value: unknown): value is OutboundClientError {
  return isOutboundError(value) && clientCodes.has(value.code);
}

/** True for any `OutboundConfigError`, also from another installed copy of this package. */
export function isOutboundConfigError(value: unknown): value is OutboundConfigError {
  return isOutboundError(value) && value.code === 'OUTBOUND_CONFIG_INVALID';
}

/** True for any `SignalValidationError`, also from another installed copy of this package. */
export function isSignalValidationError(value: unknown): value is SignalValidationError {
  return isOutboundError(value) && value.code === 'OUTBOUND_INVALID_SIGNAL';
}
