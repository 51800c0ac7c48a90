import { describeValue } from '@sigpost/protocol';
import { ConfigError, type InputIssue } from './errors.js';

/** Per-producer token bucket: `perSecond` tokens are added every second, up to `burst`. */
export interface RateLimitConfig {
  /** Sustained signals per second per producer. */
  readonly perSecond: number;
  /** Bucket size: how many signals a producer may send at once after a quiet period. */
  readonly burst: number;
}

/** The ingest server's configuration (validated and frozen by `resolveConfig`). */
export interface ServerConfig {
  /** Interface to listen on. @default '127.0.0.1' */
  readonly host: string;
  /** TCP port; 0 picks a free one. @default 8080 */
  readonly port: number;
  /** Accepted clock skew of `X-Timestamp`, either way, in seconds. @default 300 */
  readonly toleranceSeconds: number;
  /** Largest accepted request body in bytes; larger ones get 413 before they are read. @default 65536 */
  readonly maxBodyBytes: number;
  /** How long an idempotency key (and its stored response) is kept, in seconds. @default 86400 */
  readonly idempotencyTtlSeconds: number;
  /** Per-producer rate limit. @default { perSecond: 50, burst: 100 } */
  readonly rateLimit: RateLimitConfig;
  /** How long decrypted producer secrets are cached in memory, in ms. A failed verification refetches at once. @default 5000 */
  readonly secretCacheMs: number;
  /** Most accepted requests committed in one transaction (group commit). @default 512 */
  readonly maxBatchSize: number;
  /** How often expired idempotency records and seen signatures are deleted, in seconds. @default 60 */
  readonly purgeIntervalSeconds: number;
  /** How long a graceful shutdown waits for in-flight requests before closing their connections, in ms. @default 10000 */
  readonly shutdownTimeoutMs: number;
  /**
   * Time to receive a request's line and headers, from the first byte (or the connection's start), in ms;
   * then 408 `request-timeout`. At most `requestTimeoutMs`. @default 10000
   */
  readonly headersTimeoutMs: number;
  /** Time to receive a whole request, headers and body, in ms; then 408 `request-timeout`. @default 10000 */
  readonly requestTimeoutMs: number;
  /** How long an idle keep-alive connection is kept open after a response, in ms. @default 72000 */
  readonly keepAliveTimeoutMs: number;
  /** Most TCP connections open at once; connections beyond it are closed as soon as they are accepted. @default 1024 */
  readonly maxConnections: number;
  /**
   * Most TCP connections open at once from one client address; beyond it a new one from that address
   * is closed as soon as it is accepted. 0: no per-address cap (behind a proxy every client shares the
   * proxy's address: limit per client there). @default 0
   */
  readonly maxConnectionsPerAddress: number;
  // Live stream (GET /api/v1/stream, docs/stream.md) and retention
  /** Seconds between the server's WebSocket pings to each stream connection. @default 25 */
  readonly streamHeartbeatSeconds: number;
  /** A stream connection that has not answered a ping within this many seconds is terminated. @default 10 */
  readonly streamPongTimeoutSeconds: number;
  /** A browser connection (no Authorization header) must send its auth message within this many seconds. @default 10 */
  readonly streamAuthTimeoutSeconds: number;
  /** Bytes queued for one stream connection beyond which it is closed as a slow consumer (4429). @default 1048576 */
  readonly streamMaxBufferedBytes: number;
  /** Open stream connections allowed per token; more are refused with 429. @default 16 */
  readonly streamMaxConnectionsPerToken: number;
  /** Signals (and their stream events) received more than this many days ago are deleted; 0 keeps them forever. @default 0 */
  readonly signalRetentionDays: number;
}

/** Input of `resolveConfig`: any subset of `ServerConfig`; the rest comes from `DEFAULTS`. */
export type ServerConfigInput = {
  readonly [K in keyof ServerConfig]?: K extends 'rateLimit' ? Partial<RateLimitConfig> : ServerConfig[K];
};

