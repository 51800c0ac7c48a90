import { describeBrandedErrors } from '@sigpost/test-support/branded-errors';
import { describe, expect, it } from 'vitest';
import { isOutboxError, OutboxError, OutboxKeyConflictError, OutboxLockedError } from './errors.js';

const cause = new Error('SQLITE_CANTOPEN');

describeBrandedErrors([
  {
    name: 'OutboxError',
    guard: isOutboxError,
    make: () => new OutboxError('m', { code: 'OUTBOX_OPEN_FAILED', path: '/tmp/o.db', cause }),
    code: 'OUTBOX_OPEN_FAILED',
    cause,
    legacyBrand: 'sigpost.outbound.outbox.error',
  },
]);

describe('OutboxError', () => {
  it('takes the outbox path as a field of the options', () => {
    const error = new OutboxError('Outbox /tmp/o.db is closed', { code: 'OUTBOX_CLOSED', path: '/tmp/o.db' });
    expect([error.message, error.code, error.path, 'cause' in error]).toEqual([
      'Outbox /tmp/o.db is closed',
      'OUTBOX_CLOSED',
      '/tmp/o.db',
      false,
    ]);
  });

  it.each([
    [new OutboxKeyConflictError('/tmp/o.db', 'k-1', 7), 'OutboxKeyConflictError', 'OUTBOX_KEY_CONFLICT'],
    [
      new OutboxLockedError('/tmp/o.db', { pid: 42, host: 'h', expiresAt: 1 }),
      'OutboxLockedError',
      'OUTBOX_LOCKED',
    ],
  ] as const)('%s keeps its name, code and path, and passes isOutboxError', (error, name, code) => {
    expect([error.name, error.code, error.path, isOutboxError(error)]).toEqual([
      name,
      code,
      '/tmp/o.db',
      true,
    ]);
    expect(error).toBeInstanceOf(OutboxError);
  });
});
