// A consumer process for the crash tests: subscribes with a FileCursor and, for each event, appends
// its seq to LOG_FILE (the side effect a real handler would have) and prints `handled <seq>`.
// With HANG_AT=<seq> its handler never returns on that event, so the test can kill it mid-handler.
import { appendFileSync } from 'node:fs';
import { FileCursor } from '../cursor.js';
import { SignalSubscriber } from '../subscriber.js';

const env = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is required`);
  return value;
};
const hangAt = process.env.HANG_AT ? Number(process.env.HANG_AT) : undefined;

const subscriber = new SignalSubscriber({
  url: env('STREAM_URL'),
  token: env('STREAM_TOKEN'),
  cursor: new FileCursor(env('CURSOR_FILE')),
  start: { after: 0 },
  reconnect: { baseDelayMs: 20, maxDelayMs: 200 },
});
await subscriber.run(async (event) => {
  appendFileSync(env('LOG_FILE'), `${event.seq}\n`);
  process.stdout.write(`handled ${event.seq}\n`);
  if (event.seq === hangAt) await new Promise(() => {});
});
