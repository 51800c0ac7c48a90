// Every error the subscriber stops with, in one file so tests and docs can enumerate them.
// Programmer errors (a wrong option type or value) are plain TypeError/RangeError, thrown by the
// constructor. A configuration that no reconnect can fix (an https:// URL to a plain-HTTP port) is
// thrown (SUBSCRIBER_NOT_TLS). Transient failures (a refused TCP connection, a server restart, close 1001/4429/4503, a
// silent server) are never thrown: the subscriber logs them and reconnects.
import { defineBrand } from '@sigpost/protocol';

/** Stable codes of `SubscriberError`; branch on these, never on messages. */
export const SUBSCRIBER_ERROR_CODES = Object.freeze([
  'SUBSCRIBER_REFUSED',
  'SUBSCRIBER_AUTH_FAILED',
  'SUBSCRIBER_REVOKED',
  'SUBSCRIBER_CURSOR_EXPIRED',
  'SUBSCRIBER_EPOCH_MISMATCH',
  'SUBSCRIBER_GAP',
  'SUBSCRIBER_PROTOCOL_ERROR',
  'SUBSCRIBER_HANDLER_FAILED',
  'SUBSCRIBER_CURSOR_FAILED',
  'SUBSCRIBER_NOT_TLS',
] as const);

export type SubscriberErrorCode = (typeof SUBSCRIBER_ERROR_CODES)[number];

/** Options of `SubscriberError`: its `code`, and the error that caused it. */
export interface SubscriberErrorOptions {
  readonly code: SubscriberErrorCode;
  readonly cause?: unknown;
}

/**
 * Base of every error the subscriber stops with. Branch on `code`.
 *
 * @example
 * try { await subscriber.run(handle); } catch (e) { if (isSubscriberError(e)) console.error(e.code); }
 */
export class SubscriberError extends Error {
  override readonly name: string = 'SubscriberError';
  readonly code: SubscriberErrorCode;

  constructor(message: string, options: SubscriberErrorOptions) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = options.code;
  }
}

/**
 * True for any `SubscriberError`, also one thrown by another installed copy of this package (0.1.0's
 * brand, `sigpost.subscriber.error`, is still set and accepted, so either version recognises the other's).
 */
export const isSubscriberError = defineBrand(
  SubscriberError,
  'sigpost.SubscriberError',
  'sigpost.subscriber.error',
);

/** An RFC 9457 problem, as the server answered a refused upgrade. */
export interface StreamProblem {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail?: string;
  readonly [key: string]: unknown;
}

/**
 * The server refused the upgrade with an HTTP 4xx that another attempt cannot change (`401`
 * `invalid-subscriber-token`, `400` `token-in-query` / `invalid-stream-request`, `403`
 * `stream-scope-forbidden`, ...). `429` and `5xx` are retried, never thrown.
 */
export class SubscriberRefusedError extends SubscriberError {
  override readonly name: string = 'SubscriberRefusedError';
  /** The HTTP status of the refusal. */
  readonly httpCode: number;
  /** The problem+json body, when the server sent one. */
  readonly problem: StreamProblem | undefined;

  constructor(httpCode: number, problem: StreamProblem | undefined) {
    const what = problem
      ? `${problem.title}${problem.detail ? `: ${problem.detail}` : ''} (${problem.type})`
      : '';
    super(`The stream server refused the connection with HTTP ${httpCode}${what ? `: ${what}` : ''}`, {
      code: 'SUBSCRIBER_REFUSED',
    });
    this.httpCode = httpCode;
    this.problem = problem;
  }
}

/** The server closed the connection with a code that ends the subscription (4401, 4403, 4410, 4400). */
export class SubscriberClosedError extends SubscriberError {
  override readonly name: string = 'SubscriberClosedError';
  /** The WebSocket close code. */
  readonly closeCode: number;
  /** The close reason, as the server sent it (short human text). */
  readonly closeReason: string;

  constructor(
    message: string,
    options: SubscriberErrorOptions & { readonly closeCode: number; readonly closeReason: string },
  ) {
    super(message, options);
    this.closeCode = options.closeCode;
    this.closeReason = options.closeReason;
  }
}

/**
 * The server's stream is not the one the cursor belongs to (its `epoch` differs): the store was
 * recreated or the cursor comes from another deployment. Seqs from two epochs cannot be compared, so
 * the subscriber refuses to guess; delete the cursor (start over) or point it at the right server.
 */
export class SubscriberEpochError extends SubscriberError {
  override readonly name: string = 'SubscriberEpochError';
  readonly expectedEpoch: string;
  readonly serverEpoch: string;

  constructor(expectedEpoch: string, serverEpoch: string) {
    super(
      `The server's stream epoch ${JSON.stringify(serverEpoch)} is not the cursor's ${JSON.stringify(expectedEpoch)}: ` +
        'the cursor belongs to another store; remove it to start over, or connect to the server it came from',
      { code: 'SUBSCRIBER_EPOCH_MISMATCH' },
    );
    this.expectedEpoch = expectedEpoch;
    this.serverEpoch = serverEpoch;
  }
}

/**
 * Events may have been lost between `afterSeq` and `nextSeq`: the server's head is behind the
 * cursor (its store went back in time), or, with `contiguous: true`, a seq was skipped.
 */
export class SubscriberGapError extends SubscriberError {
  override readonly name: string = 'SubscriberGapError';
  /** The last seq the subscriber had. */
  readonly afterSeq: number;
  /** The seq (or head) the server gave next. */
  readonly nextSeq: number;

  constructor(message: string, options: { readonly afterSeq: number; readonly nextSeq: number }) {
    super(message, { code: 'SUBSCRIBER_GAP' });
    this.afterSeq = options.afterSeq;
    this.nextSeq = options.nextSeq;
  }
}