/** Every default in one place, with units. */
export const DEFAULTS: ServerConfig = Object.freeze({
  host: '127.0.0.1',
  port: 8080,
  toleranceSeconds: 300, // s, either way
  maxBodyBytes: 65_536, // bytes (64 KiB)
  idempotencyTtlSeconds: 86_400, // s (24 h)
  rateLimit: Object.freeze({
    perSecond: 50, // signals/s per producer
    burst: 100, // signals
  }),
  secretCacheMs: 5_000, // ms
  maxBatchSize: 512, // requests per transaction
  purgeIntervalSeconds: 60, // s
  shutdownTimeoutMs: 10_000, // ms
  // A producer sends headers and a body of at most 64 KiB at once: 10 s is ample on any link
  // (6.6 KB/s) and bounds how long a slow or stalled client holds a connection and its buffers.
  headersTimeoutMs: 10_000, // ms
  requestTimeoutMs: 10_000, // ms
  // Longer than the 60 s idle timeout of common load balancers, so that they close first (no request
  // sent on a connection the server is closing); fastify's default.
  keepAliveTimeoutMs: 72_000, // ms
  // Worst case held in buffers: 1024 × (16 KiB headers + 64 KiB body) ≈ 80 MiB, for at most 10 s.
  maxConnections: 1_024, // connections
  // Off: behind a proxy or load balancer (the recommended deployment) every client has its address.
  maxConnectionsPerAddress: 0, // connections; 0 = no per-address cap
  // Live stream and retention
  streamHeartbeatSeconds: 25, // s between pings
  streamPongTimeoutSeconds: 10, // s to answer a ping
  streamAuthTimeoutSeconds: 10, // s for a browser's auth message
  streamMaxBufferedBytes: 1_048_576, // bytes (1 MiB) queued per connection
  streamMaxConnectionsPerToken: 16, // connections
  signalRetentionDays: 0, // days; 0 = keep forever
});

/** What `host` (`SIGPOST_HOST`, `sigpost serve --host`) accepts: a host name or an IPv4/IPv6 literal. */
export const HOST_PATTERN =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*|[0-9A-Fa-f:.]{2,45})$/;

/** Environment variables read by `readConfigEnv`, by option. */
export const ENV_NAMES = Object.freeze({
  host: 'SIGPOST_HOST',
  port: 'SIGPOST_PORT',
  toleranceSeconds: 'SIGPOST_TOLERANCE_SECONDS',
  maxBodyBytes: 'SIGPOST_MAX_BODY_BYTES',
  idempotencyTtlSeconds: 'SIGPOST_IDEMPOTENCY_TTL_SECONDS',
  rateLimitPerSecond: 'SIGPOST_RATE_LIMIT_PER_SECOND',
  rateLimitBurst: 'SIGPOST_RATE_LIMIT_BURST',
  secretCacheMs: 'SIGPOST_SECRET_CACHE_MS',
  maxBatchSize: 'SIGPOST_MAX_BATCH_SIZE',
  purgeIntervalSeconds: 'SIGPOST_PURGE_INTERVAL_SECONDS',
  shutdownTimeoutMs: 'SIGPOST_SHUTDOWN_TIMEOUT_MS',
  headersTimeoutMs: 'SIGPOST_HEADERS_TIMEOUT_MS',
  requestTimeoutMs: 'SIGPOST_REQUEST_TIMEOUT_MS',
  keepAliveTimeoutMs: 'SIGPOST_KEEP_ALIVE_TIMEOUT_MS',
  maxConnections: 'SIGPOST_MAX_CONNECTIONS',
  maxConnectionsPerAddress: 'SIGPOST_MAX_CONNECTIONS_PER_ADDRESS',
  // Live stream and retention
  streamHeartbeatSeconds: 'SIGPOST_STREAM_HEARTBEAT_SECONDS',
  streamPongTimeoutSeconds: 'SIGPOST_STREAM_PONG_TIMEOUT_SECONDS',
  streamAuthTimeoutSeconds: 'SIGPOST_STREAM_AUTH_TIMEOUT_SECONDS',
  streamMaxBufferedBytes: 'SIGPOST_STREAM_MAX_BUFFERED_BYTES',
  streamMaxConnectionsPerToken: 'SIGPOST_STREAM_MAX_CONNECTIONS_PER_TOKEN',
  signalRetentionDays: 'SIGPOST_SIGNAL_RETENTION_DAYS',
} as const);

