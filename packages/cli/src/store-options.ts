// Where the ingest server's state lives, chosen the same way by every command that opens it (`serve`,
// `producers`, `tokens`, `signals`):
//
// - the store: `--db <path>` (a SQLite file; a postgres:// URL is also taken), else `DATABASE_URL`
//   (a postgres:// URL), else ./data/sigpost.db. `SIGPOST_DB_SCHEMA` picks the PostgreSQL schema.
// - the key that seals producer secrets at rest (see `SecretBox` in @sigpost/ingest):
//   `SIGPOST_SECRET_KEY` when set; else, for SQLite only, the key file beside the database
//   (data/sigpost.db → data/sigpost.key). PostgreSQL needs the variable: several servers share the
//   database, so the key cannot be a file that one of them creates.
//
// `@sigpost/ingest` is imported lazily, so commands that do not open the store do not load the server.
import { existsSync, statSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import type { SecretBox, Store } from '@sigpost/ingest';
import { SCHEMA_PATTERN, SECRET_KEY_ENV } from '@sigpost/ingest/settings';
import { Option } from 'commander';
import { type FlagParser, FlagValueError, quote } from './args.js';
import { CommandFailedError, UsageError } from './errors.js';

/** The SQLite file used when neither `--db` nor `DATABASE_URL` is given (relative to the working directory). */
export const DEFAULT_DB_PATH = './data/sigpost.db';
/** Environment variable naming a PostgreSQL database (`postgres://user@host:5432/sigpost`). */
export const DATABASE_URL_ENV = 'DATABASE_URL';
/** Environment variable naming the PostgreSQL schema of Sigpost's tables (default: the search_path). */
export const DB_SCHEMA_ENV = 'SIGPOST_DB_SCHEMA';

const POSTGRES_URL = /^postgres(ql)?:\/\//i;
const MAX_PATH_CHARS = 4096;

type Env = Readonly<Record<string, string | undefined>>;

/** Where the store is: a SQLite file with its key file, or a PostgreSQL database. */
export type StoreLocation =
  | { readonly kind: 'sqlite'; readonly path: string; readonly keyFile: string }
  | { readonly kind: 'postgres'; readonly url: string; readonly schema: string | undefined };

/**
 * The `--db <path>` option, with its parser.
 * @example
 * program.command('serve').addOption(databaseOption());
 */
export function databaseOption(): Option {
  return new Option(
    '--db <path>',
    `SQLite database file, or a postgres:// URL (default: $${DATABASE_URL_ENV}, else ${DEFAULT_DB_PATH})`,
  ).argParser(databasePath('--db'));
}

/** A SQLite file path (that is not a directory) or a postgres:// URL. */
export function databasePath(flag: string): FlagParser<string> {
  const expected = 'a SQLite file path or a postgres:// URL';
  return (value) => {
    if (value === '' || value.length > MAX_PATH_CHARS || value.includes('\0')) {
      throw new FlagValueError(
        flag,
        expected,
        value.length > 40 ? `${value.length} characters` : quote(value),
      );
    }
    if (POSTGRES_URL.test(value)) return value;
    if (existsSync(value) && statSync(value).isDirectory()) {
      // A path is shown whole (it is not a secret, and a shortened one is no help).
      throw new FlagValueError(flag, expected, `${JSON.stringify(value)} (a directory)`);
    }
    return value;
  };
}

/**
 * Resolves the store from `--db` and the environment (see the top of this file).
 * @example
 * const location = resolveStoreLocation(options.db, io.env);
 */
export function resolveStoreLocation(db: string | undefined, env: Env): StoreLocation {
  const fromEnv = env[DATABASE_URL_ENV];
  const target = db ?? (fromEnv !== undefined && fromEnv !== '' ? fromEnv : undefined);
  if (target === undefined) return sqlite(DEFAULT_DB_PATH);
  if (POSTGRES_URL.test(target)) return { kind: 'postgres', url: target, schema: schemaOf(env) };
  if (db === undefined) {
    // The URL may carry a password: name its scheme only.
    const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(target)?.[1];
    throw new FlagValueError(
      DATABASE_URL_ENV,
      'a postgres:// or postgresql:// URL',
      scheme === undefined ? 'text that is not a URL' : `a ${scheme}: URL`,
    );
  }
  return sqlite(db);
}

function sqlite(path: string): StoreLocation {
  return { kind: 'sqlite', path, keyFile: keyFileFor(path) };
}

function schemaOf(env: Env): string | undefined {
  const schema = env[DB_SCHEMA_ENV];
  if (schema === undefined || schema === '') return undefined;
  if (!SCHEMA_PATTERN.test(schema)) {
    throw new FlagValueError(
      DB_SCHEMA_ENV,
      '1–63 lowercase letters, digits or _, not starting with a digit',
      quote(schema),
    );
  }
  return schema;
}

/**
 * The key file beside a SQLite database: its name with the extension replaced by `.key`.
 * @example
 * keyFileFor('./data/sigpost.db'); // 'data/sigpost.key'
 */
export function keyFileFor(dbPath: string): string {
  const name = basename(dbPath);
  const stem = extname(name) === '' ? name : name.slice(0, -extname(name).length);
  return join(dirname(dbPath), `${stem}.key`);
}

/** A value as a shell word: as is when it is plain, else single-quoted. */
export function shellWord(value: string): string {
  return /^[A-Za-z0-9_./:@%+=-]+$/.test(value) ? value : `'${value.replaceAll("'", `'\\''`)}'`;
}

/**
 * The `--db` a command printed for the user to run must carry, so that it opens the same store: the
 * `--db` this command was given (a SQLite path, shell-quoted), or nothing when the store came from the
 * environment or the default (the printed command finds it the same way). A PostgreSQL URL given as
 * `--db` may hold a password, so it is named, not printed.
 *
 * @example `sigpost producers rotate --id <producer>${dbFlag(options.db, location)}`
 */
export function dbFlag(db: string | undefined, location: StoreLocation): string {
  if (db === undefined) return '';
  return location.kind === 'sqlite' ? ` --db ${shellWord(db)}` : ' --db <the same postgres:// URL>';
}

/** The store in words, for messages: the SQLite path, or the PostgreSQL host, port and database (never a password). */
export function describeLocation(location: StoreLocation): string {
  if (location.kind === 'sqlite') return `SQLite database ${location.path}`;
  let where = '<unparseable URL>';
  try {
    const url = new URL(location.url);
    where = `${url.hostname || 'localhost'}:${url.port || '5432'}${url.pathname}`;
  } catch {
    // Keep the placeholder: the URL text itself may hold a password.
  }
  return `PostgreSQL database ${where}${location.schema === undefined ? '' : ` (schema ${location.schema})`}`;
}

/**
 * Opens (and migrates) the store. With `create: false`, a SQLite file that does not exist is an
 * error rather than a new empty database, so that a mistyped `--db` is noticed.
 */
export async function openStoreAt(
  location: StoreLocation,
  options: { create: boolean; log?: (line: string) => void },
): Promise<Store> {
  if (location.kind === 'sqlite' && !options.create && !existsSync(location.path)) {
    throw new CommandFailedError(
      `no Sigpost database at ${location.path}: give --db <path> or set ${DATABASE_URL_ENV} ` +
        '(`sigpost producers add` creates one)',
    );
  }
  const { openStore } = await import('@sigpost/ingest');
  // A schema upgrade can take a while on a large database (SQLite schema 2 copies the signals table).
  let upgradeStarted: number | undefined;
  const onUpgrade = (from: number, to: number) => {
    upgradeStarted = performance.now();
    options.log?.(
      `upgrading the ${describeLocation(location)} from schema ${from} to ${to}; on a large database this takes a while…\n`,
    );
  };
  try {
    const store =
      location.kind === 'sqlite'
        ? await openStore({ dbPath: location.path, onUpgrade })
        : await openStore({
            databaseUrl: location.url,
            ...(location.schema === undefined ? {} : { schema: location.schema }),
            onUpgrade,
          });
    if (upgradeStarted !== undefined) {
      const seconds = (performance.now() - upgradeStarted) / 1000;
      options.log?.(`schema upgraded in ${seconds.toFixed(1)} s\n`);
    }
    return store;
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new CommandFailedError(`cannot open the ${describeLocation(location)}: ${reason}`, {
      cause: error,
    });
  }
}

/**
 * Throws `UsageError` when the store is PostgreSQL and `SIGPOST_SECRET_KEY` is not set; call it before
 * connecting, so that the mistake is reported at once.
 */
export function assertKeyAvailable(location: StoreLocation, env: Env): void {
  const fromEnv = env[SECRET_KEY_ENV];
  if (location.kind === 'postgres' && (fromEnv === undefined || fromEnv.trim() === ''))
    throw missingKeyError();
}

function missingKeyError(): UsageError {
  return new UsageError(
    `${SECRET_KEY_ENV} is not set: a PostgreSQL store needs the key that seals producer secrets in ` +
      'this variable, the same on every server (base64 of 32 bytes: `openssl rand -base64 32`)',
  );
}

/** A loaded `SecretBox`, and the key file created for it (when one was). */
export interface LoadedSecretBox {
  readonly box: SecretBox;
  readonly createdKeyFile: string | undefined;
}

/**
 * Loads the key that seals producer secrets (see the top of this file). With `create: true`, a
 * missing SQLite key file is created with a fresh random key (mode 0600).
 * Throws `UsageError` for a bad `SIGPOST_SECRET_KEY` (or a missing one with PostgreSQL) and
 * `CommandFailedError` for a key file that is missing, unreadable or readable by others.
 */
export async function loadSecretBox(
  location: StoreLocation,
  env: Env,
  options: { create: boolean },
): Promise<LoadedSecretBox> {
  const { SecretBox, isSecretBoxError } = await import('@sigpost/ingest');
  const fromEnv = env[SECRET_KEY_ENV];
  if (fromEnv !== undefined && fromEnv.trim() !== '') {
    try {
      return { box: SecretBox.fromEnv(env), createdKeyFile: undefined };
    } catch (error) {
      // A malformed variable is a configuration mistake: exit 2, like a bad flag.
      if (isSecretBoxError(error)) throw new UsageError(error.message, { cause: error });
      throw error;
    }
  }
  if (location.kind === 'postgres') throw missingKeyError();
  const created = options.create && !existsSync(location.keyFile);
  try {
    const file = SecretBox.fromKeyFile(location.keyFile, { create: options.create });
    let box: typeof file;
    try {
      box = file.withPreviousKeysFromEnv(env);
    } catch (error) {
      if (isSecretBoxError(error)) throw new UsageError(error.message, { cause: error });
      throw error;
    }
    return { box, createdKeyFile: created ? location.keyFile : undefined };
  } catch (error) {
    if (isSecretBoxError(error)) throw new CommandFailedError(error.message, { cause: error });
    throw error;
  }
}
