import { inspect } from 'node:util';
import {
  checkUrl,
  describeValue,
  INGEST_PATH,
  MIN_SECRET_BYTES,
  PRODUCER_ID_PATTERN,
  type UrlProblem,
} from '@sigpost/protocol';
import { type ConfigIssue, OutboundConfigError } from './errors.js';

/**
 * Defaults of the optional settings (the seed's values). The server URL has none: the seed's example
 * default (`https://api.external.com`) is a host nobody here controls, and a forgotten setting must not
 * send signed trading signals to a third party.
 */
export const DEFAULTS = Object.freeze({
  enabled: true,
  timeoutSeconds: 30, // s, per attempt
  maxBodySize: 65_536, // bytes (64 KiB)
});

/** Inclusive ranges of the numeric settings. */
export const LIMITS = Object.freeze({
  timeoutSeconds: Object.freeze({ min: 5, max: 300 }), // s
  maxBodySize: Object.freeze({ min: 1024, max: 10_485_760 }), // bytes (1 KiB–10 MiB)
});

/** The environment variables `OutboundConfig.fromEnv` reads. */
export const ENV = Object.freeze({
  producerSecret: 'HMAC_PRODUCER_SECRET',
  producerId: 'PRODUCER_ID',
  enabled: 'HMAC_PRODUCER_ENABLED',
  serverBaseUrl: 'OUTBOUND_SERVER_URL',
  timeoutSeconds: 'OUTBOUND_TIMEOUT_SECONDS',
  maxBodySize: 'OUTBOUND_MAX_BODY_SIZE',
} as const);

/** Wrong or renamed env names seen in the wild, refused with a pointer to the one that is read. */
const RENAMED_ENV: Readonly<Record<string, string>> = Object.freeze({
  HMAC_SECRET: ENV.producerSecret,
  PRODUCER_SECRET: ENV.producerSecret,
  HMAC_PRODUCER_ID: ENV.producerId,
  OUTBOUND_PRODUCER_ID: ENV.producerId,
  HMAC_ENABLED: ENV.enabled,
  OUTBOUND_ENABLED: ENV.enabled,
  OUTBOUND_URL: ENV.serverBaseUrl,
  OUTBOUND_SERVER_BASE_URL: ENV.serverBaseUrl,
  SERVER_BASE_URL: ENV.serverBaseUrl,
  OUTBOUND_TIMEOUT: ENV.timeoutSeconds,
  OUTBOUND_TIMEOUT_MS: ENV.timeoutSeconds,
  OUTBOUND_MAX_BODY_BYTES: ENV.maxBodySize,
});

/** Option names of the Python seed and other likely slips, refused with the camelCase name to use. */
const RENAMED_OPTIONS: Readonly<Record<string, keyof OutboundConfigOptions>> = Object.freeze({
  producer_id: 'producerId',
  producer_secret: 'producerSecret',
  secret: 'producerSecret',
  server_base_url: 'serverBaseUrl',
  serverUrl: 'serverBaseUrl',
  baseUrl: 'serverBaseUrl',
  url: 'serverBaseUrl',
  timeout_seconds: 'timeoutSeconds',
  timeout: 'timeoutSeconds',
  max_body_size: 'maxBodySize',
  maxBodyBytes: 'maxBodySize',
});

/**
 * Options of `new OutboundConfig(…)`.
 *
 * @example
 * new OutboundConfig({ producerId: 'desk-1', producerSecret: process.env.SECRET!, serverBaseUrl: 'https://ingest.example.com' });
 */
export interface OutboundConfigOptions {
  /** `X-Producer-Id`: 1–64 characters of `[A-Za-z0-9._-]`. */
  readonly producerId: string;
  /** The shared HMAC secret, at least 16 bytes of UTF-8. */
  readonly producerSecret: string;
  /**
   * Base URL of the ingest server, `http:` or `https:`, no query or fragment; a path prefix is kept.
   * Required: there is deliberately no default (see `DEFAULTS`).
   */
  readonly serverBaseUrl: string;
  /**
   * `false` turns delivery off: `postSignal` throws `OutboundDisabledError` and sends nothing.
   * @default true
   */
  readonly enabled?: boolean;
  /**
   * Timeout of one attempt in seconds, 5–300.
   * @default 30
   */
  readonly timeoutSeconds?: number;
  /**
   * Largest request body the client sends, in bytes, 1024–10485760.
   * @default 65536
   */
  readonly maxBodySize?: number;
}

