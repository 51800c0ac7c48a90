// Shared test fixtures: a real SQLite store in a temp dir, a controllable clock, one valid signed
// request that each test breaks in exactly one way.
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildSignature, formatTimestamp, HEADERS, INGEST_PATH } from '@sigpost/protocol';
import { SIGNAL_TIMESTAMP, validSignal } from '@sigpost/test-support/fixtures';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { Admin } from '../admin.js';
import { buildApp } from '../app.js';
import type { Clock } from '../clock.js';
import type { ServerConfigInput } from '../config.js';
import { SecretBox } from '../secrets.js';
import { SqliteStore } from '../store/sqlite.js';
import type { Store } from '../store/store.js';

export const SECRET = 'test-secret-key-min-16-bytes-long';
export const PRODUCER = 'test-producer';
/** The fixed "now" of the test clock: 2025-10-25T14:30:45.123Z. */
export const NOW = Date.parse('2025-10-25T14:30:45.123Z');
export const TIMESTAMP = SIGNAL_TIMESTAMP;

/** `NOW` + `offsetMs`, as an X-Timestamp: distinct timestamps give distinct signatures for one body. */
export function timestampAt(offsetMs: number): string {
  return formatTimestamp(NOW + offsetMs);
}

export const SIGNAL = Object.freeze(validSignal());

export const BODY = JSON.stringify(SIGNAL);

/** A clock the test moves by hand. */
export interface TestClock extends Clock {
  set(ms: number): void;
  advance(ms: number): void;
}

export function testClock(start = NOW): TestClock {
  let now = start;
  return {
    now: () => now,
    set: (ms) => {
      now = ms;
    },
    advance: (ms) => {
      now += ms;
    },
  };
}

/** A temp directory removed by `cleanup`. */
export function tempDir(prefix = 'sigpost-ingest-'): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface SignedOptions {
  readonly body?: string | Buffer;
  readonly secret?: string;
  readonly producerId?: string;
  readonly timestamp?: string;
  /** `null` sends no key. @default a fresh UUID */
  readonly idempotencyKey?: string | null;
  readonly contentType?: string | null;
  /** Headers to add or replace after signing (`undefined` removes one). */
  readonly headers?: Readonly<Record<string, string | undefined>>;
}

/** Headers and body of a validly signed ingest request (mutate one thing per test). */
export function signed(options: SignedOptions = {}): {
  headers: Record<string, string>;
  body: string | Buffer;
} {
  const body = options.body ?? BODY;
  const producerId = options.producerId ?? PRODUCER;
  const timestamp = options.timestamp ?? TIMESTAMP;
  const signature = buildSignature({ secret: options.secret ?? SECRET, body, timestamp, producerId });
  const headers: Record<string, string> = {
    [HEADERS.producerId]: producerId,
    [HEADERS.timestamp]: timestamp,
    [HEADERS.signature]: signature,
  };
  if (options.contentType !== null) headers[HEADERS.contentType] = options.contentType ?? 'application/json';
  const key = options.idempotencyKey === undefined ? randomUUID() : options.idempotencyKey;
  if (key !== null) headers[HEADERS.idempotencyKey] = key;
  for (const [name, value] of Object.entries(options.headers ?? {})) {
    const existing = Object.keys(headers).find((h) => h.toLowerCase() === name.toLowerCase());
    if (existing) delete headers[existing];
    if (value !== undefined) headers[name] = value;
  }
  return { headers, body };
}

/** `app.inject` options for a signed ingest request. */
export function ingestRequest(options: SignedOptions = {}) {
  const { headers, body } = signed(options);
  return { method: 'POST' as const, url: INGEST_PATH, headers, payload: body };
}

/** Captures pino output in memory so tests can grep the logs. */
export function captureLogger() {
  const lines: string[] = [];
  const logger = pino(
    { level: 'info' },
    {
      write(line: string) {
        lines.push(line);
      },
    },
  );
  return { logger, lines };
}

export interface TestEnv {
  readonly app: FastifyInstance;
  readonly store: Store;
  readonly box: SecretBox;
  readonly admin: Admin;
  readonly clock: TestClock;
  readonly dir: string;
  readonly dbPath: string;
  readonly logs: string[];
  close(): Promise<void>;
}

/**
 * A real app over a real SQLite file, with producer `test-producer` (secret `SECRET`, auto approval)
 * and a controllable clock. Optionally wrap the store (to hold a commit).
 */
export async function testEnv(
  options: {
    config?: ServerConfigInput;
    wrapStore?: (store: Store) => Store;
    producer?: { approval?: 'auto' | 'manual'; instruments?: string[] | null } | false;
  } = {},
): Promise<TestEnv> {
  const { dir, cleanup } = tempDir();
  const dbPath = join(dir, 'sigpost.db');
  const real = new SqliteStore({ path: dbPath });
  await real.migrate();
  const store = options.wrapStore ? options.wrapStore(real) : real;
  const box = SecretBox.fromKey(randomBytes(32));
  const clock = testClock();
  const admin = new Admin(real, box, clock);
  if (options.producer !== false) {
    await admin.addProducer({
      id: PRODUCER,
      secret: SECRET,
      approval: options.producer?.approval ?? 'auto',
      instruments: options.producer?.instruments ?? null,
    });
  }
  const { logger, lines } = captureLogger();
  const app = buildApp({ store, secretBox: box, clock, logger, config: options.config ?? {} });
  await app.ready();
  return {
    app,
    store: real,
    box,
    admin,
    clock,
    dir,
    dbPath,
    logs: lines,
    async close() {
      await app.close();
      await real.close();
      cleanup();
    },
  };
}

/** A promise with its resolve function exposed. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** The real store with some methods replaced; every other method is the store's own, bound to it. */
export function withOverride<S extends Store>(store: S, overrides: Partial<Store>): S {
  return new Proxy(store, {
    get(target, property, receiver) {
      if (Object.hasOwn(overrides, property)) return overrides[property as keyof Store];
      const value = Reflect.get(target, property, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}
