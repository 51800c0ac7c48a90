// Durable enqueue throughput of the outbox, against the floor it is built on: a raw better-sqlite3
// insert of the same row into the same table with the same durability settings (WAL,
// synchronous=FULL: one fsync per commit). Target: enqueue >= 0.8x the raw insert.
// Also prints enqueueMany (one transaction per batch) beside a raw batched insert.
//
//   npm run bench -- outbox
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validSignal } from '@sigpost/test-support/fixtures';
import Database from 'better-sqlite3';
import { Outbox } from '../packages/outbound/src/outbox/outbox.js';
import { configureConnection, INSERT_SQL, SCHEMA_SQL } from '../packages/outbound/src/outbox/store.js';

// fsync latency swings with whatever else uses the disk (on ext4 an fsync also waits for other files'
// pending journal writes), so the two sides of each comparison alternate one operation at a time, in
// alternating order, and the single and batched comparisons run apart.
const SINGLES = 600; // enqueues (and raw inserts), one fsync each
const BATCH = 100; // signals per enqueueMany
const BATCHES = 30;
const TARGET = 0.8;

const quiet = { debug() {}, info() {}, warn() {}, error() {}, fatal() {} };
const signal = validSignal();
const json = JSON.stringify(signal);

const dir = mkdtempSync(join(tmpdir(), 'sigpost-bench-outbox-'));
try {
  const outbox = Outbox.open(join(dir, 'outbox.db'), { logger: quiet });
  const raw = new Database(join(dir, 'raw.db'));
  configureConnection(raw);
  raw.exec(SCHEMA_SQL);
  const insert = raw.prepare(INSERT_SQL);
  const insertBatch = raw.transaction((rows: number) => {
    for (let i = 0; i < rows; i++)
      insert.run({ key: randomUUID(), instrument: 'GOLD', signal: json, now: Date.now() });
  });

  const enqueueOne = () => outbox.enqueue(signal);
  const rawOne = () => insert.run({ key: randomUUID(), instrument: 'GOLD', signal: json, now: Date.now() });
  const batch = Array.from({ length: BATCH }, () => signal);
  const enqueueBatch = () => outbox.enqueueMany(batch);
  const rawBatch = () => insertBatch(BATCH);

  /** Total ms of `a` and of `b` over `n` alternations (a then b, then b then a, …). */
  const compare = (n: number, a: () => unknown, b: () => unknown): [number, number] => {
    let ta = 0;
    let tb = 0;
    const timed = (fn: () => unknown): number => {
      const started = performance.now();
      fn();
      return performance.now() - started;
    };
    for (let i = 0; i < 20; i++) {
      a(); // warm-up
      b();
    }
    for (let i = 0; i < n; i++) {
      if (i % 2 === 0) {
        ta += timed(a);
        tb += timed(b);
      } else {
        tb += timed(b);
        ta += timed(a);
      }
    }
    return [ta, tb];
  };
  const [enqueueMs, rawMs] = compare(SINGLES, enqueueOne, rawOne);
  const [manyMs, rawBatchMs] = compare(BATCHES, enqueueBatch, rawBatch);
  const enqueueRate = (SINGLES * 1000) / enqueueMs;
  const rawRate = (SINGLES * 1000) / rawMs;
  const manyRate = (BATCHES * BATCH * 1000) / manyMs;
  const rawBatchRate = (BATCHES * BATCH * 1000) / rawBatchMs;
  const ratio = enqueueRate / rawRate;
  const fmt = (n: number) => n.toFixed(0).padStart(8);
  console.log(`outbox.enqueue        ${fmt(enqueueRate)} signals/s   (one durable commit each)`);
  console.log(`raw insert, same row  ${fmt(rawRate)} rows/s      (WAL, synchronous=FULL)`);
  console.log(`ratio                 ${ratio.toFixed(2).padStart(8)}x          (target >= ${TARGET})`);
  console.log(`outbox.enqueueMany    ${fmt(manyRate)} signals/s   (${BATCH} per transaction)`);
  console.log(`raw insert, batched   ${fmt(rawBatchRate)} rows/s      (${BATCH} per transaction)`);
  console.log(
    `ratio                 ${(manyRate / rawBatchRate).toFixed(2).padStart(8)}x          (no target: validating each signal is the cost here)`,
  );
  raw.close();
  await outbox.close();
  if (ratio < TARGET) {
    console.error(`enqueue is below ${TARGET}x of the raw insert`);
    process.exitCode = 1;
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
