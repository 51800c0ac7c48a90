import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { DEFAULTS, OutboundConfig, type OutboundConfigOptions } from './config.js';
import { isOutboundError, OutboundConfigError } from './errors.js';

const SECRET = 'test-secret-key-min-16-bytes-long';
const VALID: OutboundConfigOptions = {
  producerId: 'test-producer',
  producerSecret: SECRET,
  serverBaseUrl: 'https://api.example.com',
};
const VALID_ENV = {
  HMAC_PRODUCER_SECRET: SECRET,
  PRODUCER_ID: 'test-producer',
  OUTBOUND_SERVER_URL: 'https://api.example.com',
};
const URL_REQUIRED =
  'expected an absolute http: or https: URL without query, fragment or credentials, received nothing';

function configError(fn: () => unknown): OutboundConfigError {
  try {
    fn();
  } catch (error) {
    if (error instanceof OutboundConfigError) return error;
    throw error;
  }
  throw new Error('expected an OutboundConfigError');
}

describe('new OutboundConfig', () => {
  it('applies the defaults to a minimal valid config', () => {
    const config = new OutboundConfig(VALID);
    expect(config.toJSON()).toEqual({
      producerId: 'test-producer',
      producerSecret: '[redacted]',
      serverBaseUrl: 'https://api.example.com',
      enabled: true,
      timeoutSeconds: 30,
      maxBodySize: 65_536,
    });
    expect(config.producerSecret).toBe(SECRET);
    expect(config.ingestUrl).toBe('https://api.example.com/api/v1/signals/ingest');
    expect(Object.isFrozen(DEFAULTS)).toBe(true);
  });

  it('has no default server URL, so that a forgotten one sends nothing anywhere', () => {
    expect(DEFAULTS).toEqual({ enabled: true, timeoutSeconds: 30, maxBodySize: 65_536 });
    const error = configError(
      () =>
        new OutboundConfig({ producerId: 'test-producer', producerSecret: SECRET } as OutboundConfigOptions),
    );
    expect(error.message).toBe(
      `Invalid outbound configuration (1 problem):\n✖ ${URL_REQUIRED}\n  → at serverBaseUrl`,
    );
    expect(error.issues).toEqual([
      {
        key: 'serverBaseUrl',
        code: 'required',
        expected: 'an absolute http: or https: URL without query, fragment or credentials',
        received: 'nothing',
      },
    ]);
  });

  it('keeps every given setting', () => {
    const config = new OutboundConfig({
      ...VALID,
      enabled: false,
      timeoutSeconds: 5,
      maxBodySize: 10_485_760,
    });
    expect([config.enabled, config.timeoutSeconds, config.maxBodySize]).toEqual([false, 5, 10_485_760]);
  });

  it.each([
    ['https://api.example.com/', 'https://api.example.com'],
    ['http://127.0.0.1:8080', 'http://127.0.0.1:8080'],
    ['https://gw.example.com/sigpost/', 'https://gw.example.com/sigpost'],
    ['https://GW.example.com:443/a//', 'https://gw.example.com/a'],
  ])('normalises the base URL %s to %s and keeps its path prefix', (given, normalised) => {
    const config = new OutboundConfig({ ...VALID, serverBaseUrl: given });
    expect(config.serverBaseUrl).toBe(normalised);
    expect(config.ingestUrl).toBe(`${normalised}/api/v1/signals/ingest`);
  });

  it('is frozen', () => {
    const config = new OutboundConfig(VALID);
    expect(Object.isFrozen(config)).toBe(true);
    expect(() => {
      (config as { timeoutSeconds: number }).timeoutSeconds = 1;
    }).toThrow(TypeError);
  });

  it('never shows the secret in JSON.stringify, util.inspect, String() or its own keys', () => {
    const config = new OutboundConfig(VALID);
    for (const text of [
      JSON.stringify(config),
      inspect(config, { showHidden: true, depth: 5 }),
      String(config),
    ]) {
      expect(text).not.toContain(SECRET);
      expect(text).toContain('[redacted]');
    }
    expect(Object.values(config)).not.toContain(SECRET);
    expect(String(config)).toBe(
      'OutboundConfig {"producerId":"test-producer","producerSecret":"[redacted]","serverBaseUrl":"https://api.example.com","enabled":true,"timeoutSeconds":30,"maxBodySize":65536}',
    );
  });

  it.each<[string, Record<string, unknown>, string]>([
    [
      'a missing producerId',
      { producerId: undefined },
      '✖ expected 1–64 characters of A-Z a-z 0-9 . _ -, received nothing\n  → at producerId',
    ],
    [
      'a producerId with a space',
      { producerId: 'my producer' },
      '✖ expected 1–64 characters of A-Z a-z 0-9 . _ -, received "my producer"\n  → at producerId',
    ],
    [
      'a producerId of 65 characters',
      { producerId: 'p'.repeat(65) },
      `✖ expected 1–64 characters of A-Z a-z 0-9 . _ -, received "${'p'.repeat(65)}"\n  → at producerId`,
    ],
    [
      'a numeric producerId',
      { producerId: 42 },
      '✖ expected 1–64 characters of A-Z a-z 0-9 . _ -, received 42\n  → at producerId',
    ],
    [
      'a secret of 9 bytes',
      { producerSecret: 'short-key' },
      '✖ expected ≥ 16 bytes (UTF-8), received 9 bytes\n  → at producerSecret',
    ],
    [
      'a secret of 1 byte (not "1 bytes")',
      { producerSecret: 'x' },
      '✖ expected ≥ 16 bytes (UTF-8), received 1 byte\n  → at producerSecret',
    ],
    [
      'a secret of 14 UTF-8 bytes written with 13 characters',
      { producerSecret: 'zürich-secret' },
      '✖ expected ≥ 16 bytes (UTF-8), received 14 bytes\n  → at producerSecret',
    ],
    [
      'a missing secret',
      { producerSecret: undefined },
      '✖ expected ≥ 16 bytes (UTF-8), received nothing\n  → at producerSecret',
    ],
    [
      'a Buffer secret',
      { producerSecret: Buffer.from(SECRET) },
      '✖ expected a string of ≥ 16 bytes (UTF-8), received a value of type object\n  → at producerSecret',
    ],
    [
      'an empty base URL',
      { serverBaseUrl: '' },
      '✖ expected an absolute http: or https: URL without query, fragment or credentials, received an empty string\n  → at serverBaseUrl',
    ],
    [
      'an ftp URL',
      { serverBaseUrl: 'ftp://api.example.com' },
      '✖ expected an absolute http: or https: URL without query, fragment or credentials, received a ftp: URL\n  → at serverBaseUrl',
    ],
    [
      'a relative URL',
      { serverBaseUrl: '/api' },
      '✖ expected an absolute http: or https: URL without query, fragment or credentials, received "/api"\n  → at serverBaseUrl',
    ],
    [
      'a URL with a query',
      { serverBaseUrl: 'https://api.example.com/?token=abc' },
      '✖ expected an absolute http: or https: URL without query, fragment or credentials, received a URL with a query\n  → at serverBaseUrl',
    ],
    [
      'a URL with an empty query',
      { serverBaseUrl: 'https://api.example.com/?' },
      '✖ expected an absolute http: or https: URL without query, fragment or credentials, received a URL with a query\n  → at serverBaseUrl',
    ],
    [
      'a URL with a fragment',
      { serverBaseUrl: 'https://api.example.com/#x' },
      '✖ expected an absolute http: or https: URL without query, fragment or credentials, received a URL with a fragment\n  → at serverBaseUrl',
    ],
    [
      'a URL with credentials',
      { serverBaseUrl: 'https://user:hunter2@api.example.com' },
      '✖ expected an absolute http: or https: URL without query, fragment or credentials, received a URL with credentials\n  → at serverBaseUrl',
    ],
    ['a string for enabled', { enabled: 'yes' }, '✖ expected a boolean, received "yes"\n  → at enabled'],
    [
      'a timeout of 2 s',
      { timeoutSeconds: 2 },
      '✖ expected 5–300 seconds, received 2\n  → at timeoutSeconds',
    ],
    [
      'a timeout of 301 s',
      { timeoutSeconds: 301 },
      '✖ expected 5–300 seconds, received 301\n  → at timeoutSeconds',
    ],
    [
      'a NaN timeout',
      { timeoutSeconds: Number.NaN },
      '✖ expected 5–300 seconds, received NaN\n  → at timeoutSeconds',
    ],
    [
      'a string timeout',
      { timeoutSeconds: '30' },
      '✖ expected 5–300 seconds, received "30"\n  → at timeoutSeconds',
    ],
    [
      'a body limit of 1023 bytes',
      { maxBodySize: 1023 },
      '✖ expected 1024–10485760 bytes (a whole number), received 1023\n  → at maxBodySize',
    ],
    [
      'a body limit over 10 MiB',
      { maxBodySize: 10_485_761 },
      '✖ expected 1024–10485760 bytes (a whole number), received 10485761\n  → at maxBodySize',
    ],
    [
      'a fractional body limit',
      { maxBodySize: 2048.5 },
      '✖ expected 1024–10485760 bytes (a whole number), received 2048.5\n  → at maxBodySize',
    ],
    [
      'the seed name timeout_seconds',
      { timeout_seconds: 30 },
      '✖ timeout_seconds is not read; use timeoutSeconds\n  → at timeout_seconds',
    ],
    ['the name timeout', { timeout: 30 }, '✖ timeout is not read; use timeoutSeconds\n  → at timeout'],
    ['the name secret', { secret: SECRET }, '✖ secret is not read; use producerSecret\n  → at secret'],
    [
      'an unknown option',
      { retries: 3 },
      '✖ expected one of producerId, producerSecret, serverBaseUrl, enabled, timeoutSeconds, maxBodySize, received an unknown option\n  → at retries',
    ],
  ])('refuses %s', (_name, change, rendered) => {
    const options = { ...VALID, ...change };
    for (const [k, v] of Object.entries(change))
      if (v === undefined) delete (options as Record<string, unknown>)[k];
    const error = configError(() => new OutboundConfig(options as unknown as OutboundConfigOptions));
    expect(error.message).toBe(`Invalid outbound configuration (1 problem):\n${rendered}`);
    expect(error.code).toBe('OUTBOUND_CONFIG_INVALID');
    expect(error.issues).toHaveLength(1);
    expect(isOutboundError(error)).toBe(true);
  });

  it('accepts a secret of exactly 16 UTF-8 bytes written with 15 characters', () => {
    expect(new OutboundConfig({ ...VALID, producerSecret: 'zürich-secret-1' }).producerSecret).toBe(
      'zürich-secret-1',
    );
  });

  it('reports every problem at once, as data, without the secret', () => {
    const error = configError(
      () =>
        new OutboundConfig({
          producerId: '',
          producerSecret: 'hunter2-secret',
          serverBaseUrl: 'nope',
          timeoutSeconds: 2,
        }),
    );
    expect(error.issues).toEqual([
      {
        key: 'producerId',
        code: 'invalid_value',
        expected: '1–64 characters of A-Z a-z 0-9 . _ -',
        received: 'an empty string',
      },
      { key: 'producerSecret', code: 'invalid_value', expected: '≥ 16 bytes (UTF-8)', received: '14 bytes' },
      {
        key: 'serverBaseUrl',
        code: 'invalid_value',
        expected: 'an absolute http: or https: URL without query, fragment or credentials',
        received: '"nope"',
      },
      { key: 'timeoutSeconds', code: 'invalid_value', expected: '5–300 seconds', received: '2' },
    ]);
    expect(error.message.startsWith('Invalid outbound configuration (4 problems):\n✖ ')).toBe(true);
    expect(error.message).not.toContain('hunter2');
    expect(JSON.stringify(error.issues)).not.toContain('hunter2');
  });

  it('throws a TypeError when given no options object', () => {
    expect(() => new OutboundConfig(undefined as unknown as OutboundConfigOptions)).toThrow(
      new TypeError('Expected OutboundConfig options to be an object, received nothing'),
    );
  });
});

