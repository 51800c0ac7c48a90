// Errors of the outbox. They form their own small tree beside `OutboundError` because the outbox is an
// optional subpath: its codes describe the local store, not a request to the server.
import { defineBrand } from '@sigpost/protocol';

/** Stable codes of `OutboxError`; callers branch on these, never on messages. */
export const OUTBOX_ERROR_CODES = Object.freeze([
  'OUTBOX_OPEN_FAILED',
  'OUTBOX_NOT_FOUND',
  'OUTBOX_NOT_AN_OUTBOX',
  'OUTBOX_SCHEMA_UNSUPPORTED',
  'OUTBOX_KEY_CONFLICT',
  'OUTBOX_LOCKED',
  'OUTBOX_LOCK_LOST',
  'OUTBOX_CLOSED',
] as const);

export type OutboxErrorCode = (typeof OUTBOX_ERROR_CODES)[number];

/** Options of `OutboxError`: its `code`, the outbox file it is about, and the error that caused it. */
export interface OutboxErrorOptions {
  readonly code: OutboxErrorCode;
  /** The outbox file the error is about. */
  readonly path: string;
  readonly cause?: unknown;
}

/**
 * Base of every error the outbox throws on purpose. Branch on `code`.
 * Invalid signals are refused with the SDK's `SignalValidationError`, as `postSignal` refuses them.
 *
 * @example
 * try { await outbox.drain({ client }); } catch (e) { if (isOutboxError(e) && e.code === 'OUTBOX_LOCKED') … }
 */
export class OutboxError extends Error {
  override readonly name: string = 'OutboxError';
  readonly code: OutboxErrorCode;
  /** The outbox file the error is about. */
  readonly path: string;

  constructor(message: string, options: OutboxErrorOptions) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = options.code;
    this.path = options.path;
  }
}

/**
 * True for any `OutboxError`, also one thrown by another installed copy of this package (0.1.0's brand,
 * `sigpost.outbound.outbox.error`, is still set and accepted).
 */
export const isOutboxError = defineBrand(OutboxError, 'sigpost.OutboxError', 'sigpost.outbound.outbox.error');

/** An idempotency key given to `enqueue` that the outbox already holds with a different signal. */
export class OutboxKeyConflictError extends OutboxError {
  override readonly name = 'OutboxKeyConflictError' as const;
  declare readonly code: 'OUTBOX_KEY_CONFLICT';
  readonly idempotencyKey: string;
  /** The entry that already has the key. */
  readonly entryId: number;

  constructor(path: string, idempotencyKey: string, entryId: number) {
    super(
      `Idempotency key ${JSON.stringify(idempotencyKey)} is already used by entry ${entryId} with a different signal, in outbox ${path}`,
      { code: 'OUTBOX_KEY_CONFLICT', path },
    );
    this.idempotencyKey = idempotencyKey;
    this.entryId = entryId;
  }
}

/** Another live drain (in this or another process) holds the outbox; only one drains it at a time. */
export class OutboxLockedError extends OutboxError {
  override readonly name = 'OutboxLockedError' as const;
  declare readonly code: 'OUTBOX_LOCKED';
  /** Process id of the drain that holds the lock. */
  readonly holderPid: number;
  /** Host name of the drain that holds the lock. */
  readonly holderHost: string;
  /** When the holder's lease ends unless it renews it, in epoch ms. */
  readonly expiresAt: number;

  constructor(path: string, holder: { pid: number; host: string; expiresAt: number }) {
    super(
      `Outbox ${path} is being drained by process ${holder.pid} on ${holder.host}; only one drain runs at a time`,
      { code: 'OUTBOX_LOCKED', path },
    );
    this.holderPid = holder.pid;
    this.holderHost = holder.host;
    this.expiresAt = holder.expiresAt;
  }
}