const RENAMED_OPTIONS: Readonly<Record<string, keyof ServerConfig>> = {
  bodyLimit: 'maxBodyBytes',
  maxBodySize: 'maxBodyBytes',
  tolerance: 'toleranceSeconds',
  toleranceMs: 'toleranceSeconds',
  idempotencyTtl: 'idempotencyTtlSeconds',
  idempotencyTtlMs: 'idempotencyTtlSeconds',
};

const RENAMED_ENV: Readonly<Record<string, string>> = {
  SIGPOST_TOLERANCE: ENV_NAMES.toleranceSeconds,
  SIGPOST_MAX_BODY_SIZE: ENV_NAMES.maxBodyBytes,
  SIGPOST_BODY_LIMIT: ENV_NAMES.maxBodyBytes,
  SIGPOST_IDEMPOTENCY_TTL: ENV_NAMES.idempotencyTtlSeconds,
  SIGPOST_RATE_LIMIT: ENV_NAMES.rateLimitPerSecond,
};

interface Range {
  readonly min: number;
  readonly max: number;
  readonly integer: boolean;
  readonly unit: string;
}

const RANGES: Readonly<Record<Exclude<keyof ServerConfig, 'host' | 'rateLimit'>, Range>> = {
  port: { min: 0, max: 65_535, integer: true, unit: '' },
  toleranceSeconds: { min: 1, max: 3_600, integer: true, unit: ' seconds' },
  maxBodyBytes: { min: 1_024, max: 10_485_760, integer: true, unit: ' bytes' },
  idempotencyTtlSeconds: { min: 60, max: 2_592_000, integer: true, unit: ' seconds' },
  secretCacheMs: { min: 0, max: 3_600_000, integer: true, unit: ' ms' },
  maxBatchSize: { min: 1, max: 10_000, integer: true, unit: '' },
  purgeIntervalSeconds: { min: 1, max: 86_400, integer: true, unit: ' seconds' },
  shutdownTimeoutMs: { min: 0, max: 600_000, integer: true, unit: ' ms' },
  headersTimeoutMs: { min: 50, max: 600_000, integer: true, unit: ' ms' },
  requestTimeoutMs: { min: 50, max: 600_000, integer: true, unit: ' ms' },
  keepAliveTimeoutMs: { min: 100, max: 600_000, integer: true, unit: ' ms' },
  maxConnections: { min: 1, max: 1_000_000, integer: true, unit: '' },
  maxConnectionsPerAddress: { min: 0, max: 1_000_000, integer: true, unit: '' },
  // Live stream and retention
  streamHeartbeatSeconds: { min: 1, max: 3_600, integer: true, unit: ' seconds' },
  streamPongTimeoutSeconds: { min: 1, max: 600, integer: true, unit: ' seconds' },
  streamAuthTimeoutSeconds: { min: 1, max: 600, integer: true, unit: ' seconds' },
  streamMaxBufferedBytes: { min: 16_384, max: 1_073_741_824, integer: true, unit: ' bytes' },
  streamMaxConnectionsPerToken: { min: 1, max: 100_000, integer: true, unit: '' },
  signalRetentionDays: { min: 0, max: 36_500, integer: true, unit: ' days' },
};
const PER_SECOND: Range = { min: 0.001, max: 1e9, integer: false, unit: ' per second' };
const BURST: Range = { min: 1, max: 1e9, integer: true, unit: '' };

function describe(range: Range): string {
  return `${range.integer ? 'an integer' : 'a number'} from ${range.min} to ${range.max}${range.unit}`;
}

function checkNumber(key: string, value: unknown, range: Range, issues: InputIssue[]): void {
  const ok =
    typeof value === 'number' &&
    Number.isFinite(value) &&
    (!range.integer || Number.isInteger(value)) &&
    value >= range.min &&
    value <= range.max;
  if (!ok) issues.push({ key, expected: describe(range), received: describeValue(value) });
}

/**
 * Applies `DEFAULTS` to a partial configuration, validates every option, and returns it frozen.
 * Throws `ConfigError` listing every problem at once.
 *
 * @example
 * const config = resolveConfig({ port: 0, rateLimit: { perSecond: 10 } });
 */
