// sigpost producers on PostgreSQL (on SQLite: producers.test.ts).
import { randomBytes } from 'node:crypto';
import { openStore, SecretBox } from '@sigpost/ingest';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { run } from '../test-helpers/io.js';

const KEY = randomBytes(32).toString('base64');
const WITH_KEY = { SIGPOST_SECRET_KEY: KEY };

interface Issued {
  producer_id: string;
  secret_id: string;
  secret?: string;
}

// PostgreSQL: the same commands through DATABASE_URL, in a schema of their own (SIGPOST_DB_SCHEMA).
const pgUrl = process.env.SIGPOST_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const schema = `sigpost_cli_producers_${process.pid}_${Date.now().toString(36)}`;
const pgAdmin = new pg.Pool({ connectionString: pgUrl, max: 1 });
pgAdmin.on('error', () => {});
const pgDown = await pgAdmin.query('SELECT 1').then(
  () => undefined,
  (error: unknown) => (error instanceof Error ? error.message || String(error) : String(error)),
);
if (pgDown !== undefined) {
  await pgAdmin.end();
  const message = `PostgreSQL at ${new URL(pgUrl).host} is unreachable (${pgDown})`;
  if (process.env.CI === 'true') throw new Error(`${message}; CI=true, so the PostgreSQL CLI tests fail`);
  console.warn(`\n⚠ SKIPPING the PostgreSQL tests of sigpost producers: ${message}.\n`);
}
afterAll(async () => {
  if (pgDown !== undefined) return;
  await pgAdmin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await pgAdmin.end();
});

describe.runIf(pgDown === undefined)('sigpost producers on PostgreSQL (DATABASE_URL)', () => {
  const env = { DATABASE_URL: pgUrl, SIGPOST_DB_SCHEMA: schema, SIGPOST_SECRET_KEY: KEY };

  it('adds, rotates and lists producers in the schema named by SIGPOST_DB_SCHEMA', async () => {
    const added = await run(['producers', 'add', '--id', 'pg-desk', '--json'], { env });
    expect(added.code).toBe(0);
    const first = JSON.parse(added.stdout) as Issued;
    const rotated = await run(['producers', 'rotate', '--id', 'pg-desk', '--json'], { env });
    const second = JSON.parse(rotated.stdout) as Issued;
    expect(rotated.stderr).toContain(
      `  sigpost producers retire-secret --id pg-desk --secret-id ${first.secret_id}\n`,
    );

    const listed = await run(['producers', 'list'], { env });
    expect(listed.stdout).toMatch(
      new RegExp(`^pg-desk\tauto\tany\t${first.secret_id},${second.secret_id}\t\\S+Z\n$`),
    );
    const { rows } = await pgAdmin.query<{ id: string }>(`SELECT id FROM ${schema}.producers`);
    expect(rows).toEqual([{ id: 'pg-desk' }]);
    const store = await openStore({ databaseUrl: pgUrl, schema });
    try {
      const producer = await store.getProducer('pg-desk');
      const box = SecretBox.fromEnv(WITH_KEY);
      expect(producer?.secrets.map((s) => box.open(s.ciphertext))).toEqual([first.secret, second.secret]);
    } finally {
      await store.close();
    }
  });

  it('names the PostgreSQL database without its password in messages', async () => {
    const withPassword = pgUrl.replace('postgres://postgres@', 'postgres://postgres:hunter2-password@');
    const result = await run(['producers', 'remove', '--id', 'nobody'], {
      env: { ...env, DATABASE_URL: withPassword },
    });
    const { host, pathname } = new URL(pgUrl);
    expect(result).toEqual({
      code: 1,
      stdout: '',
      stderr: `error: Producer nobody does not exist (PostgreSQL database ${host}${pathname} (schema ${schema}))\n`,
    });
  });
});
