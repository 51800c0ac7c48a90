// Child process of open.test.ts: opens a SQLite store through openStore, then prints the
// CommonJS modules loaded so far (pg and better-sqlite3 are CommonJS packages).
import { createRequire } from 'node:module';
import { openStore } from '../open.js';

const path = process.argv[2];
if (path === undefined) throw new Error('usage: open-sqlite-list-modules.ts <database file>');
const store = await openStore({ dbPath: path });
await store.close();
process.stdout.write(JSON.stringify(Object.keys(createRequire(import.meta.url).cache)));
