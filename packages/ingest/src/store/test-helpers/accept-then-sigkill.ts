// Child process of sqlite.test.ts: commits one request, reports it, then dies by SIGKILL (no
// close(), no exit handlers), the way a crashed server would after sending its 201.
import { SqliteStore } from '../sqlite.js';
import { acceptRequest } from './fixtures.js';

const path = process.argv[2];
if (path === undefined) throw new Error('usage: accept-then-sigkill.ts <database file>');
const store = new SqliteStore({ path });
await store.migrate();
const [result] = await store.acceptBatch([acceptRequest({ id: 'before-kill' })]);
if (result?.outcome !== 'stored') throw new Error(`expected stored, got ${result?.outcome}`);
process.stdout.write('committed\n', () => process.kill(process.pid, 'SIGKILL'));
