import { describeBrandedErrors } from '@sigpost/test-support/branded-errors';
import { describe, expect, it } from 'vitest';
import {
  formatConfigIssues,
  isOutboundClientError,
  isOutboundConfigError,
  isOutboundError,
  isSignalValidationError,
  OUTBOUND_ERROR_CODES,
  OutboundClientError,
  OutboundConfigError,
  OutboundDisabledError,
  OutboundError,
  OutboundSignatureError,
  OutboundTimeoutError,
  SignalValidationError,
} from './errors.js';

const URL_ = 'http://127.0.0.1:8080/api/v1/signals/ingest';

describe('the error tree', () => {
  it('puts OutboundTimeoutError under OutboundClientError under OutboundError, with its fields', () => {
    const cause = new Error('headers timeout');
    const error = new OutboundTimeoutError('POST … timed out', {
      method: 'POST',
      url: URL_,
      attempts: 2,
      timeoutMs: 50,
      cause,
    });
    expect(error).toBeInstanceOf(OutboundClientError);
    expect(error).toBeInstanceOf(OutboundError);
    expect(error).toBeInstanceOf(Error);
    expect({
      name: error.name,
      code: error.code,
      attempts: error.attempts,
      timeoutMs: error.timeoutMs,
      httpCode: error.httpCode,
      details: error.details,
      method: error.method,
      url: error.url,
      cause: error.cause,
    }).toEqual({
      name: 'OutboundTimeoutError',
      code: 'OUTBOUND_TIMEOUT',
      attempts: 2,
      timeoutMs: 50,
      httpCode: undefined,
      details: undefined,
      method: 'POST',
      url: URL_,
      cause,
    });
  });

  it('keeps the HTTP status, problem details and Retry-After of a refused request', () => {
    const details = {
      type: 'urn:sigpost:problem:rate-limited',
      title: 'Producer over its rate limit',
      status: 429,
    };
    const error = new OutboundClientError('m', {
      code: 'OUTBOUND_HTTP_ERROR',
      method: 'POST',
      url: URL_,
      attempts: 1,
      httpCode: 429,
      details,
      retryAfterMs: 2000,
    });
    expect([error.name, error.httpCode, error.details, error.retryAfterMs]).toEqual([
      'OutboundClientError',
      429,
      details,
      2000,
    ]);
    expect('cause' in error).toBe(false);
  });

  it.each([
    [new OutboundSignatureError('x'), 'OutboundSignatureError', 'OUTBOUND_SIGNATURE_INVALID'],
    [new OutboundConfigError([]), 'OutboundConfigError', 'OUTBOUND_CONFIG_INVALID'],
    [new OutboundDisabledError(), 'OutboundDisabledError', 'OUTBOUND_DISABLED'],
    [new SignalValidationError(['side: required']), 'SignalValidationError', 'OUTBOUND_INVALID_SIGNAL'],
  ])('gives %s its name and code', (error, name, code) => {
    expect(error).toBeInstanceOf(OutboundError);
    expect(error).not.toBeInstanceOf(OutboundClientError);
    expect([error.name, error.code]).toEqual([name, code]);
  });

  it('lists every code once', () => {
    expect(new Set(OUTBOUND_ERROR_CODES).size).toBe(OUTBOUND_ERROR_CODES.length);
    expect(OUTBOUND_ERROR_CODES.every((c) => /^OUTBOUND_[A-Z_]+$/.test(c))).toBe(true);
  });
});

const cause = new Error('the socket closed');

describeBrandedErrors([
  {
    name: 'OutboundError',
    guard: isOutboundError,
    make: () => new OutboundError('m', { code: 'OUTBOUND_NETWORK_ERROR', cause }),
    code: 'OUTBOUND_NETWORK_ERROR',
    cause,
    legacyBrand: 'sigpost.outbound.error',
  },
]);

describe('isOutboundError', () => {
  it('recognises every error of the tree and nothing else', () => {
    expect(isOutboundError(new OutboundDisabledError())).toBe(true);
    expect(isOutboundError(new Error('x'))).toBe(false);
    expect(isOutboundError({ code: 'OUTBOUND_TIMEOUT' })).toBe(false);
    expect(isOutboundError(null)).toBe(false);
    expect(isOutboundError('OUTBOUND_TIMEOUT')).toBe(false);
  });

  it('recognises an error branded by another copy of the package (Symbol.for)', () => {
    const foreign = Object.assign(new Error('from another copy'), { code: 'OUTBOUND_TIMEOUT' });
    Object.defineProperty(foreign, Symbol.for('sigpost.outbound.error'), { value: true });
    expect(isOutboundError(foreign)).toBe(true);
  });

  it('does not list the brand among the enumerable fields', () => {
    // Object.keys never lists symbols: Reflect.ownKeys does, so this can fail if the brand moves onto instances.
    expect(Reflect.ownKeys(new OutboundDisabledError())).not.toContain(Symbol.for('sigpost.outbound.error'));
    expect(
      Object.getOwnPropertyDescriptor(OutboundError.prototype, Symbol.for('sigpost.outbound.error')),
    ).toMatchObject({ value: true, enumerable: false });
    expect(JSON.stringify(new OutboundDisabledError())).toBe(
      '{"name":"OutboundDisabledError","code":"OUTBOUND_DISABLED"}',
    );
  });
});