type Key = keyof OutboundConfigOptions;
const OPTION_KEYS: readonly Key[] = [
  'producerId',
  'producerSecret',
  'serverBaseUrl',
  'enabled',
  'timeoutSeconds',
  'maxBodySize',
];

const received = (value: unknown): string => describeValue(value, 80);

const TIMEOUT_EXPECTED = `${LIMITS.timeoutSeconds.min}–${LIMITS.timeoutSeconds.max} seconds`;
const BODY_EXPECTED = `${LIMITS.maxBodySize.min}–${LIMITS.maxBodySize.max} bytes (a whole number)`;
const PRODUCER_ID_EXPECTED = '1–64 characters of A-Z a-z 0-9 . _ -';
const SECRET_EXPECTED = `≥ ${MIN_SECRET_BYTES} bytes (UTF-8)`;
const URL_EXPECTED = 'an absolute http: or https: URL without query, fragment or credentials';
const ENABLED_ENV_EXPECTED = 'true, false, 1, 0, yes or no';

interface Validated {
  readonly producerId: string;
  readonly producerSecret: string;
  readonly serverBaseUrl: string;
  readonly enabled: boolean;
  readonly timeoutSeconds: number;
  readonly maxBodySize: number;
}

/** Why a base URL is refused, or its normalised form (no trailing slash). */
function checkBaseUrl(value: string): { ok: true; url: string } | { ok: false; received: string } {
  const checked = checkUrl(value, { schemes: ['http:', 'https:'] });
  if (checked.ok) return { ok: true, url: checked.url.href.replace(/\/+$/, '') };
  // The URL ends up in error messages and logs: credentials in it would leak.
  const problems: Record<UrlProblem, string> = {
    'not-a-url': received(value),
    credentials: 'a URL with credentials',
    scheme: `a ${checked.url?.protocol} URL`,
    query: 'a URL with a query',
    fragment: 'a URL with a fragment',
  };
  return { ok: false, received: problems[checked.problem] };
}

