import { describe, expect, it } from 'vitest';
import { DEFAULTS, readConfigEnv, resolveConfig } from './config.js';
import { ConfigError } from './errors.js';

describe('resolveConfig', () => {
  it('applies the defaults and freezes the result', () => {
    const config = resolveConfig();
    expect(config).toEqual(DEFAULTS);
    expect(config).toMatchObject({
      toleranceSeconds: 300,
      maxBodyBytes: 65_536,
      idempotencyTtlSeconds: 86_400,
      rateLimit: { perSecond: 50, burst: 100 },
    });
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.rateLimit)).toBe(true);
  });

  it('keeps the default of a rate-limit field that is not given', () => {
    expect(resolveConfig({ rateLimit: { perSecond: 5 } }).rateLimit).toEqual({ perSecond: 5, burst: 100 });
  });

  it.each([
    {
      name: 'port',
      input: { port: 70_000 },
      message: '✖ expected an integer from 0 to 65535, received 70000\n  → at port',
    },
    {
      name: 'toleranceSeconds',
      input: { toleranceSeconds: 0 },
      message: '✖ expected an integer from 1 to 3600 seconds, received 0\n  → at toleranceSeconds',
    },
    {
      name: 'maxBodyBytes',
      input: { maxBodyBytes: 1.5 },
      message: '✖ expected an integer from 1024 to 10485760 bytes, received 1.5\n  → at maxBodyBytes',
    },
    {
      name: 'rateLimit.perSecond',
      input: { rateLimit: { perSecond: -1 } },
      message:
        '✖ expected a number from 0.001 to 1000000000 per second, received -1\n  → at rateLimit.perSecond',
    },
    {
      name: 'a renamed option',
      input: { bodyLimit: 10 } as never,
      message: '✖ expected no `bodyLimit` option; use `maxBodyBytes`, received 10\n  → at bodyLimit',
    },
    {
      name: 'an unknown option',
      input: { colour: 'red' } as never,
      message: '✖ expected no such option, received "red"\n  → at colour',
    },
  ])('refuses a bad $name, naming it', ({ input, message }) => {
    expect(() => resolveConfig(input)).toThrow(ConfigError);
    try {
      resolveConfig(input);
    } catch (error) {
      expect((error as ConfigError).message).toBe(`Invalid ingest server configuration:\n${message}`);
      expect((error as ConfigError).code).toBe('INGEST_CONFIG');
    }
  });

  it('bounds the HTTP timeouts and the connection cap by default', () => {
    expect(resolveConfig()).toMatchObject({
      headersTimeoutMs: 10_000,
      requestTimeoutMs: 10_000,
      keepAliveTimeoutMs: 72_000,
      maxConnections: 1_024,
    });
  });

  it('refuses a headers timeout longer than the request timeout, and a timeout of 0 (wait forever)', () => {
    try {
      resolveConfig({ headersTimeoutMs: 20_000, requestTimeoutMs: 10_000 });
      expect.unreachable();
    } catch (error) {
      expect((error as ConfigError).message).toBe(
        'Invalid ingest server configuration:\n' +
          '✖ expected at most the request timeout (10000 ms), received 20000\n  → at headersTimeoutMs',
      );
    }
    try {
      resolveConfig({ requestTimeoutMs: 0, keepAliveTimeoutMs: 0, maxConnections: 0 });
      expect.unreachable();
    } catch (error) {
      expect((error as ConfigError).issues.map((i) => i.key)).toEqual([
        'requestTimeoutMs',
        'keepAliveTimeoutMs',
        'maxConnections',
      ]);
    }
  });

  it('reports every problem at once', () => {
    try {
      resolveConfig({ port: -1, toleranceSeconds: 99_999, host: '' });
      expect.unreachable();
    } catch (error) {
      expect((error as ConfigError).issues.map((i) => i.key)).toEqual(['host', 'port', 'toleranceSeconds']);
    }
  });

  it('accepts as host what `sigpost serve --host` accepts (HOST_PATTERN): a name or an IP literal', () => {
    for (const host of ['localhost', 'sigpost.example.com', '0.0.0.0', '::1', 'fe80::1']) {
      expect(resolveConfig({ host }).host).toBe(host);
    }
    for (const host of ['two words', 'http://example.com', '-leading.example.com']) {
      expect(() => resolveConfig({ host })).toThrow(
        `✖ expected a host name or IP address, received ${JSON.stringify(host)}\n  → at host`,
      );
    }
  });
});

