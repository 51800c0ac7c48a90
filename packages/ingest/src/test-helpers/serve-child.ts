// A real ingest server process for the durability test: `node --import tsx serve-child.ts DB_PATH`.
// Key from SIGPOST_SECRET_KEY. Prints "LISTENING <url>" once ready; exits 0 after SIGTERM.
import pino from 'pino';
import { SecretBox } from '../secrets.js';
import { startServer } from '../server.js';
import { openStore } from '../store/open.js';

const dbPath = process.argv[2];
if (!dbPath) {
  console.error('usage: serve-child.ts DB_PATH');
  process.exit(2);
}
const store = await openStore({ dbPath });
const server = await startServer({
  store,
  secretBox: SecretBox.fromEnv(process.env),
  logger: pino({ level: 'warn' }, pino.destination(2)),
  config: { port: 0, rateLimit: { perSecond: 1e6, burst: 1e6 } },
  onSignalShutdown: (_signal, error) => process.exit(error === undefined ? 0 : 1),
});
process.stdout.write(`LISTENING ${server.url}\n`);
