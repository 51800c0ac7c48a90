import type { SignalView } from '@sigpost/ingest';
import { ID_PATTERNS } from '@sigpost/ingest/settings';
import { STORED_SIGNAL_STATUSES } from '@sigpost/protocol';
import { type Command, Option } from 'commander';
import { printRecords, withAdmin } from '../admin-session.js';
import * as args from '../args.js';
import { UsageError } from '../errors.js';
import type { CliIO } from '../io.js';
import { databaseOption } from '../store-options.js';

interface ListOptions {
  readonly status?: string;
  readonly producer?: string;
  readonly instrument?: string;
  readonly from?: string;
  readonly to?: string;
  readonly limit?: number;
  readonly cursor?: string;
  readonly db?: string;
  readonly json?: true;
}
interface ShowOptions {
  readonly id: string;
  readonly db?: string;
  readonly json?: true;
}
interface DecideOptions {
  readonly id: string;
  readonly reason?: string;
  readonly note?: string;
  readonly by?: string;
  readonly db?: string;
  readonly json?: true;
}

const OPERATOR_NAME = /^[A-Za-z0-9._@ -]{1,64}$/;

const STORE_HELP = `
Store: --db <path>, DATABASE_URL and SIGPOST_DB_SCHEMA as for \`sigpost serve\`. No secret key is needed.`;

const idOption = () =>
  new Option('--id <signal>', 'the signal id (sig_…), as `signals list` shows it')
    .argParser(args.matching('--id', ID_PATTERNS.sig, 'a signal id such as sig_01JC3M5W8QXG4K2N6Y7T9B1ZAD'))
    .makeOptionMandatory();

const byOption = () =>
  new Option('--by <name>', 'who decides, recorded with the decision (default: $USER)').argParser(
    args.matching('--by', OPERATOR_NAME, '1–64 characters of letters, digits, space and . _ @ -', 'a name'),
  );

/** `sigpost signals list|show|approve|reject`: review stored signals, talking to the store directly. */
export function register(program: Command, io: CliIO): void {
  const signals = program
    .command('signals')
    .summary('list, show, approve and reject stored signals')
    .description(
      'Review the signals in the ingest server’s store: list them with filters, show one, approve or reject a ' +
        'signal pending approval. Works on the store directly (like the operator HTTP API, without a token).',
    )
    .addHelpText('after', STORE_HELP);

  signals
    .command('list')
    .summary('list signals, newest first')
    .description(
      'List signals, newest first, with filters. A table on a terminal, tab-separated lines otherwise, or JSON ' +
        '({items, next_cursor}) with --json. When more signals match, the next page’s --cursor is printed on stderr.',
    )
    .addOption(
      new Option('--status <status>', 'only this status').argParser(
        args.oneOf('--status', STORED_SIGNAL_STATUSES),
      ),
    )
    .addOption(new Option('--producer <id>', 'only this producer').argParser(args.producerId('--producer')))
    .addOption(
      new Option('--instrument <symbol>', 'only this instrument').argParser(args.instrument('--instrument')),
    )
    .addOption(
      new Option('--from <rfc3339>', 'received at or after this time').argParser(args.timestamp('--from')),
    )
    .addOption(new Option('--to <rfc3339>', 'received before this time').argParser(args.timestamp('--to')))
    .addOption(
      new Option('--limit <n>', 'page size, 1–500 (default: 50)').argParser(
        args.integerInRange('--limit', 1, 500),
      ),
    )
    .addOption(
      new Option('--cursor <cursor>', 'the next page, as printed by the previous list').argParser(
        args.matching(
          '--cursor',
          /^[A-Za-z0-9_-]{1,1400}$/,
          'the cursor printed by a previous `signals list`',
        ),
      ),
    )
    .addOption(databaseOption())
    .option('--json', 'print {items, next_cursor} as JSON')
    .addHelpText('after', '\nExample:\n  sigpost signals list --status pending_approval --limit 20')
    .action((options: ListOptions) =>
      withAdmin(options.db, io, { createStore: false, sealing: 'none' }, async ({ store }) => {
        const ingest = await import('@sigpost/ingest');
        const filter = toFilter(ingest, options);
        let page: Awaited<ReturnType<typeof store.listSignals>>;
        try {
          page = await store.listSignals(filter);
        } catch (error) {
          if (error instanceof ingest.StoreInvalidCursorError) {
            throw new UsageError(
              '--cursor expects the cursor printed by a previous `signals list`, unchanged',
              {
                code: 'CLI_INVALID_FLAG',
                cause: error,
              },
            );
          }
          throw error;
        }
        const items = page.items.map(ingest.toSignalView);
        printRecords(
          io,
          { json: options.json === true, empty: 'no signals match' },
          ['ID', 'RECEIVED', 'PRODUCER', 'INSTRUMENT', 'SIDE', 'STATUS', 'MESSAGE'],
          items.map((s) => [
            s.signal_id,
            s.received_at,
            s.producer_id,
            s.instrument,
            s.side,
            s.status,
            s.message ?? '',
          ]),
          { items, next_cursor: page.nextCursor },
        );
        if (page.nextCursor !== null && options.json !== true) {
          io.stderr.write(`more signals match: add --cursor ${page.nextCursor}\n`);
        }
      }),
    );

  signals
    .command('show')
    .summary('show one signal with its body')
    .addOption(idOption())
    .addOption(databaseOption())
    .option('--json', 'print the signal as one JSON object')
    .action((options: ShowOptions) =>
      withAdmin(options.db, io, { createStore: false, sealing: 'none' }, async ({ store }) => {
        const { getSignalView } = await import('@sigpost/ingest');
        printView(io, await getSignalView(store, options.id), options.json === true);
      }),
    );

  signals
    .command('approve')
    .summary('approve a signal pending approval')
    .addOption(idOption())
    .addOption(
      new Option('--note <text>', 'a note stored with the decision, 1–500 characters').argParser(
        args.textOfLength('--note', 1, 500),
      ),
    )
    .addOption(byOption())
    .addOption(databaseOption())
    .option('--json', 'print the decided signal as one JSON object')
    .action((options: DecideOptions) => decide(io, options, 'approved', options.note ?? null));

  signals
    .command('reject')
    .summary('reject a signal pending approval, with a reason')
    .addOption(idOption())
    .addOption(
      new Option('--reason <text>', 'why, 1–500 characters (stored as the signal’s message)')
        .argParser(args.textOfLength('--reason', 1, 500))
        .makeOptionMandatory(),
    )
    .addOption(byOption())
    .addOption(databaseOption())
    .option('--json', 'print the decided signal as one JSON object')
    .addHelpText(
      'after',
      '\nExample:\n  sigpost signals reject --id sig_01JC3M5W8QXG4K2N6Y7T9B1ZAD --reason "stale price"',
    )
    .action((options: DecideOptions) => decide(io, options, 'rejected', options.reason ?? null));
}

