import type { IssuedSecret } from '@sigpost/ingest';
import { ID_PATTERNS, PREVIOUS_SECRET_KEYS_ENV } from '@sigpost/ingest/settings';
import { INSTRUMENT_PATTERN } from '@sigpost/protocol';
import { type Command, Option } from 'commander';
import { addListCommand, formatTime, printFields, withAdmin } from '../admin-session.js';
import * as args from '../args.js';
import { CommandFailedError } from '../errors.js';
import type { CliIO } from '../io.js';
import { databaseOption, dbFlag, describeLocation } from '../store-options.js';

interface StoreFlags {
  readonly db?: string;
}
interface AddOptions extends StoreFlags {
  readonly id: string;
  readonly secret?: string;
  readonly approval?: 'auto' | 'manual';
  readonly instruments?: string[];
  readonly json?: true;
}
interface RotateOptions extends StoreFlags {
  readonly id: string;
  readonly secret?: string;
  readonly json?: true;
}
interface RetireOptions extends StoreFlags {
  readonly id: string;
  readonly secretId: string;
}
interface ResealOptions extends StoreFlags {
  json?: boolean;
}

interface RemoveOptions extends StoreFlags {
  readonly id: string;
}

const SECRET_SHOWN_ONCE =
  'warning: the secret is shown once and cannot be shown again (the database keeps it encrypted); ' +
  'give it to the producer as HMAC_PRODUCER_SECRET now\n';

const STORE_HELP = `
Store (as for \`sigpost serve\`):
  --db <path>            a SQLite file (default: ./data/sigpost.db); a postgres:// URL also works
  DATABASE_URL           a postgres:// URL, used when --db is not given
  SIGPOST_DB_SCHEMA      the PostgreSQL schema of Sigpost's tables (default: the search_path)
  SIGPOST_SECRET_KEY     the key that seals producer secrets, base64 of 32 bytes; required with
                         PostgreSQL. With SQLite and no variable, the key file beside the database
                         (data/sigpost.db → data/sigpost.key) is used, created by the first \`producers add\`.
  SIGPOST_PREVIOUS_SECRET_KEYS
                         earlier keys, comma-separated, while they are being rotated out (\`producers reseal\`).`;

/** What `add` and `rotate` print: the ids, and the secret when it was generated (shown this once). */
function issuedFields(issued: IssuedSecret): Record<string, string> {
  return {
    producer_id: issued.producerId,
    secret_id: issued.secretId,
    ...(issued.generated ? { secret: issued.secret } : {}),
  };
}

/** A comma-separated list of instruments (spaces around the commas are ignored; duplicates dropped). */
export function instrumentList(flag: string): args.FlagParser<string[]> {
  return args.listOf(
    flag,
    `a comma-separated list of instruments, each ${args.INSTRUMENT_EXPECTED}`,
    (item) => INSTRUMENT_PATTERN.test(item),
    'an instrument',
  );
}

