import { describeBrandedErrors } from '@sigpost/test-support/branded-errors';
import { describe, expect, it } from 'vitest';
import {
  isSubscriberError,
  SubscriberClosedError,
  SubscriberEpochError,
  SubscriberError,
  SubscriberGapError,
  SubscriberRefusedError,
} from './errors.js';

const cause = new Error('the handler threw');

describeBrandedErrors([
  {
    name: 'SubscriberError',
    guard: isSubscriberError,
    make: () => new SubscriberError('m', { code: 'SUBSCRIBER_HANDLER_FAILED', cause }),
    code: 'SUBSCRIBER_HANDLER_FAILED',
    cause,
    legacyBrand: 'sigpost.subscriber.error',
  },
]);

describe('the subclasses', () => {
  it('SubscriberClosedError takes its close code and reason as fields of the options', () => {
    const error = new SubscriberClosedError('closed', {
      code: 'SUBSCRIBER_REVOKED',
      closeCode: 4403,
      closeReason: 'token revoked',
    });
    expect([error.name, error.code, error.closeCode, error.closeReason, error.message]).toEqual([
      'SubscriberClosedError',
      'SUBSCRIBER_REVOKED',
      4403,
      'token revoked',
      'closed',
    ]);
  });

  it('SubscriberGapError takes afterSeq and nextSeq as fields of the options', () => {
    const error = new SubscriberGapError('gap', { afterSeq: 5, nextSeq: 7 });
    expect([error.name, error.code, error.afterSeq, error.nextSeq]).toEqual([
      'SubscriberGapError',
      'SUBSCRIBER_GAP',
      5,
      7,
    ]);
  });

  it.each([
    [new SubscriberRefusedError(401, undefined), 'SubscriberRefusedError', 'SUBSCRIBER_REFUSED'],
    [new SubscriberEpochError('a', 'b'), 'SubscriberEpochError', 'SUBSCRIBER_EPOCH_MISMATCH'],
    [new SubscriberGapError('g', { afterSeq: 1, nextSeq: 3 }), 'SubscriberGapError', 'SUBSCRIBER_GAP'],
  ] as const)('%s keeps its name and code and passes isSubscriberError', (error, name, code) => {
    expect([error.name, error.code, isSubscriberError(error)]).toEqual([name, code, true]);
    expect(error).toBeInstanceOf(SubscriberError);
  });
});