export function resolveConfig(input: ServerConfigInput = {}): ServerConfig {
  const issues: InputIssue[] = [];
  const known = new Set<string>(Object.keys(DEFAULTS));
  for (const key of Object.keys(input)) {
    if (known.has(key)) continue;
    const renamed = RENAMED_OPTIONS[key];
    issues.push({
      key,
      expected: renamed ? `no \`${key}\` option; use \`${renamed}\`` : 'no such option',
      received: describeValue((input as Record<string, unknown>)[key]),
    });
  }
  const rateInput = input.rateLimit ?? {};
  if (typeof rateInput !== 'object' || rateInput === null) {
    issues.push({
      key: 'rateLimit',
      expected: 'an object { perSecond, burst }',
      received: describeValue(rateInput),
    });
  } else {
    for (const key of Object.keys(rateInput)) {
      if (key !== 'perSecond' && key !== 'burst') {
        issues.push({ key: `rateLimit.${key}`, expected: 'no such option', received: describeValue(key) });
      }
    }
  }
  const rate = typeof rateInput === 'object' && rateInput !== null ? rateInput : {};
  const config: ServerConfig = {
    host: input.host ?? DEFAULTS.host,
    port: input.port ?? DEFAULTS.port,
    toleranceSeconds: input.toleranceSeconds ?? DEFAULTS.toleranceSeconds,
    maxBodyBytes: input.maxBodyBytes ?? DEFAULTS.maxBodyBytes,
    idempotencyTtlSeconds: input.idempotencyTtlSeconds ?? DEFAULTS.idempotencyTtlSeconds,
    rateLimit: Object.freeze({
      perSecond: rate.perSecond ?? DEFAULTS.rateLimit.perSecond,
      burst: rate.burst ?? DEFAULTS.rateLimit.burst,
    }),
    secretCacheMs: input.secretCacheMs ?? DEFAULTS.secretCacheMs,
    maxBatchSize: input.maxBatchSize ?? DEFAULTS.maxBatchSize,
    purgeIntervalSeconds: input.purgeIntervalSeconds ?? DEFAULTS.purgeIntervalSeconds,
    shutdownTimeoutMs: input.shutdownTimeoutMs ?? DEFAULTS.shutdownTimeoutMs,
    headersTimeoutMs: input.headersTimeoutMs ?? DEFAULTS.headersTimeoutMs,
    requestTimeoutMs: input.requestTimeoutMs ?? DEFAULTS.requestTimeoutMs,
    keepAliveTimeoutMs: input.keepAliveTimeoutMs ?? DEFAULTS.keepAliveTimeoutMs,
    maxConnections: input.maxConnections ?? DEFAULTS.maxConnections,
    maxConnectionsPerAddress: input.maxConnectionsPerAddress ?? DEFAULTS.maxConnectionsPerAddress,
    // Live stream and retention
    streamHeartbeatSeconds: input.streamHeartbeatSeconds ?? DEFAULTS.streamHeartbeatSeconds,
    streamPongTimeoutSeconds: input.streamPongTimeoutSeconds ?? DEFAULTS.streamPongTimeoutSeconds,
    streamAuthTimeoutSeconds: input.streamAuthTimeoutSeconds ?? DEFAULTS.streamAuthTimeoutSeconds,
    streamMaxBufferedBytes: input.streamMaxBufferedBytes ?? DEFAULTS.streamMaxBufferedBytes,
    streamMaxConnectionsPerToken: input.streamMaxConnectionsPerToken ?? DEFAULTS.streamMaxConnectionsPerToken,
    signalRetentionDays: input.signalRetentionDays ?? DEFAULTS.signalRetentionDays,
  };
  if (typeof config.host !== 'string' || config.host.length > 255 || !HOST_PATTERN.test(config.host)) {
    issues.push({ key: 'host', expected: 'a host name or IP address', received: describeValue(config.host) });
  }
  for (const [key, range] of Object.entries(RANGES) as [keyof typeof RANGES, Range][]) {
    checkNumber(key, config[key], range, issues);
  }
  checkNumber('rateLimit.perSecond', config.rateLimit.perSecond, PER_SECOND, issues);
  checkNumber('rateLimit.burst', config.rateLimit.burst, BURST, issues);
  const timeoutsValid = !issues.some((i) => i.key === 'headersTimeoutMs' || i.key === 'requestTimeoutMs');
  if (timeoutsValid && config.headersTimeoutMs > config.requestTimeoutMs) {
    // The headers are part of the request: node refuses a headers timeout longer than the request's.
    issues.push({
      key: 'headersTimeoutMs',
      expected: `at most the request timeout (${config.requestTimeoutMs} ms)`,
      received: describeValue(config.headersTimeoutMs),
    });
  }
  // Retention: a signal must outlive its idempotency record, which a repeat of its key reads.
  if (
    Number.isInteger(config.signalRetentionDays) &&
    config.signalRetentionDays > 0 &&
    config.signalRetentionDays * 86_400 < config.idempotencyTtlSeconds
  ) {
    issues.push({
      key: 'signalRetentionDays',
      expected: `0 (keep forever) or at least idempotencyTtlSeconds (${config.idempotencyTtlSeconds} s = ${Math.ceil(config.idempotencyTtlSeconds / 86_400)} days)`,
      received: describeValue(config.signalRetentionDays),
    });
  }
  if (issues.length > 0) throw new ConfigError(issues);
  return Object.freeze(config);
}