describe('OutboundConfig.fromEnv', () => {
  it('reads the required variables and applies the defaults', () => {
    expect(OutboundConfig.fromEnv(VALID_ENV).toJSON()).toEqual({
      producerId: 'test-producer',
      producerSecret: '[redacted]',
      serverBaseUrl: 'https://api.example.com',
      enabled: true,
      timeoutSeconds: 30,
      maxBodySize: 65_536,
    });
  });

  it('reads every variable', () => {
    const config = OutboundConfig.fromEnv({
      ...VALID_ENV,
      HMAC_PRODUCER_ENABLED: 'false',
      OUTBOUND_SERVER_URL: 'http://127.0.0.1:8080/',
      OUTBOUND_TIMEOUT_SECONDS: '7.5',
      OUTBOUND_MAX_BODY_SIZE: '2048',
    });
    expect(config.toJSON()).toEqual({
      producerId: 'test-producer',
      producerSecret: '[redacted]',
      serverBaseUrl: 'http://127.0.0.1:8080',
      enabled: false,
      timeoutSeconds: 7.5,
      maxBodySize: 2048,
    });
    expect(config.producerSecret).toBe(SECRET);
  });

  it.each([
    ['true', true],
    ['TRUE', true],
    ['1', true],
    ['Yes', true],
    [' yes ', true],
    ['false', false],
    ['False', false],
    ['0', false],
    ['NO', false],
  ])('reads HMAC_PRODUCER_ENABLED=%j as %s', (value, enabled) => {
    expect(OutboundConfig.fromEnv({ ...VALID_ENV, HMAC_PRODUCER_ENABLED: value }).enabled).toBe(enabled);
  });

  it('reads process.env when given no argument', () => {
    const saved = { ...process.env };
    try {
      process.env.PRODUCER_ID = 'from-process-env';
      process.env.HMAC_PRODUCER_SECRET = SECRET;
      process.env.OUTBOUND_SERVER_URL = 'http://127.0.0.1:8080';
      const config = OutboundConfig.fromEnv();
      expect([config.producerId, config.serverBaseUrl]).toEqual([
        'from-process-env',
        'http://127.0.0.1:8080',
      ]);
    } finally {
      for (const key of ['PRODUCER_ID', 'HMAC_PRODUCER_SECRET', 'OUTBOUND_SERVER_URL']) {
        if (saved[key] === undefined) delete process.env[key];
        else process.env[key] = saved[key];
      }
    }
  });

  it.each<[string, Record<string, string | undefined>, string]>([
    [
      'a missing PRODUCER_ID',
      { PRODUCER_ID: undefined },
      '✖ expected 1–64 characters of A-Z a-z 0-9 . _ -, received nothing\n  → at PRODUCER_ID',
    ],
    [
      'a short secret',
      { HMAC_PRODUCER_SECRET: 'short-key' },
      '✖ expected ≥ 16 bytes (UTF-8), received 9 bytes\n  → at HMAC_PRODUCER_SECRET',
    ],
    [
      'a missing secret',
      { HMAC_PRODUCER_SECRET: undefined },
      '✖ expected ≥ 16 bytes (UTF-8), received nothing\n  → at HMAC_PRODUCER_SECRET',
    ],
    [
      'an empty secret',
      { HMAC_PRODUCER_SECRET: '' },
      '✖ expected ≥ 16 bytes (UTF-8), received 0 bytes\n  → at HMAC_PRODUCER_SECRET',
    ],
    [
      'HMAC_PRODUCER_ENABLED=maybe',
      { HMAC_PRODUCER_ENABLED: 'maybe' },
      '✖ expected true, false, 1, 0, yes or no, received "maybe"\n  → at HMAC_PRODUCER_ENABLED',
    ],
    [
      'an empty HMAC_PRODUCER_ENABLED',
      { HMAC_PRODUCER_ENABLED: '' },
      '✖ expected true, false, 1, 0, yes or no, received an empty string\n  → at HMAC_PRODUCER_ENABLED',
    ],
    [
      'OUTBOUND_TIMEOUT_SECONDS=2',
      { OUTBOUND_TIMEOUT_SECONDS: '2' },
      '✖ expected 5–300 seconds, received 2\n  → at OUTBOUND_TIMEOUT_SECONDS',
    ],
    [
      'OUTBOUND_TIMEOUT_SECONDS=30s',
      { OUTBOUND_TIMEOUT_SECONDS: '30s' },
      '✖ expected 5–300 seconds, received "30s"\n  → at OUTBOUND_TIMEOUT_SECONDS',
    ],
    [
      'a hexadecimal OUTBOUND_TIMEOUT_SECONDS',
      { OUTBOUND_TIMEOUT_SECONDS: '0x10' },
      '✖ expected 5–300 seconds, received "0x10"\n  → at OUTBOUND_TIMEOUT_SECONDS',
    ],
    [
      'an empty OUTBOUND_TIMEOUT_SECONDS',
      { OUTBOUND_TIMEOUT_SECONDS: '' },
      '✖ expected 5–300 seconds, received an empty string\n  → at OUTBOUND_TIMEOUT_SECONDS',
    ],
    [
      'OUTBOUND_MAX_BODY_SIZE=64KiB',
      { OUTBOUND_MAX_BODY_SIZE: '64KiB' },
      '✖ expected 1024–10485760 bytes (a whole number), received "64KiB"\n  → at OUTBOUND_MAX_BODY_SIZE',
    ],
    [
      'OUTBOUND_MAX_BODY_SIZE=512',
      { OUTBOUND_MAX_BODY_SIZE: '512' },
      '✖ expected 1024–10485760 bytes (a whole number), received 512\n  → at OUTBOUND_MAX_BODY_SIZE',
    ],
    [
      'a missing OUTBOUND_SERVER_URL',
      { OUTBOUND_SERVER_URL: undefined },
      `✖ ${URL_REQUIRED}\n  → at OUTBOUND_SERVER_URL`,
    ],
    [
      'an empty OUTBOUND_SERVER_URL',
      { OUTBOUND_SERVER_URL: '' },
      '✖ expected an absolute http: or https: URL without query, fragment or credentials, received an empty string\n  → at OUTBOUND_SERVER_URL',
    ],
    [
      'a ws: OUTBOUND_SERVER_URL',
      { OUTBOUND_SERVER_URL: 'ws://x' },
      '✖ expected an absolute http: or https: URL without query, fragment or credentials, received a ws: URL\n  → at OUTBOUND_SERVER_URL',
    ],
    [
      'OUTBOUND_TIMEOUT set',
      { OUTBOUND_TIMEOUT: '30' },
      '✖ OUTBOUND_TIMEOUT is not read; use OUTBOUND_TIMEOUT_SECONDS\n  → at OUTBOUND_TIMEOUT',
    ],
    [
      'HMAC_SECRET set',
      { HMAC_SECRET: SECRET },
      '✖ HMAC_SECRET is not read; use HMAC_PRODUCER_SECRET\n  → at HMAC_SECRET',
    ],
    [
      'OUTBOUND_URL set',
      { OUTBOUND_URL: 'http://x' },
      '✖ OUTBOUND_URL is not read; use OUTBOUND_SERVER_URL\n  → at OUTBOUND_URL',
    ],
    [
      'OUTBOUND_MAX_BODY_BYTES set',
      { OUTBOUND_MAX_BODY_BYTES: '2048' },
      '✖ OUTBOUND_MAX_BODY_BYTES is not read; use OUTBOUND_MAX_BODY_SIZE\n  → at OUTBOUND_MAX_BODY_BYTES',
    ],
  ])('refuses %s', (_name, change, rendered) => {
    const env: Record<string, string | undefined> = { ...VALID_ENV, ...change };
    const error = configError(() => OutboundConfig.fromEnv(env));
    expect(error.message).toBe(`Invalid outbound configuration (1 problem):\n${rendered}`);
  });

  it('reports a missing OUTBOUND_SERVER_URL as required, even when OUTBOUND_URL is set', () => {
    const error = configError(() =>
      OutboundConfig.fromEnv({ ...VALID_ENV, OUTBOUND_SERVER_URL: undefined, OUTBOUND_URL: 'http://x' }),
    );
    expect(error.issues).toEqual([
      { key: 'OUTBOUND_URL', code: 'renamed', expected: 'OUTBOUND_SERVER_URL', received: 'set' },
      {
        key: 'OUTBOUND_SERVER_URL',
        code: 'required',
        expected: 'an absolute http: or https: URL without query, fragment or credentials',
        received: 'nothing',
      },
    ]);
  });

  it('reports every problem at once, at the variable names, never showing the secret', () => {
    const error = configError(() =>
      OutboundConfig.fromEnv({
        HMAC_PRODUCER_SECRET: 'hunter2-s',
        HMAC_PRODUCER_ENABLED: 'on',
        OUTBOUND_TIMEOUT_SECONDS: '2',
        OUTBOUND_MAX_BODY_SIZE: 'big',
        HMAC_SECRET: 'hunter2-old-secret-value',
      }),
    );
    expect(error.message).toBe(
      [
        'Invalid outbound configuration (7 problems):',
        '✖ HMAC_SECRET is not read; use HMAC_PRODUCER_SECRET',
        '  → at HMAC_SECRET',
        '✖ expected true, false, 1, 0, yes or no, received "on"',
        '  → at HMAC_PRODUCER_ENABLED',
        '✖ expected 1024–10485760 bytes (a whole number), received "big"',
        '  → at OUTBOUND_MAX_BODY_SIZE',
        '✖ expected 1–64 characters of A-Z a-z 0-9 . _ -, received nothing',
        '  → at PRODUCER_ID',
        '✖ expected ≥ 16 bytes (UTF-8), received 9 bytes',
        '  → at HMAC_PRODUCER_SECRET',
        `✖ ${URL_REQUIRED}`,
        '  → at OUTBOUND_SERVER_URL',
        '✖ expected 5–300 seconds, received 2',
        '  → at OUTBOUND_TIMEOUT_SECONDS',
      ].join('\n'),
    );
    expect(`${error.message}${JSON.stringify(error.issues)}`).not.toContain('hunter2');
  });
});
