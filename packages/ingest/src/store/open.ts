import { SqliteStore } from './sqlite.js';
import type { Store } from './store.js';

/** Options of `openStore`. */
export interface OpenStoreOptions {
  /** SQLite file (its directory is created). Used when no PostgreSQL URL is given. */
  readonly dbPath?: string;
  /** `postgres://…` or `postgresql://…`: use PostgreSQL. Wins over `dbPath`. */
  readonly databaseUrl?: string;
  /** PostgreSQL schema holding Sigpost's tables (see `PostgresStoreOptions.schema`). */
  readonly schema?: string;
  /** Announces a schema upgrade of an existing database before it runs (see `MigrateOptions`). */
  readonly onUpgrade?: (from: number, to: number) => void;
}

const POSTGRES_URL = /^postgres(ql)?:\/\//i;

/**
 * Opens the configured store and applies pending migrations. PostgreSQL when `databaseUrl` is set
 * (or `dbPath` is a postgres:// URL), else SQLite at `dbPath`. `pg` is loaded only for PostgreSQL.
 * Throws StoreUnavailableError, naming host:port (never the password), when PostgreSQL cannot be reached.
 *
 * @example
 * const store = await openStore({ dbPath: './data/sigpost.db' });
 * const shared = await openStore({ databaseUrl: 'postgres://sigpost@db:5432/sigpost' });
 */
export async function openStore(options: OpenStoreOptions): Promise<Store> {
  const url = options.databaseUrl ?? (POSTGRES_URL.test(options.dbPath ?? '') ? options.dbPath : undefined);
  let store: Store;
  if (url !== undefined) {
    if (!POSTGRES_URL.test(url)) {
      throw new TypeError('Expected `databaseUrl` to start with postgres:// or postgresql://');
    }
    const { PostgresStore } = await import('./postgres.js');
    store = new PostgresStore(
      options.schema === undefined
        ? { connectionString: url }
        : { connectionString: url, schema: options.schema },
    );
  } else if (options.dbPath !== undefined && options.dbPath !== '') {
    store = new SqliteStore({ path: options.dbPath });
  } else {
    throw new TypeError('Expected `dbPath` (a SQLite file) or `databaseUrl` (a postgres:// URL)');
  }
  try {
    await store.migrate(options.onUpgrade === undefined ? {} : { onUpgrade: options.onUpgrade });
  } catch (error) {
    await store.close().catch(() => {});
    throw error;
  }
  return store;
}