/**
 * Reads the `SIGPOST_*` server options from an environment (see `ENV_NAMES`). Unset or empty
 * variables are left out, so the result can be spread under command-line flags and given to
 * `resolveConfig`. Throws `ConfigError` naming each malformed or renamed variable.
 *
 * @example
 * const config = resolveConfig({ ...readConfigEnv(process.env), port: 0 });
 */
export function readConfigEnv(
  env: Readonly<Record<string, string | undefined>> = process.env,
): ServerConfigInput {
  const issues: InputIssue[] = [];
  for (const [old, replacement] of Object.entries(RENAMED_ENV)) {
    if (env[old] !== undefined && env[old] !== '') {
      issues.push({ key: old, expected: `no ${old}; use ${replacement}`, received: describeValue(env[old]) });
    }
  }
  const num = (name: string, integer: boolean): number | undefined => {
    const raw = env[name];
    if (raw === undefined || raw === '') return undefined;
    const pattern = integer ? /^\d{1,15}$/ : /^\d{1,15}(?:\.\d{1,9})?$/;
    if (!pattern.test(raw.trim())) {
      issues.push({ key: name, expected: integer ? 'an integer' : 'a number', received: describeValue(raw) });
      return undefined;
    }
    return Number(raw.trim());
  };
  const out: { -readonly [K in keyof ServerConfigInput]: ServerConfigInput[K] } = {};
  const host = env[ENV_NAMES.host];
  if (host !== undefined && host !== '') out.host = host;
  const set = <K extends Exclude<keyof ServerConfig, 'host' | 'rateLimit'>>(key: K) => {
    const value = num(ENV_NAMES[key], true);
    if (value !== undefined) out[key] = value;
  };
  set('port');
  set('toleranceSeconds');
  set('maxBodyBytes');
  set('idempotencyTtlSeconds');
  set('secretCacheMs');
  set('maxBatchSize');
  set('purgeIntervalSeconds');
  set('shutdownTimeoutMs');
  set('headersTimeoutMs');
  set('requestTimeoutMs');
  set('keepAliveTimeoutMs');
  set('maxConnections');
  set('maxConnectionsPerAddress');
  // Live stream and retention
  set('streamHeartbeatSeconds');
  set('streamPongTimeoutSeconds');
  set('streamAuthTimeoutSeconds');
  set('streamMaxBufferedBytes');
  set('streamMaxConnectionsPerToken');
  set('signalRetentionDays');
  const perSecond = num(ENV_NAMES.rateLimitPerSecond, false);
  const burst = num(ENV_NAMES.rateLimitBurst, true);
  if (perSecond !== undefined || burst !== undefined) {
    out.rateLimit = {
      ...(perSecond === undefined ? {} : { perSecond }),
      ...(burst === undefined ? {} : { burst }),
    };
  }
  if (issues.length > 0) throw new ConfigError(issues);
  return out;
}
