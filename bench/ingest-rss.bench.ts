// Resident memory of the ingest server (SQLite, child process) after 100k accepted signals, beside
// the same process's RSS right after start-up and warm-up. Target: ≤ 200 MB. 127.0.0.1 only; load from
// wrk (bench/wrk.ts), 50 connections, each signal unique.
//   npx tsc -b packages/ingest && npm run bench -- ingest-rss
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from '@sigpost/ingest';
import { Child, fmt, load, setupProducer } from './ingest.bench.js';
import { writeRequests } from './wrk.js';

const TARGET_MB = 200;
const TOTAL = Number(process.env.BENCH_RSS_SIGNALS ?? 100_000);
const CHUNK = 20_000; // signed just before each round, so timestamps stay well inside the ±300 s window

const mb = (bytes: number) => bytes / 1024 / 1024;
const key = randomBytes(32).toString('base64');
const dir = mkdtempSync(join(tmpdir(), 'sigpost-rss-'));
try {
  const dbPath = join(dir, 'rss.db');
  const setup = await openStore({ dbPath });
  await setupProducer(setup, key);
  await setup.close();

  const child = new Child(['sigpost', dbPath, '', key]);
  const url = await child.url();
  try {
    const file = join(dir, 'requests.req');
    await writeRequests(file, 1_100, 'warmup');
    await load(child, url, file, 1_000);
    const start = await child.cpu();
    let accepted = 0;
    let peak = start.rss;
    for (let round = 0; accepted < TOTAL; round++) {
      const amount = Math.min(CHUNK, TOTAL - accepted);
      await writeRequests(file, amount + 200, `rss-${round}`);
      const run = await load(child, url, file, amount);
      if (run.other > 0 || run.wrapped) throw new Error(`${run.other} requests were not accepted`);
      accepted += run.ok;
      peak = Math.max(peak, (await child.cpu()).rss);
    }
    const end = await child.cpu();
    console.log(`ingest server (SQLite), ${fmt(accepted)} accepted signals at 50 connections`);
    console.log(
      `RSS after start-up + 1,000 signals: ${fmt(mb(start.rss), 1)} MB (heap ${fmt(mb(start.heapUsed), 1)} MB)`,
    );
    console.log(
      `RSS after ${fmt(accepted)} signals:       ${fmt(mb(end.rss), 1)} MB (heap ${fmt(mb(end.heapUsed), 1)} MB), ` +
        `peak between rounds ${fmt(mb(peak), 1)} MB; target ≤ ${TARGET_MB} MB: ${mb(end.rss) <= TARGET_MB ? 'OK' : 'OVER'}`,
    );
    if (mb(end.rss) > TARGET_MB) process.exitCode = 1;
  } finally {
    await child.stop();
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
