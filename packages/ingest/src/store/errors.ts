// Every error a store throws on purpose, in one file so tests and docs can enumerate them. Driver
// errors (better-sqlite3's SqliteError, pg's DatabaseError) arrive as `cause`.

import { defineBrand } from '@sigpost/protocol';

/** Stable codes of store errors; branch on these, not on the class or the message. */
export type StoreErrorCode =
  | 'STORE_ERROR'
  | 'STORE_CONFLICT'
  | 'STORE_NOT_FOUND'
  | 'STORE_UNAVAILABLE'
  | 'STORE_INVALID_CURSOR'
  | 'STORE_SCHEMA_TOO_NEW';

/**
 * Options of `StoreError`: its `code` (`STORE_ERROR` when left out; each subclass has its own), and the
 * driver error that caused it.
 */
export interface StoreErrorOptions {
  readonly code?: StoreErrorCode;
  readonly cause?: unknown;
}

/** Base class of every error a store throws on purpose. Driver errors arrive as `cause`. */
export class StoreError extends Error {
  override name = 'StoreError';
  readonly code: StoreErrorCode;

  constructor(message: string, options: StoreErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = options.code ?? 'STORE_ERROR';
  }
}

/** True for any `StoreError`, also one thrown by another installed copy of this package (its brand). */
export const isStoreError = defineBrand(StoreError, 'sigpost.StoreError');

/** The write collides with stored state: an existing id, or the last active secret of a producer. */
export class StoreConflictError extends StoreError {
  override name = 'StoreConflictError';
  override readonly code: StoreErrorCode = 'STORE_CONFLICT';
}

/** The producer (or other parent row) named by the call does not exist. */
export class StoreNotFoundError extends StoreError {
  override name = 'StoreNotFoundError';
  override readonly code: StoreErrorCode = 'STORE_NOT_FOUND';
}

/** The database cannot be reached or refuses the connection (down, wrong host/port, auth, no such database). */
export class StoreUnavailableError extends StoreError {
  override name = 'StoreUnavailableError';
  override readonly code: StoreErrorCode = 'STORE_UNAVAILABLE';
}

/** `SignalFilter.cursor` is not a cursor this store issued (a client error: answer 400). */
export class StoreInvalidCursorError extends StoreError {
  override name = 'StoreInvalidCursorError';
  override readonly code: StoreErrorCode = 'STORE_INVALID_CURSOR';
}

/** The database was migrated by a newer release of Sigpost than this one; nothing was changed. */
export class StoreSchemaTooNewError extends StoreError {
  override name = 'StoreSchemaTooNewError';
  override readonly code: StoreErrorCode = 'STORE_SCHEMA_TOO_NEW';
}
