// What `producers`, `subscribers` and `tokens` share: opening the store with `Admin` over it, turning
// the ingest package's errors into CLI errors, printing records as a table, tab-separated lines or
// JSON, and their `list` subcommand.
import type { Admin, SecretSealer, Store } from '@sigpost/ingest';
import { PREVIOUS_SECRET_KEYS_ENV, SECRET_KEY_ENV } from '@sigpost/ingest/settings';
import type { Command } from 'commander';
import { issuesUsageError } from './args.js';
import { CommandFailedError, UsageError } from './errors.js';
import type { CliIO } from './io.js';
import {
  assertKeyAvailable,
  databaseOption,
  describeLocation,
  loadSecretBox,
  openStoreAt,
  resolveStoreLocation,
  type StoreLocation,
} from './store-options.js';

/** An open store and an `Admin` over it. */
export interface AdminSession {
  readonly admin: Admin;
  readonly store: Store;
  readonly location: StoreLocation;
}

/** What a command needs from the store and the key. */
export interface SessionNeeds {
  /** Create a missing SQLite database (only commands that add something do). */
  readonly createStore: boolean;
  /**
   * `none`: the command seals no secret (no key is loaded). `existing`: load the key, never create it.
   * `create-if-first`: create the SQLite key file when the store has no producer yet.
   */
  readonly sealing: 'none' | 'existing' | 'create-if-first';
}

/** Admin input keys (`InvalidInputError.issues[].key`) and the flags that set them. */
const FLAG_OF_KEY: Readonly<Record<string, string>> = {
  id: '--id',
  secret: '--secret',
  approval: '--approval',
  instruments: '--instruments',
  secretId: '--secret-id',
  name: '--name',
};

// Commands that seal nothing still construct Admin, which wants a sealer; reaching this is a bug.
const NO_SEALING: SecretSealer = {
  seal() {
    throw new Error('this command does not seal secrets');
  },
};

/**
 * Opens the store selected by `--db`/`DATABASE_URL`, runs `fn` with an `Admin` over it, and closes
 * the store. Conflicts and unknown ids become `CommandFailedError` (exit 1) naming the store;
 * invalid input becomes a one-line `CLI_INVALID_FLAG` usage error naming the flag (exit 2).
 */
export async function withAdmin<T>(
  db: string | undefined,
  io: CliIO,
  needs: SessionNeeds,
  fn: (session: AdminSession) => Promise<T>,
): Promise<T> {
  const location = resolveStoreLocation(db, io.env);
  if (needs.sealing !== 'none') assertKeyAvailable(location, io.env);
  const ingest = await import('@sigpost/ingest');
  const store = await openStoreAt(location, {
    create: needs.createStore,
    log: (line) => io.stderr.write(line),
  });
  try {
    let sealer = NO_SEALING;
    if (needs.sealing !== 'none') {
      const producers = await store.listProducers();
      const { box, createdKeyFile } = await loadSecretBox(location, io.env, {
        create: needs.sealing === 'create-if-first' && producers.length === 0,
      });
      assertSameKey(box, producers);
      if (createdKeyFile !== undefined) {
        io.stderr.write(
          `created the secret key file ${createdKeyFile}: keep it with the database; without it the ` +
            'stored producer secrets cannot be opened\n',
        );
      }
      sealer = box;
    }
    return await fn({ admin: new ingest.Admin(store, sealer), store, location });
  } catch (error) {
    throw translate(error, location, ingest);
  } finally {
    await store.close();
  }
}

/**
 * Refuses to work with keys that cannot open the stored secrets (the current key, or an earlier one
 * in SIGPOST_PREVIOUS_SECRET_KEYS during a rotation): a secret sealed now could then not be opened
 * by the server, or the stored ones could not.
 */
export function assertSameKey(
  box: { readonly keyId: string; readonly previousKeyIds: readonly string[] },
  producers: readonly { secrets: readonly { ciphertext: string }[] }[],
): void {
  const loaded = [box.keyId, ...box.previousKeyIds];
  for (const producer of producers) {
    for (const { ciphertext } of producer.secrets) {
      const sealedWith = ciphertext.split('.')[1];
      if (sealedWith !== undefined && !loaded.includes(sealedWith)) {
        throw new CommandFailedError(
          `the loaded secret key (key id ${box.keyId}) is not the one that sealed the stored producer secrets ` +
            `(key id ${sealedWith}): check ${SECRET_KEY_ENV}, ${PREVIOUS_SECRET_KEYS_ENV} or the key file beside the database`,
        );
      }
    }
  }
}

