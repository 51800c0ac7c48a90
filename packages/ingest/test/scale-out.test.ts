// Scale-out with real processes: two ingest servers on different ports share one PostgreSQL database.
// Duplicates of one signal (same producer, idempotency key and body, each signed on its own with a
// fresh timestamp) race to both servers at once; the database must keep exactly one of them.
import { randomBytes } from 'node:crypto';
import { buildSignature, formatTimestamp, HEADERS, INGEST_PATH } from '@sigpost/protocol';
import { validSignal } from '@sigpost/test-support/fixtures';
import { killProcesses } from '@sigpost/test-support/process';
import { type ServerProcess, startServerProcess } from '@sigpost/test-support/server-process';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Admin, openStore, SecretBox } from '../src/index.js';

const url = process.env.SIGPOST_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const schema = `sigpost_scaleout_${process.pid}_${Date.now().toString(36)}`;
const KEY = randomBytes(32).toString('base64');
const PRODUCER = 'scale-desk';
const SECRET = 'scale-out-secret-of-enough-bytes';
const ROUNDS = 60;
const PER_SERVER = 4; // duplicates of each signal sent to each server at once
const IN_FLIGHT = 'urn:sigpost:problem:request-in-flight';

const admin = new pg.Pool({ connectionString: url, max: 1 });
admin.on('error', () => {});
const unreachable = await admin.query('SELECT 1').then(
  () => undefined,
  (error: unknown) => (error instanceof Error ? error.message || String(error) : String(error)),
);
if (unreachable !== undefined) {
  await admin.end();
  const where = new URL(url).host;
  const message = `PostgreSQL at ${where} is unreachable (${unreachable})`;
  if (process.env.CI === 'true') throw new Error(`${message}; CI=true, so the scale-out test fails`);
  console.warn(
    `\n⚠ SKIPPING the scale-out test (two servers sharing PostgreSQL): ${message}.\n` +
      '  Start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start\n',
  );
}

interface Answer {
  readonly server: 'A' | 'B';
  readonly status: number;
  readonly replayed: boolean;
  readonly body: { signal_id?: string; type?: string };
}

/** Posts one copy of `body` with key `key`, signed with its own timestamp, to `server`. */
async function post(server: ServerProcess, name: 'A' | 'B', body: string, key: string, timestamp: string) {
  const signature = buildSignature({ secret: SECRET, body, timestamp, producerId: PRODUCER });
  const response = await fetch(`${server.url}${INGEST_PATH}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      [HEADERS.producerId]: PRODUCER,
      [HEADERS.timestamp]: timestamp,
      [HEADERS.signature]: signature,
      [HEADERS.idempotencyKey]: key,
    },
    body,
  });
  return {
    server: name,
    status: response.status,
    replayed: response.headers.get(HEADERS.idempotentReplayed) === 'true',
    body: (await response.json()) as Answer['body'],
  } satisfies Answer;
}

describe.runIf(unreachable === undefined)('scale-out: two server processes sharing PostgreSQL', () => {
  const servers: ServerProcess[] = [];

  beforeAll(async () => {
    const store = await openStore({ databaseUrl: url, schema });
    try {
      await new Admin(store, SecretBox.fromEnv({ SIGPOST_SECRET_KEY: KEY })).addProducer({
        id: PRODUCER,
        secret: SECRET,
      });
    } finally {
      await store.close();
    }
    const env = {
      DATABASE_URL: url,
      SIGPOST_DB_SCHEMA: schema,
      SIGPOST_SECRET_KEY: KEY,
      SIGPOST_RATE_LIMIT_PER_SECOND: '1000000',
      SIGPOST_RATE_LIMIT_BURST: '1000000',
    };
    servers.push(...(await Promise.all([startServerProcess([], env), startServerProcess([], env)])));
  });

  afterAll(async () => {
    await Promise.all(servers.map((s) => s.stop()));
    killProcesses();
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await admin.end();
  });

  it('stores exactly one signal per key when duplicates race to both servers, and answers only 201 or 409 in flight', async () => {
    const [a, b] = servers;
    if (!a || !b) throw new Error('expected two server processes');
    expect(new URL(a.url).port).not.toBe(new URL(b.url).port);

    const answers = new Map<string, Answer[]>();
    for (let round = 0; round < ROUNDS; round++) {
      const key = `scale-${round}`;
      const body = JSON.stringify(
        validSignal({
          reason: `scale-out round ${round}`,
          timestamp: formatTimestamp(Date.now()),
          payload: undefined,
        }),
      );
      // One microsecond apart: every copy has its own timestamp, hence its own signature.
      const base = Date.now();
      const copies = Array.from({ length: 2 * PER_SERVER }, (_, i) => {
        const timestamp = formatTimestamp(base + i / 1000);
        // Which server gets the first copy alternates by round, so that each wins some races.
        return (i + round) % 2 === 0
          ? post(a, 'A', body, key, timestamp)
          : post(b, 'B', body, key, timestamp);
      });
      answers.set(key, await Promise.all(copies));
    }

    const problems: string[] = [];
    const stored = new Map<string, string>();
    for (const [key, list] of answers) {
      const unexpected = list.filter(
        (r) => r.status !== 201 && !(r.status === 409 && r.body.type === IN_FLIGHT),
      );
      for (const r of unexpected)
        problems.push(`${key}: server ${r.server} answered ${r.status} ${JSON.stringify(r.body)}`);
      const created = list.filter((r) => r.status === 201);
      const ids = new Set(created.map((r) => r.body.signal_id));
      if (ids.size !== 1)
        problems.push(`${key}: the 201 answers name ${ids.size} signal ids: ${[...ids].join(', ')}`);
      const fresh = created.filter((r) => !r.replayed).length;
      if (fresh !== 1)
        problems.push(`${key}: ${fresh} answers were 201 without Idempotent-Replayed (expected 1)`);
      for (const server of ['A', 'B'] as const) {
        if (!created.some((r) => r.server === server)) problems.push(`${key}: server ${server} gave no 201`);
      }
      const [id] = ids;
      if (id !== undefined) stored.set(key, id);
    }
    expect(problems).toEqual([]);

    const { rows } = await admin.query<{ idempotency_key: string; id: string }>(
      `SELECT idempotency_key, id FROM ${schema}.signals WHERE producer_id = $1 ORDER BY idempotency_key`,
      [PRODUCER],
    );
    expect(rows).toHaveLength(ROUNDS);
    expect(new Map(rows.map((r) => [r.idempotency_key, r.id]))).toEqual(stored);
  }, 30_000);
});