describe('the subclass guards', () => {
  const client = new OutboundClientError('refused', {
    code: 'OUTBOUND_HTTP_ERROR',
    method: 'POST',
    url: URL_,
    attempts: 1,
    httpCode: 400,
  });
  const timeout = new OutboundTimeoutError('slow', { method: 'POST', url: URL_, attempts: 1, timeoutMs: 5 });
  const config = new OutboundConfigError([
    { key: 'HMAC_PRODUCER_URL', code: 'required', expected: 'a URL', received: 'nothing' },
  ]);
  const invalid = new SignalValidationError(['side: expected "buy" or "sell"']);
  const all = [
    client,
    timeout,
    config,
    invalid,
    new OutboundDisabledError(),
    new OutboundSignatureError('x'),
  ];

  it.each([
    ['isOutboundClientError', isOutboundClientError, [client, timeout]],
    ['isOutboundConfigError', isOutboundConfigError, [config]],
    ['isSignalValidationError', isSignalValidationError, [invalid]],
  ] as const)('%s is true for exactly its class and subclasses', (_name, guard, mine) => {
    for (const error of all) expect(guard(error)).toBe((mine as readonly unknown[]).includes(error));
    expect(guard(new Error('x'))).toBe(false);
    expect(guard({ code: 'OUTBOUND_CONFIG_INVALID' })).toBe(false);
    expect(guard(null)).toBe(false);
  });

  it('recognises the errors of another copy of the package, 0.1.0 included, by brand and code', () => {
    const foreign = (code: string) => {
      const error = Object.assign(new Error('from another copy'), { code });
      Object.defineProperty(error, Symbol.for('sigpost.outbound.error'), { value: true });
      return error;
    };
    expect(isOutboundClientError(foreign('OUTBOUND_TIMEOUT'))).toBe(true);
    expect(isOutboundConfigError(foreign('OUTBOUND_CONFIG_INVALID'))).toBe(true);
    expect(isSignalValidationError(foreign('OUTBOUND_INVALID_SIGNAL'))).toBe(true);
    expect(isOutboundClientError(foreign('OUTBOUND_DISABLED'))).toBe(false);
  });
});

describe('messages', () => {
  it('says that a disabled client sent nothing and why', () => {
    expect(new OutboundDisabledError().message).toBe(
      'Signal not sent: delivery is disabled by HMAC_PRODUCER_ENABLED=false (enabled: false); nothing was sent',
    );
  });

  it('lists every validation problem of a signal', () => {
    const error = new SignalValidationError([
      'stop_loss: expected below entry_price for a buy',
      'reason: required',
    ]);
    expect(error.message).toBe(
      'Signal failed validation (2 problems); nothing was sent:\n' +
        '  stop_loss: expected below entry_price for a buy\n' +
        '  reason: required',
    );
    expect(error.errors).toEqual(['stop_loss: expected below entry_price for a buy', 'reason: required']);
    expect(Object.isFrozen(error.errors)).toBe(true);
  });

  it('renders config issues in zod style, with renamed keys pointing at their replacement', () => {
    expect(
      formatConfigIssues([
        { key: 'OUTBOUND_TIMEOUT_SECONDS', code: 'invalid_value', expected: '5–300 seconds', received: '2' },
        { key: 'OUTBOUND_TIMEOUT', code: 'renamed', expected: 'OUTBOUND_TIMEOUT_SECONDS', received: 'set' },
      ]),
    ).toBe(
      '✖ expected 5–300 seconds, received 2\n  → at OUTBOUND_TIMEOUT_SECONDS\n' +
        '✖ OUTBOUND_TIMEOUT is not read; use OUTBOUND_TIMEOUT_SECONDS\n  → at OUTBOUND_TIMEOUT',
    );
  });

  it('freezes the issues of a config error', () => {
    const error = new OutboundConfigError([
      { key: 'k', code: 'required', expected: 'x', received: 'nothing' },
    ]);
    expect(Object.isFrozen(error.issues)).toBe(true);
    expect(Object.isFrozen(error.issues[0])).toBe(true);
  });
});