/** Validates typed values; `keys` names each setting as the caller knows it (option or env name). */
function validate(
  values: Partial<Record<Key, unknown>>,
  keys: Readonly<Record<Key, string>>,
  issues: ConfigIssue[],
  skip: ReadonlySet<Key> = new Set(),
): Validated | undefined {
  const add = (key: Key, code: ConfigIssue['code'], expected: string, got: string) =>
    issues.push({ key: keys[key], code, expected, received: got });

  const { producerId, producerSecret, enabled, timeoutSeconds, maxBodySize } = values;
  const serverBaseUrl = values.serverBaseUrl;

  if (!skip.has('producerId')) {
    if (producerId === undefined) add('producerId', 'required', PRODUCER_ID_EXPECTED, 'nothing');
    else if (typeof producerId !== 'string') {
      add('producerId', 'invalid_type', PRODUCER_ID_EXPECTED, received(producerId));
    } else if (!PRODUCER_ID_PATTERN.test(producerId)) {
      add('producerId', 'invalid_value', PRODUCER_ID_EXPECTED, received(producerId));
    }
  }
  if (!skip.has('producerSecret')) {
    // Never the value: only its byte length or its type.
    if (producerSecret === undefined) add('producerSecret', 'required', SECRET_EXPECTED, 'nothing');
    else if (typeof producerSecret !== 'string') {
      const got = producerSecret === null ? 'null' : `a value of type ${typeof producerSecret}`;
      add('producerSecret', 'invalid_type', `a string of ${SECRET_EXPECTED}`, got);
    } else {
      const bytes = Buffer.byteLength(producerSecret, 'utf8');
      if (bytes < MIN_SECRET_BYTES) {
        add('producerSecret', 'invalid_value', SECRET_EXPECTED, `${bytes} ${bytes === 1 ? 'byte' : 'bytes'}`);
      }
    }
  }
  let url: string | undefined;
  if (!skip.has('serverBaseUrl')) {
    if (serverBaseUrl === undefined) add('serverBaseUrl', 'required', URL_EXPECTED, 'nothing');
    else if (typeof serverBaseUrl !== 'string') {
      add('serverBaseUrl', 'invalid_type', URL_EXPECTED, received(serverBaseUrl));
    } else {
      const checked = checkBaseUrl(serverBaseUrl);
      if (checked.ok) url = checked.url;
      else add('serverBaseUrl', 'invalid_value', URL_EXPECTED, checked.received);
    }
  }
  if (!skip.has('enabled') && enabled !== undefined && typeof enabled !== 'boolean') {
    add('enabled', 'invalid_type', 'a boolean', received(enabled));
  }
  if (!skip.has('timeoutSeconds') && timeoutSeconds !== undefined) {
    const { min, max } = LIMITS.timeoutSeconds;
    if (typeof timeoutSeconds !== 'number') {
      add('timeoutSeconds', 'invalid_type', TIMEOUT_EXPECTED, received(timeoutSeconds));
    } else if (!(timeoutSeconds >= min && timeoutSeconds <= max)) {
      add('timeoutSeconds', 'invalid_value', TIMEOUT_EXPECTED, received(timeoutSeconds));
    }
  }
  if (!skip.has('maxBodySize') && maxBodySize !== undefined) {
    const { min, max } = LIMITS.maxBodySize;
    if (typeof maxBodySize !== 'number') {
      add('maxBodySize', 'invalid_type', BODY_EXPECTED, received(maxBodySize));
    } else if (!(Number.isInteger(maxBodySize) && maxBodySize >= min && maxBodySize <= max)) {
      add('maxBodySize', 'invalid_value', BODY_EXPECTED, received(maxBodySize));
    }
  }
  if (issues.length > 0 || url === undefined) return undefined;
  return {
    producerId: producerId as string,
    producerSecret: producerSecret as string,
    serverBaseUrl: url,
    enabled: (enabled as boolean | undefined) ?? DEFAULTS.enabled,
    timeoutSeconds: (timeoutSeconds as number | undefined) ?? DEFAULTS.timeoutSeconds,
    maxBodySize: (maxBodySize as number | undefined) ?? DEFAULTS.maxBodySize,
  };
}

const OPTION_NAMES = Object.freeze(Object.fromEntries(OPTION_KEYS.map((k) => [k, k])) as Record<Key, string>);

const REDACTED = '[redacted]';

/**
 * The producer's validated, frozen settings. The secret is kept in a private field: it does not
 * appear in `JSON.stringify`, `util.inspect` or `String()` of the config.
 *
 * @example
 * const config = OutboundConfig.fromEnv();
 * const config2 = new OutboundConfig({ producerId: 'desk-1', producerSecret: secret, serverBaseUrl: 'http://127.0.0.1:8080' });
 * @throws {OutboundConfigError} listing every problem at once
 */
export class OutboundConfig {
  /** `X-Producer-Id`. */
  readonly producerId: string;
  /** The ingest server's base URL, normalised, without a trailing slash. */
  readonly serverBaseUrl: string;
  /** The full URL signals are posted to: `serverBaseUrl` + `/api/v1/signals/ingest`. */
  readonly ingestUrl: string;
  /** `false`: `postSignal` refuses with `OutboundDisabledError` and sends nothing. */
  readonly enabled: boolean;
  /** Timeout of one attempt, in seconds. */
  readonly timeoutSeconds: number;
  /** Largest request body sent, in bytes. */
  readonly maxBodySize: number;
  readonly #producerSecret: string;

