// The settings every SqliteStore connection shares (the store's reading connection and its writer's):
// file creation with private modes, WAL, `synchronous = FULL`, busy timeout, foreign keys, checkpoints.
import { closeSync, constants, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { StoreError } from '../store.js';

/** WAL pages after which a commit checkpoints (SQLite's default is 1 000). */
export const WAL_AUTOCHECKPOINT_PAGES = 4_000;

/**
 * Creates `path` empty and private (0600) if it does not exist: SQLite would create it 0644 (under
 * the usual umask), and its -wal and -shm files take the database file's mode. An existing file is
 * left as it is (its owner chose its mode).
 */
function createPrivate(path: string): void {
  try {
    closeSync(openSync(path, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, 0o600));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
}

/**
 * Opens a connection with the settings every SqliteStore connection shares: WAL, `synchronous =
 * FULL`, a busy timeout and foreign keys. Throws StoreError naming the file.
 */
export function openConnection(path: string, busyTimeoutMs: number): Database.Database {
  let db: Database.Database;
  try {
    // A directory created here is private (0700): it will hold the signals and the sealed secrets.
    if (path !== ':memory:' && path !== '') {
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      createPrivate(path);
    }
    db = new Database(path);
  } catch (error) {
    throw new StoreError(`Cannot open SQLite database ${path}`, { cause: error });
  }
  try {
    // busy_timeout first: switching to WAL needs a lock another process may hold.
    db.pragma(`busy_timeout = ${Math.trunc(busyTimeoutMs)}`);
    db.pragma('journal_mode = WAL');
    // FULL: in WAL mode, NORMAL survives a process crash but may lose the last commits on power
    // loss; FULL fsyncs the WAL at each commit, so a 201 is as durable as SQLite can make it.
    db.pragma('synchronous = FULL');
    db.pragma('foreign_keys = ON');
    // A checkpoint copies each page changed since the last one back into the database file once,
    // however often it changed: at 4 000 WAL pages (16 MB with 4 KiB pages) instead of SQLite's
    // 1 000, the pages every commit touches (the newest leaf of each index) are copied a quarter as
    // often. Writer CPU per signal −15 % (the writer alone, batches of 25; p99 of bench/ingest.bench.ts
    // unchanged). The WAL file is cut back to 64 MB after a checkpoint if a long reader let it grow.
    db.pragma(`wal_autocheckpoint = ${WAL_AUTOCHECKPOINT_PAGES}`);
    db.pragma(`journal_size_limit = ${64 * 1024 * 1024}`);
  } catch (error) {
    db.close();
    throw new StoreError(`Cannot open SQLite database ${path}: it is not a usable SQLite file`, {
      cause: error,
    });
  }
  return db;
}

/** The connection's durability and locking settings, as SQLite reports them. */
export interface ConnectionSettings {
  journalMode: string;
  synchronous: string;
  busyTimeoutMs: number;
  foreignKeys: boolean;
  walAutocheckpointPages: number;
}

export function connectionSettings(db: Database.Database): ConnectionSettings {
  const read = (name: string) => db.pragma(name, { simple: true });
  const synchronous = ['off', 'normal', 'full', 'extra'][read('synchronous') as number] ?? 'unknown';
  return {
    journalMode: String(read('journal_mode')),
    synchronous,
    busyTimeoutMs: read('busy_timeout') as number,
    foreignKeys: read('foreign_keys') === 1,
    walAutocheckpointPages: read('wal_autocheckpoint') as number,
  };
}
