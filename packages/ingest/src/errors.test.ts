// The four error bases of the package share one convention: constructor (message, { code, cause, … }),
// a Symbol.for('sigpost.<Name>') brand on the prototype, and an exported isX guard that recognises an
// error of another copy of the package by that brand, never by its code.

import { describeBrandedErrors } from '@sigpost/test-support/branded-errors';
import { describe, expect, it } from 'vitest';
import {
  ConfigError,
  ConflictError,
  IngestError,
  InvalidInputError,
  isIngestError,
  NotFoundError,
} from './errors.js';
import { HttpProblem, isHttpProblem } from './problems.js';
import { isSecretBoxError, SecretBoxError } from './secrets.js';
import {
  isStoreError,
  StoreConflictError,
  StoreError,
  StoreInvalidCursorError,
  StoreNotFoundError,
  StoreSchemaTooNewError,
  StoreUnavailableError,
} from './store/errors.js';

const cause = new Error('the driver failed');

describeBrandedErrors([
  {
    name: 'IngestError',
    guard: isIngestError,
    make: () => new IngestError('m', { code: 'INGEST_CONFLICT', cause }),
    code: 'INGEST_CONFLICT',
    cause,
  },
  {
    name: 'SecretBoxError',
    guard: isSecretBoxError,
    make: () => new SecretBoxError('m', { code: 'SECRET_CORRUPT', cause }),
    code: 'SECRET_CORRUPT',
    cause,
  },
  {
    name: 'StoreError',
    guard: isStoreError,
    make: () => new StoreError('m', { code: 'STORE_UNAVAILABLE', cause }),
    code: 'STORE_UNAVAILABLE',
    cause,
  },
  {
    name: 'HttpProblem',
    guard: isHttpProblem,
    make: () => new HttpProblem('m', { code: 'not-found', cause }),
    code: 'not-found',
    cause,
  },
]);

describe('the subclasses', () => {
  it.each([
    [new ConfigError([]), 'ConfigError', 'INGEST_CONFIG', isIngestError],
    [new InvalidInputError('producer', []), 'InvalidInputError', 'INGEST_INVALID_INPUT', isIngestError],
    [new ConflictError('c', { cause }), 'ConflictError', 'INGEST_CONFLICT', isIngestError],
    [new NotFoundError('n'), 'NotFoundError', 'INGEST_NOT_FOUND', isIngestError],
    [new StoreError('s'), 'StoreError', 'STORE_ERROR', isStoreError],
    [new StoreConflictError('s', { cause }), 'StoreConflictError', 'STORE_CONFLICT', isStoreError],
    [new StoreNotFoundError('s'), 'StoreNotFoundError', 'STORE_NOT_FOUND', isStoreError],
    [new StoreUnavailableError('s'), 'StoreUnavailableError', 'STORE_UNAVAILABLE', isStoreError],
    [new StoreInvalidCursorError('s'), 'StoreInvalidCursorError', 'STORE_INVALID_CURSOR', isStoreError],
    [new StoreSchemaTooNewError('s'), 'StoreSchemaTooNewError', 'STORE_SCHEMA_TOO_NEW', isStoreError],
  ] as const)('%s keeps its name and code and passes its base guard', (error, name, code, guard) => {
    expect([error.name, error.code, guard(error)]).toEqual([name, code, true]);
  });

  it('set cause only when one is given', () => {
    expect(new ConflictError('c', { cause }).cause).toBe(cause);
    expect('cause' in new NotFoundError('n')).toBe(false);
    expect(new StoreConflictError('s', { cause }).cause).toBe(cause);
    expect('cause' in new StoreError('s')).toBe(false);
  });
});

describe('HttpProblem', () => {
  it('has the detail as its detail, and `<code>: <detail>` as its message', () => {
    const error = new HttpProblem('retry shortly', {
      code: 'store-unavailable',
      headers: { 'Retry-After': '1' },
      extensions: { x: 1 },
    });
    expect([error.message, error.detail, error.code, error.headers, error.extensions]).toEqual([
      'store-unavailable: retry shortly',
      'retry shortly',
      'store-unavailable',
      { 'Retry-After': '1' },
      { x: 1 },
    ]);
  });
});