/** `sigpost producers add|list|rotate|retire-secret|reseal|remove`: the producers and secrets in the server's store. */
export function register(program: Command, io: CliIO): void {
  const producers = program
    .command('producers')
    .summary('manage the producers and their secrets')
    .description(
      "Manage the producers in the ingest server's store: add one, list them, rotate a secret with no " +
        'failed request (rotate, switch the producer over, then retire-secret), move every secret to a new ' +
        'key-encryption key (reseal), remove one.',
    )
    .addHelpText('after', STORE_HELP);

  producers
    .command('add')
    .summary('add a producer; prints its secret once')
    .description(
      'Add a producer with one secret. Without --secret, a random 32-byte secret is generated and printed ' +
        'once on stdout; the store keeps it only encrypted.',
    )
    .addOption(
      new Option('--id <producer>', 'the X-Producer-Id, 1–64 characters of A-Z a-z 0-9 . _ -')
        .argParser(args.producerId('--id'))
        .makeOptionMandatory(),
    )
    .addOption(
      new Option(
        '--secret <secret>',
        'use this secret (16–1024 bytes) instead of a generated one. A secret typed on the command line is ' +
          'kept in your shell history',
      ).argParser(args.secret('--secret')),
    )
    .addOption(
      new Option(
        '--approval <mode>',
        'auto: signals are received; manual: they wait for an operator',
      ).argParser(args.oneOf('--approval', ['auto', 'manual'])),
    )
    .addOption(
      new Option(
        '--instruments <list>',
        'allowed instruments, comma-separated (default: any); others are stored as rejected',
      ).argParser(instrumentList('--instruments')),
    )
    .addOption(databaseOption())
    .option('--json', 'print the result as one JSON object')
    .addHelpText(
      'after',
      '\nExample:\n  sigpost producers add --id desk-1 --approval manual --instruments GOLD,EUR/USD',
    )
    .action((options: AddOptions) =>
      withAdmin(
        options.db,
        io,
        { createStore: true, sealing: 'create-if-first' },
        async ({ admin, location }) => {
          const approval = options.approval ?? 'auto';
          const instruments = options.instruments ?? null;
          const issued = await admin.addProducer({
            id: options.id,
            approval,
            instruments,
            ...(options.secret === undefined ? {} : { secret: options.secret }),
          });
          printFields(io, options.json === true, issuedFields(issued));
          const allowed = instruments === null ? 'any instrument' : `instruments ${instruments.join(', ')}`;
          io.stderr.write(
            `added producer ${issued.producerId} (approval ${approval}, ${allowed}) to the ${describeLocation(location)}\n`,
          );
          if (issued.generated) io.stderr.write(SECRET_SHOWN_ONCE);
        },
      ),
    );

  addListCommand(producers, io, {
    summary: 'list the producers and their secret ids (never the secrets)',
    description:
      'List the producers: id, approval mode, allowed instruments, the ids of their active secrets and when ' +
      'they were added. A table on a terminal, tab-separated lines otherwise, or JSON with --json. ' +
      'Secrets are never shown.',
    plural: 'producers',
    read: (admin) => admin.listProducers(),
    headers: ['ID', 'APPROVAL', 'INSTRUMENTS', 'SECRET IDS', 'CREATED'],
    row: (p) => [
      p.id,
      p.approval,
      p.instruments === null ? 'any' : p.instruments.join(','),
      p.secrets.map((s) => s.id).join(','),
      formatTime(p.createdAt),
    ],
    json: (p) => ({
      id: p.id,
      approval: p.approval,
      instruments: p.instruments,
      created_at: formatTime(p.createdAt),
      secrets: p.secrets.map((s) => ({ id: s.id, created_at: formatTime(s.createdAt) })),
    }),
  });

  producers
    .command('rotate')
    .summary('add a new secret to a producer; prints it once (the old ones keep working)')
    .description(
      'Add a new active secret to a producer and print it once with its secret id. The older secrets keep ' +
        'working, so the producer can switch with no failed request; then retire the old one with ' +
        '`sigpost producers retire-secret`.',
    )
    .addOption(
      new Option('--id <producer>', 'the producer').argParser(args.producerId('--id')).makeOptionMandatory(),
    )
    .addOption(
      new Option('--secret <secret>', 'use this secret (16–1024 bytes) instead of a generated one').argParser(
        args.secret('--secret'),
      ),
    )
    .addOption(databaseOption())
    .option('--json', 'print the result as one JSON object')
    .action((options: RotateOptions) =>
      withAdmin(options.db, io, { createStore: false, sealing: 'existing' }, async ({ admin, location }) => {
        const issued = await admin.rotateSecret(options.id, options.secret);
        const older = (await admin.getProducer(options.id)).secrets.filter((s) => s.id !== issued.secretId);
        printFields(io, options.json === true, issuedFields(issued));
        const db = dbFlag(options.db, location);
        io.stderr.write(
          `added secret ${issued.secretId} to producer ${issued.producerId}; its older secrets keep working ` +
            'until retired. Once the producer uses the new one:\n' +
            older
              .map(
                (s) =>
                  `  sigpost producers retire-secret --id ${issued.producerId} --secret-id ${s.id}${db}\n`,
              )
              .join(''),
        );
        if (issued.generated) io.stderr.write(SECRET_SHOWN_ONCE);
      }),
    );

  producers
    .command('retire-secret')
    .summary('retire one secret of a producer (not its last one)')
    .description(
      'Retire one secret of a producer: requests signed with it are refused from then on (a running ' +
        'server notices within its secret cache time, SIGPOST_SECRET_CACHE_MS, 5 s by default). A ' +
        "producer's last active secret cannot be retired: rotate first.",
    )
    .addOption(
      new Option('--id <producer>', 'the producer').argParser(args.producerId('--id')).makeOptionMandatory(),
    )
    .addOption(
      new Option('--secret-id <id>', 'the secret to retire, as `producers list` shows it')
        .argParser(
          args.identifier('--secret-id', ID_PATTERNS.sec, {
            expected: 'a secret id such as sec_01JC3M5W8QXG4K2N6Y7T9B1ZAD',
            prefix: 'sec_',
            list: 'sigpost producers list',
          }),
        )
        .makeOptionMandatory(),
    )
    .addOption(databaseOption())
    .action((options: RetireOptions) =>
      withAdmin(options.db, io, { createStore: false, sealing: 'none' }, async ({ admin }) => {
        await admin.retireSecret(options.id, options.secretId);
        io.stderr.write(`retired secret ${options.secretId} of producer ${options.id}\n`);
      }),
    );

  producers
    .command('remove')
    .summary('remove a producer (its stored signals are kept)')
    .description(
      'Remove a producer and its secrets: its requests are refused from then on. Its stored signals are kept.',
    )
    .addOption(
      new Option('--id <producer>', 'the producer').argParser(args.producerId('--id')).makeOptionMandatory(),
    )
    .addOption(databaseOption())
    .action((options: RemoveOptions) =>
      withAdmin(options.db, io, { createStore: false, sealing: 'none' }, async ({ admin, location }) => {
        await admin.removeProducer(options.id);
        io.stderr.write(
          `removed producer ${options.id} from the ${describeLocation(location)}; its stored signals are kept\n`,
        );
      }),
    );

  producers
    .command('reseal')
    .summary('move every active secret to the current secret key (after changing SIGPOST_SECRET_KEY)')
    .description(
      'Rotate the key that seals producer secrets at rest. Run with the new key as SIGPOST_SECRET_KEY (or in ' +
        'the key file) and the old one in SIGPOST_PREVIOUS_SECRET_KEYS: every active secret sealed under an ' +
        'old key is opened and sealed again under the new one. Servers started with the same two variables ' +
        'keep verifying throughout; afterwards drop SIGPOST_PREVIOUS_SECRET_KEYS. Safe to run again. ' +
        'Secrets are never printed. Exit 1 if any secret could not be moved.',
    )
    .addOption(databaseOption())
    .option('--json', 'print the result as one JSON object')
    .action((options: ResealOptions) =>
      withAdmin(options.db, io, { createStore: false, sealing: 'existing' }, async ({ admin }) => {
        const report = await admin.resealSecrets();
        printFields(io, options.json === true, {
          key_id: report.keyId,
          resealed: report.resealed,
          already_current: report.alreadyCurrent,
          failed: report.failed.length,
        });
        for (const f of report.failed) {
          io.stderr.write(`could not reseal secret ${f.secretId} of producer ${f.producerId}: ${f.reason}\n`);
        }
        if (report.failed.length > 0) {
          throw new CommandFailedError(
            `${report.failed.length} secret${report.failed.length === 1 ? '' : 's'} still sealed under an earlier key; keep ${PREVIOUS_SECRET_KEYS_ENV} set until they are moved`,
          );
        }
        io.stderr.write(
          `every active secret is sealed under key ${report.keyId}; once every server runs with this key, ` +
            `${PREVIOUS_SECRET_KEYS_ENV} can be dropped\n`,
        );
      }),
    );
}