  constructor(options: OutboundConfigOptions) {
    if (typeof options !== 'object' || options === null) {
      throw new TypeError(`Expected OutboundConfig options to be an object, received ${received(options)}`);
    }
    const issues: ConfigIssue[] = [];
    for (const key of Object.keys(options)) {
      if ((OPTION_KEYS as readonly string[]).includes(key)) continue;
      const replacement = RENAMED_OPTIONS[key];
      issues.push(
        replacement
          ? { key, code: 'renamed', expected: replacement, received: 'set' }
          : {
              key,
              code: 'unknown_key',
              expected: `one of ${OPTION_KEYS.join(', ')}`,
              received: 'an unknown option',
            },
      );
    }
    const valid = validate(options, OPTION_NAMES, issues);
    if (!valid) throw new OutboundConfigError(issues);
    this.producerId = valid.producerId;
    this.#producerSecret = valid.producerSecret;
    this.serverBaseUrl = valid.serverBaseUrl;
    this.ingestUrl = `${valid.serverBaseUrl}${INGEST_PATH}`;
    this.enabled = valid.enabled;
    this.timeoutSeconds = valid.timeoutSeconds;
    this.maxBodySize = valid.maxBodySize;
    Object.freeze(this);
  }

  /** The shared HMAC secret. Read it only to sign; never log it. */
  get producerSecret(): string {
    return this.#producerSecret;
  }

  /**
   * Reads the settings from environment variables (`HMAC_PRODUCER_SECRET`, `PRODUCER_ID`,
   * `HMAC_PRODUCER_ENABLED`, `OUTBOUND_SERVER_URL`, `OUTBOUND_TIMEOUT_SECONDS`, `OUTBOUND_MAX_BODY_SIZE`).
   * Known wrong names (`HMAC_SECRET`, `OUTBOUND_TIMEOUT`, …) are refused with the name to use.
   *
   * @param env the environment to read
   * @default env process.env
   * @throws {OutboundConfigError} every problem at once, each at its variable's name
   * @example
   * const config = OutboundConfig.fromEnv({ PRODUCER_ID: 'desk-1', HMAC_PRODUCER_SECRET: secret, OUTBOUND_SERVER_URL: 'https://ingest.example.com' });
   */
  static fromEnv(env: Readonly<Record<string, string | undefined>> = process.env): OutboundConfig {
    const issues: ConfigIssue[] = [];
    for (const [wrong, right] of Object.entries(RENAMED_ENV)) {
      if (env[wrong] !== undefined)
        issues.push({ key: wrong, code: 'renamed', expected: right, received: 'set' });
    }
    const values: Partial<Record<Key, unknown>> = {};
    const skip = new Set<Key>();
    const read = (key: Key): string | undefined => env[ENV[key]];

    values.producerId = read('producerId');
    values.producerSecret = read('producerSecret');
    values.serverBaseUrl = read('serverBaseUrl');

    const enabled = read('enabled');
    if (enabled !== undefined) {
      const word = enabled.trim().toLowerCase();
      if (['true', '1', 'yes'].includes(word)) values.enabled = true;
      else if (['false', '0', 'no'].includes(word)) values.enabled = false;
      else {
        issues.push({
          key: ENV.enabled,
          code: 'invalid_value',
          expected: ENABLED_ENV_EXPECTED,
          received: received(enabled),
        });
        skip.add('enabled');
      }
    }
    const numeric = (key: 'timeoutSeconds' | 'maxBodySize', expected: string) => {
      const text = read(key);
      if (text === undefined) return;
      const trimmed = text.trim();
      // Number('') is 0 and Number('0x10') is 16: accept plain decimals only.
      if (/^\d+(\.\d+)?$/.test(trimmed)) values[key] = Number(trimmed);
      else {
        issues.push({ key: ENV[key], code: 'invalid_value', expected, received: received(text) });
        skip.add(key);
      }
    };
    numeric('timeoutSeconds', TIMEOUT_EXPECTED);
    numeric('maxBodySize', BODY_EXPECTED);

    const valid = validate(values, ENV, issues, skip);
    if (!valid) throw new OutboundConfigError(issues);
    return new OutboundConfig(valid);
  }

  /** The settings with the secret replaced by `[redacted]`, for logs and JSON.stringify. */
  toJSON(): Record<string, unknown> {
    return {
      producerId: this.producerId,
      producerSecret: REDACTED,
      serverBaseUrl: this.serverBaseUrl,
      enabled: this.enabled,
      timeoutSeconds: this.timeoutSeconds,
      maxBodySize: this.maxBodySize,
    };
  }

  toString(): string {
    return `OutboundConfig ${JSON.stringify(this.toJSON())}`;
  }

  [inspect.custom](): string {
    return `OutboundConfig ${inspect(this.toJSON())}`;
  }
}
