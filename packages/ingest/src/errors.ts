/**
 * Errors of `@sigpost/ingest` that callers (the CLI, embedding code) branch on, in one table.
 *
 * HTTP refusals are not thrown as errors: they are problem+json answers built from the protocol's
 * `PROBLEMS` table (see ./problems.ts). The classes here are for the programmatic API: bad
 * configuration, bad admin input, conflicts and unknown ids. Store failures keep their own classes
 * (`StoreError` in ./store/errors.ts) and arrive here as `cause`.
 */

import { defineBrand, type Issue, renderIssues } from '@sigpost/protocol';

export type IngestErrorCode =
  | 'INGEST_CONFIG'
  | 'INGEST_INVALID_INPUT'
  | 'INGEST_CONFLICT'
  | 'INGEST_NOT_FOUND';

/** Options of `IngestError`: its `code`, and the error that caused it. */
export interface IngestErrorOptions {
  readonly code: IngestErrorCode;
  readonly cause?: unknown;
}

/**
 * Base class of every error this package throws on purpose. Branch on `code`.
 *
 * @example
 * try { await admin.createProducer(input); } catch (e) { if (isIngestError(e)) console.error(e.code); }
 */
export class IngestError extends Error {
  override readonly name: string = 'IngestError';
  readonly code: IngestErrorCode;

  constructor(message: string, options: IngestErrorOptions) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = options.code;
  }
}

/** True for any `IngestError`, also one thrown by another installed copy of this package. */
export const isIngestError = defineBrand(IngestError, 'sigpost.IngestError');

/** One problem found while validating configuration or input: the protocol's `Issue`. */
export type InputIssue = Issue;
export { renderIssues };

/** Server configuration is invalid; `issues` lists every problem at once. */
export class ConfigError extends IngestError {
  override readonly name = 'ConfigError' as const;
  readonly issues: readonly InputIssue[];

  constructor(issues: readonly InputIssue[]) {
    super(`Invalid ingest server configuration:\n${renderIssues(issues)}`, { code: 'INGEST_CONFIG' });
    this.issues = issues;
  }
}

/** An admin or operator input (producer id, secret, instruments, token name, filter) is invalid. */
export class InvalidInputError extends IngestError {
  override readonly name = 'InvalidInputError' as const;
  readonly issues: readonly InputIssue[];

  constructor(what: string, issues: readonly InputIssue[]) {
    super(`Invalid ${what}:\n${renderIssues(issues)}`, { code: 'INGEST_INVALID_INPUT' });
    this.issues = issues;
  }
}

/** The operation conflicts with the stored state (producer exists, last secret, signal not pending). */
export class ConflictError extends IngestError {
  override readonly name = 'ConflictError' as const;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, { code: 'INGEST_CONFLICT', cause: options?.cause });
  }
}

/** The named producer, secret, token or signal does not exist. */
export class NotFoundError extends IngestError {
  override readonly name = 'NotFoundError' as const;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, { code: 'INGEST_NOT_FOUND', cause: options?.cause });
  }
}
