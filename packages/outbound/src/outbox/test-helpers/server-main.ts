// Child process of the crash tests: the real ingest server on a fixed port, killed and restarted by
// the test. Prints `LISTENING <url>` once it accepts requests.
import { startRealIngest } from './ingest.js';

const env = (name: string): string => {
  const value = process.env[name];
  if (value === undefined) throw new Error(`server-main: ${name} is not set`);
  return value;
};

const server = await startRealIngest({
  dbPath: env('SERVER_DB'),
  port: Number(env('SERVER_PORT')),
  producerId: env('PRODUCER_ID'),
  secret: env('PRODUCER_SECRET'),
});
process.stdout.write(`LISTENING ${server.url}\n`);
process.on('SIGTERM', () => {
  void server.close().then(() => process.exit(0));
});
