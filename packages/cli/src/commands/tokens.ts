import { ID_PATTERNS, TOKEN_NAME_PATTERN } from '@sigpost/ingest/settings';
import { type Command, Option } from 'commander';
import { addListCommand, formatTime, printFields, withAdmin } from '../admin-session.js';
import * as args from '../args.js';
import type { CliIO } from '../io.js';
import { databaseOption, describeLocation } from '../store-options.js';

interface CreateOptions {
  readonly name: string;
  readonly db?: string;
  readonly json?: true;
}
interface RevokeOptions {
  readonly id: string;
  readonly db?: string;
}

const TOKEN_NAME_EXPECTED = '1–64 characters of letters, digits, space and . _ @ -';

/**
 * The mandatory `--name` of `tokens create` and `subscribers create`, checked with the ingest
 * settings' `TOKEN_NAME_PATTERN` (the one `Admin` applies); `what` names it in errors.
 */
export function tokenNameOption(what: string): Option {
  return new Option('--name <name>', `who or what uses the token, ${TOKEN_NAME_EXPECTED}`)
    .argParser(args.matching('--name', TOKEN_NAME_PATTERN, TOKEN_NAME_EXPECTED, what))
    .makeOptionMandatory();
}

/** Printed on stderr after a new token is printed. */
export const TOKEN_SHOWN_ONCE =
  'warning: the token is shown once and cannot be shown again (the database keeps only its SHA-256); ' +
  'store it now\n';

const STORE_HELP = `
Store: --db <path>, DATABASE_URL and SIGPOST_DB_SCHEMA as for \`sigpost serve\` (see \`sigpost producers --help\`).
Tokens are stored as SHA-256 hashes: no secret key is needed.`;

/** `sigpost tokens create|list|revoke`: bearer tokens of the operator HTTP API. */
export function register(program: Command, io: CliIO): void {
  const tokens = program
    .command('tokens')
    .summary('manage the bearer tokens of the operator API')
    .description(
      'Manage the bearer tokens of the operator HTTP API (/api/v1/operator): create one (shown once), list ' +
        'them, revoke one.',
    )
    .addHelpText('after', STORE_HELP);

  tokens
    .command('create')
    .summary('create an operator token; prints it once')
    .description(
      'Create an operator token and print it once on stdout. The store keeps only its SHA-256. Send it as ' +
        '`Authorization: Bearer <token>`.',
    )
    .addOption(tokenNameOption('a token name'))
    .addOption(databaseOption())
    .option('--json', 'print the result as one JSON object')
    .addHelpText('after', '\nExample:\n  sigpost tokens create --name "ops console"')
    .action((options: CreateOptions) =>
      withAdmin(options.db, io, { createStore: true, sealing: 'none' }, async ({ admin, location }) => {
        const issued = await admin.createToken(options.name);
        printFields(io, options.json === true, {
          token_id: issued.id,
          name: issued.name,
          token: issued.token,
        });
        io.stderr.write(
          `created an operator token (id ${issued.id}) in the ${describeLocation(location)}; the bearer is the "token" value, not the id\n`,
        );
        io.stderr.write(TOKEN_SHOWN_ONCE);
      }),
    );

  addListCommand(tokens, io, {
    summary: 'list the operator tokens (never the tokens themselves)',
    description:
      'List the operator tokens: id, name, when created. A table on a terminal, tab-separated lines ' +
      'otherwise, or JSON with --json.',
    plural: 'operator tokens',
    read: (admin) => admin.listTokens(),
    headers: ['ID', 'NAME', 'CREATED'],
    row: (t) => [t.id, t.name, formatTime(t.createdAt)],
    json: (t) => ({ id: t.id, name: t.name, created_at: formatTime(t.createdAt) }),
  });

  tokens
    .command('revoke')
    .summary('revoke an operator token')
    .description('Revoke an operator token: requests bearing it are refused from then on.')
    .addOption(
      new Option('--id <id>', 'the token id, as `tokens list` shows it')
        .argParser(
          args.identifier('--id', ID_PATTERNS.tok, {
            expected: 'a token id such as tok_01JC3M5W8QXG4K2N6Y7T9B1ZAD',
            prefix: 'tok_',
            list: 'sigpost tokens list',
          }),
        )
        .makeOptionMandatory(),
    )
    .addOption(databaseOption())
    .action((options: RevokeOptions) =>
      withAdmin(options.db, io, { createStore: false, sealing: 'none' }, async ({ admin }) => {
        await admin.revokeToken(options.id);
        io.stderr.write(`revoked the operator token with id ${options.id}\n`);
      }),
    );
}
