// The SQLite store, split by role under sqlite/ (see sqlite/store.ts). This path stays for its importers.
export { SqliteStore, type SqliteStoreOptions } from './sqlite/store.js';
export { writerThreadOfProcess } from './sqlite/transport.js';
