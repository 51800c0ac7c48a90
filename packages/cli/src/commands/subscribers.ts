import { ID_PATTERNS } from '@sigpost/ingest/settings';
import { STORED_SIGNAL_STATUSES } from '@sigpost/protocol';
import { type Command, Option } from 'commander';
import { addListCommand, formatTime, printFields, withAdmin } from '../admin-session.js';
import * as args from '../args.js';
import type { CliIO } from '../io.js';
import { databaseOption, describeLocation } from '../store-options.js';
import { TOKEN_SHOWN_ONCE, tokenNameOption } from './tokens.js';

interface CreateOptions {
  readonly name: string;
  readonly producers?: string[];
  readonly statuses?: string[];
  readonly db?: string;
  readonly json?: true;
}
interface RevokeOptions {
  readonly id: string;
  readonly db?: string;
}

const STORE_HELP = `
Store: --db <path>, DATABASE_URL and SIGPOST_DB_SCHEMA as for \`sigpost serve\` (see \`sigpost producers --help\`).
Tokens are stored as SHA-256 hashes: no secret key is needed. The stream protocol is in docs/stream.md.`;

const scopeText = (items: readonly string[] | null) => (items === null ? 'all' : items.join(','));

/** `sigpost subscribers create|list|revoke`: tokens of the live stream (GET /api/v1/stream). */
export function register(program: Command, io: CliIO): void {
  const subscribers = program
    .command('subscribers')
    .summary('manage the tokens of the live stream')
    .description(
      'Manage the subscriber tokens of the live stream (GET /api/v1/stream, WebSocket): create one with a ' +
        'scope (shown once), list them, revoke one (its open connections are closed within seconds).',
    )
    .addHelpText('after', STORE_HELP);

  subscribers
    .command('create')
    .summary('create a subscriber token; prints it once')
    .description(
      'Create a subscriber token and print it once on stdout. The store keeps only its SHA-256. The ' +
        'subscriber sees only the events of --producers and --statuses (default: all).',
    )
    .addOption(tokenNameOption('a subscriber name'))
    .addOption(
      new Option('--producers <list>', 'producer ids it may see, comma-separated (default: all)').argParser(
        args.producerIdList('--producers'),
      ),
    )
    .addOption(
      new Option(
        '--statuses <list>',
        `statuses it may see, comma-separated, among ${STORED_SIGNAL_STATUSES.join(', ')} (default: all)`,
      ).argParser(args.statusList('--statuses')),
    )
    .addOption(databaseOption())
    .option('--json', 'print the result as one JSON object ({"id", "token", …})')
    .addHelpText(
      'after',
      '\nExample:\n  sigpost subscribers create --name exec-bot --producers desk-1 --statuses approved,received',
    )
    .action((options: CreateOptions) =>
      withAdmin(options.db, io, { createStore: true, sealing: 'none' }, async ({ admin, location }) => {
        const issued = await admin.createSubscriber({
          name: options.name,
          producers: options.producers ?? null,
          statuses: options.statuses ?? null,
        });
        printFields(io, options.json === true, {
          id: issued.id,
          name: issued.name,
          token: issued.token,
          producers: scopeText(issued.producers),
          statuses: scopeText(issued.statuses),
        });
        io.stderr.write(`created subscriber ${issued.id} in the ${describeLocation(location)}\n`);
        io.stderr.write(TOKEN_SHOWN_ONCE);
      }),
    );

  addListCommand(subscribers, io, {
    summary: 'list the subscribers (never their tokens)',
    description:
      'List the subscribers: id, name, scope, when created, when revoked. A table on a terminal, ' +
      'tab-separated lines otherwise, or JSON with --json.',
    plural: 'subscribers',
    read: (admin) => admin.listSubscribers(),
    headers: ['ID', 'NAME', 'PRODUCERS', 'STATUSES', 'CREATED', 'REVOKED'],
    row: (s) => [
      s.id,
      s.name,
      scopeText(s.producers),
      scopeText(s.statuses),
      formatTime(s.createdAt),
      s.revokedAt === null ? '-' : formatTime(s.revokedAt),
    ],
    json: (s) => ({
      id: s.id,
      name: s.name,
      producers: s.producers,
      statuses: s.statuses,
      created_at: formatTime(s.createdAt),
      revoked_at: s.revokedAt === null ? null : formatTime(s.revokedAt),
    }),
  });

  subscribers
    .command('revoke')
    .summary('revoke a subscriber token')
    .description(
      'Revoke a subscriber token: new connections with it are refused, and its open stream connections are ' +
        'closed (code 4403) within seconds.',
    )
    .addOption(
      new Option('--id <id>', 'the subscriber id, as `subscribers list` shows it')
        .argParser(
          args.matching('--id', ID_PATTERNS.sub, 'a subscriber id such as sub_01JC3M5W8QXG4K2N6Y7T9B1ZAD'),
        )
        .makeOptionMandatory(),
    )
    .addOption(databaseOption())
    .action((options: RevokeOptions) =>
      withAdmin(options.db, io, { createStore: false, sealing: 'none' }, async ({ admin }) => {
        await admin.revokeSubscriber(options.id);
        io.stderr.write(`revoked subscriber ${options.id}\n`);
      }),
    );
}