type Ingest = typeof import('@sigpost/ingest');

function translate(error: unknown, location: StoreLocation, ingest: Ingest): unknown {
  if (error instanceof ingest.InvalidInputError) {
    // The flags are checked before the store is opened; this catches the rules only Admin knows
    // (the longest secret, the most instruments), reported like any bad flag value.
    const issue = error.issues[0];
    if (issue === undefined) return new UsageError(error.message, { cause: error });
    const flag = FLAG_OF_KEY[issue.key.replace(/\[\d+\]$/, '')] ?? issue.key;
    return issuesUsageError([{ ...issue, key: flag }], error);
  }
  if (ingest.isIngestError(error)) {
    return new CommandFailedError(`${error.message} (${describeLocation(location)})`, { cause: error });
  }
  if (ingest.isStoreError(error)) {
    return new CommandFailedError(`${describeLocation(location)} failed: ${error.message}`, { cause: error });
  }
  return error;
}

/** A time as `2025-10-25T14:30:45Z` (UTC, whole seconds). */
export function formatTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Columns padded to their widest cell, two spaces apart, with a header row. */
export function renderTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return `${[headers, ...rows].map(line).join('\n')}\n`;
}

/**
 * Prints records: `--json` as a JSON array; on a terminal as a table with a header; otherwise as
 * tab-separated lines without a header (for `cut`, `grep`, `while read`).
 */
export function printRecords(
  io: CliIO,
  options: { readonly json: boolean; readonly empty: string },
  headers: readonly string[],
  rows: readonly (readonly string[])[],
  json: unknown,
): void {
  if (options.json) {
    io.stdout.write(`${JSON.stringify(json, null, 2)}\n`);
  } else if (!io.isTTY) {
    for (const row of rows) io.stdout.write(`${row.join('\t')}\n`);
  } else if (rows.length === 0) {
    io.stderr.write(`${options.empty}\n`);
  } else {
    io.stdout.write(renderTable(headers, rows));
  }
}

/** Prints `key: value` lines, or one JSON object with `--json`. */
export function printFields(
  io: CliIO,
  json: boolean,
  fields: Readonly<Record<string, string | number>>,
): void {
  if (json) {
    io.stdout.write(`${JSON.stringify(fields)}\n`);
    return;
  }
  for (const [key, value] of Object.entries(fields)) io.stdout.write(`${key}: ${value}\n`);
}

/** A `list` subcommand over the store: what it reads and how it prints one record. */
export interface ListCommandSpec<T> {
  readonly summary: string;
  readonly description: string;
  /** What the records are, for the line printed when there are none (`producers`, `operator tokens`). */
  readonly plural: string;
  readonly read: (admin: Admin) => Promise<readonly T[]>;
  /** The table's header; `row` gives one cell per header. */
  readonly headers: readonly string[];
  readonly row: (record: T) => readonly string[];
  /** The record as an element of the `--json` array. */
  readonly json: (record: T) => unknown;
}

/**
 * Adds `list` to `parent`: `--db` and `--json`, the records as a table on a terminal, tab-separated
 * lines otherwise, or a JSON array (see `printRecords`). Nothing is created and no key is loaded.
 */
export function addListCommand<T>(parent: Command, io: CliIO, spec: ListCommandSpec<T>): void {
  parent
    .command('list')
    .summary(spec.summary)
    .description(spec.description)
    .addOption(databaseOption())
    .option('--json', 'print a JSON array')
    .action((options: { readonly db?: string; readonly json?: true }) =>
      withAdmin(options.db, io, { createStore: false, sealing: 'none' }, async ({ admin, location }) => {
        const records = await spec.read(admin);
        printRecords(
          io,
          { json: options.json === true, empty: `no ${spec.plural} in the ${describeLocation(location)}` },
          spec.headers,
          records.map(spec.row),
          records.map(spec.json),
        );
      }),
    );
}
