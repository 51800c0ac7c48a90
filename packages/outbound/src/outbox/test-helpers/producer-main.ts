// Child process of the crash tests: a producer that enqueues COUNT signals, ten per transaction (keys
// `crash-<i>`, so a restarted producer re-enqueues without duplicating), and drains them. It reports
// progress on stdout so the test can kill it at chosen moments:
//   READY             the outbox is open
//   E <i>             signals up to i are durably enqueued (or were already)
//   D <delivered>     entries delivered in the outbox so far
//   DONE <summary>    the drain finished
import { HmacClient } from '../../client.js';
import { OutboundConfig } from '../../config.js';
import type { OutboundLogger } from '../../logger.js';
import { Outbox } from '../outbox.js';
import { validSignal } from './fixtures.js';

const env = (name: string): string => {
  const value = process.env[name];
  if (value === undefined) throw new Error(`producer-main: ${name} is not set`);
  return value;
};

const quiet: OutboundLogger = { debug() {}, info() {}, warn() {}, error() {}, fatal() {} };
const count = Number(env('COUNT'));
const instruments = ['GOLD', 'EURUSD', 'BTC/USD', 'SPX'];

const outbox = Outbox.open(env('OUTBOX_PATH'), { logger: quiet });
process.stdout.write('READY\n');
const BATCH = 10;
for (let first = 0; first < count; first += BATCH) {
  const indexes = Array.from({ length: Math.min(BATCH, count - first) }, (_, k) => first + k);
  outbox.enqueueMany(
    indexes.map((i) => ({
      signal: validSignal(i, instruments[i % instruments.length]),
      idempotencyKey: `crash-${i}`,
    })),
  );
  process.stdout.write(`E ${indexes.at(-1)}\n`);
}
const config = new OutboundConfig({
  producerId: env('PRODUCER_ID'),
  producerSecret: env('PRODUCER_SECRET'),
  serverBaseUrl: env('SERVER_URL'),
});
const client = new HmacClient(config, quiet);
const before = outbox.status().delivered;
const summary = await outbox.drain({
  client,
  concurrency: 16,
  retry: { limit: 1000, baseDelayMs: 5, maxDelayMs: 100, deadlineMs: undefined },
  onProgress: (p) => process.stdout.write(`D ${before + p.delivered}\n`),
});
await client.close();
await outbox.close();
process.stdout.write(`DONE ${JSON.stringify(summary)}\n`);