describe('readConfigEnv', () => {
  it('reads the SIGPOST_* variables and leaves unset or empty ones out', () => {
    expect(
      readConfigEnv({
        SIGPOST_PORT: '9090',
        SIGPOST_HOST: '0.0.0.0',
        SIGPOST_TOLERANCE_SECONDS: '',
        SIGPOST_RATE_LIMIT_PER_SECOND: '2.5',
        SIGPOST_MAX_BODY_BYTES: '4096',
      }),
    ).toEqual({ port: 9090, host: '0.0.0.0', rateLimit: { perSecond: 2.5 }, maxBodyBytes: 4096 });
  });

  it('reads the HTTP timeouts and the connection cap', () => {
    expect(
      readConfigEnv({
        SIGPOST_HEADERS_TIMEOUT_MS: '5000',
        SIGPOST_REQUEST_TIMEOUT_MS: '15000',
        SIGPOST_KEEP_ALIVE_TIMEOUT_MS: '65000',
        SIGPOST_MAX_CONNECTIONS: '4096',
        SIGPOST_MAX_CONNECTIONS_PER_ADDRESS: '32',
      }),
    ).toEqual({
      headersTimeoutMs: 5_000,
      requestTimeoutMs: 15_000,
      keepAliveTimeoutMs: 65_000,
      maxConnections: 4_096,
      maxConnectionsPerAddress: 32,
    });
  });

  it('refuses a malformed number and a renamed variable, naming each', () => {
    try {
      readConfigEnv({ SIGPOST_PORT: '80a', SIGPOST_TOLERANCE: '30' });
      expect.unreachable();
    } catch (error) {
      expect((error as ConfigError).message).toBe(
        'Invalid ingest server configuration:\n' +
          '✖ expected no SIGPOST_TOLERANCE; use SIGPOST_TOLERANCE_SECONDS, received "30"\n  → at SIGPOST_TOLERANCE\n' +
          '✖ expected an integer, received "80a"\n  → at SIGPOST_PORT',
      );
    }
  });
});

describe('live stream and retention settings', () => {
  it('defaults to ping every 25 s, 10 s to answer, 1 MiB send buffer, 16 connections per token, keep forever', () => {
    expect(resolveConfig()).toMatchObject({
      streamHeartbeatSeconds: 25,
      streamPongTimeoutSeconds: 10,
      streamAuthTimeoutSeconds: 10,
      streamMaxBufferedBytes: 1_048_576,
      streamMaxConnectionsPerToken: 16,
      signalRetentionDays: 0,
    });
  });

  it('reads them from SIGPOST_STREAM_* and SIGPOST_SIGNAL_RETENTION_DAYS', () => {
    expect(
      readConfigEnv({
        SIGPOST_STREAM_HEARTBEAT_SECONDS: '5',
        SIGPOST_STREAM_PONG_TIMEOUT_SECONDS: '3',
        SIGPOST_STREAM_AUTH_TIMEOUT_SECONDS: '4',
        SIGPOST_STREAM_MAX_BUFFERED_BYTES: '65536',
        SIGPOST_STREAM_MAX_CONNECTIONS_PER_TOKEN: '2',
        SIGPOST_SIGNAL_RETENTION_DAYS: '30',
      }),
    ).toEqual({
      streamHeartbeatSeconds: 5,
      streamPongTimeoutSeconds: 3,
      streamAuthTimeoutSeconds: 4,
      streamMaxBufferedBytes: 65_536,
      streamMaxConnectionsPerToken: 2,
      signalRetentionDays: 30,
    });
  });

  it('refuses a retention shorter than the idempotency TTL, and a send buffer under 16 KiB', () => {
    expect(() => resolveConfig({ signalRetentionDays: 1, idempotencyTtlSeconds: 172_800 })).toThrow(
      '✖ expected 0 (keep forever) or at least idempotencyTtlSeconds (172800 s = 2 days), received 1\n  → at signalRetentionDays',
    );
    expect(
      resolveConfig({ signalRetentionDays: 2, idempotencyTtlSeconds: 172_800 }).signalRetentionDays,
    ).toBe(2);
    expect(() => resolveConfig({ streamMaxBufferedBytes: 1_000 })).toThrow(ConfigError);
  });
});