type Ingest = typeof import('@sigpost/ingest');

function toFilter(ingest: Ingest, options: ListOptions) {
  const query: Record<string, string> = {};
  for (const key of ['status', 'producer', 'instrument', 'from', 'to', 'cursor'] as const) {
    const value = options[key];
    if (value !== undefined) query[key] = value;
  }
  if (options.limit !== undefined) query.limit = String(options.limit);
  try {
    return ingest.parseSignalQuery(query, (key) => `--${key}`);
  } catch (error) {
    if (error instanceof ingest.InvalidInputError && error.issues[0]) {
      throw args.issuesUsageError([error.issues[0]], error);
    }
    throw error;
  }
}

async function decide(
  io: CliIO,
  options: DecideOptions,
  decision: 'approved' | 'rejected',
  message: string | null,
): Promise<void> {
  const by = `cli:${options.by ?? operatorFromEnv(io.env)}`;
  await withAdmin(options.db, io, { createStore: false, sealing: 'none' }, async ({ store }) => {
    const { decideSignal, systemClock } = await import('@sigpost/ingest');
    const view = await decideSignal(store, systemClock, options.id, decision, by, message, 'cli');
    if (options.json === true) printView(io, view, true);
    else io.stderr.write(`${decision === 'approved' ? 'approved' : 'rejected'} signal ${view.signal_id}\n`);
  });
}

function operatorFromEnv(env: Readonly<Record<string, string | undefined>>): string {
  const user = env.USER ?? env.USERNAME ?? '';
  return OPERATOR_NAME.test(user) ? user : 'unknown';
}

function printView(io: CliIO, view: SignalView, json: boolean): void {
  if (json) {
    io.stdout.write(`${JSON.stringify(view)}\n`);
    return;
  }
  const fields: [string, string][] = [
    ['signal_id', view.signal_id],
    ['producer_id', view.producer_id],
    ['idempotency_key', view.idempotency_key ?? ''],
    ['instrument', view.instrument],
    ['side', view.side],
    ['status', view.status],
    ['message', view.message ?? ''],
    ['received_at', view.received_at],
    ['decided_at', view.decided_at ?? ''],
    ['decided_by', view.decided_by ?? ''],
    // A body that cannot be shown as JSON (a row from an older release over the body limits) is
    // printed as stored, after the reason.
    ...(view.signal_issue === undefined
      ? ([['signal', JSON.stringify(view.signal)]] as [string, string][])
      : ([
          ['signal_issue', view.signal_issue],
          ['signal', String(view.signal)],
        ] as [string, string][])),
  ];
  for (const [key, value] of fields) io.stdout.write(`${key}: ${value}\n`);
}
