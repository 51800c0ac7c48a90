// `sigpost outbox`: the producer's durable outbox (@sigpost/outbound/outbox) from the command line.
// The SDK, SQLite, pino and node:http are imported inside the actions, so other commands never load them.
import type { Server } from 'node:http';
import type { TelegramAlertSink } from '@sigpost/outbound/alerts';
import type {
  DeliveryStateChange,
  OutboundMetrics,
  Outbox,
  OutboxEntry,
  OutboxStatus,
} from '@sigpost/outbound/outbox';
import type { SignalCandidate } from '@sigpost/protocol';
import { type Command, Option } from 'commander';
import * as args from '../args.js';
import { CommandFailedError } from '../errors.js';
import { type CliIO, nowOf } from '../io.js';
import type { Line } from '../lines.js';
import type { ProgressBar } from '../progress.js';

/** The outbox file used when `--db` is not given (relative to the working directory). */
export const DEFAULT_OUTBOX_PATH = './data/outbox.db';

const DEFAULT_CONCURRENCY = 8;
/** Signals per transaction when enqueueing a file: a crash loses at most the batch being written. */
const ENQUEUE_BATCH = 500;
/** Problems listed when a file is refused; the rest are counted. */
const MAX_LISTED_PROBLEMS = 20;

const ENV_HELP = `
Environment:
  HMAC_PRODUCER_SECRET, PRODUCER_ID, ...  the producer config, read by drain (see \`sigpost send --help\`)
  SIGPOST_TELEGRAM_BOT_TOKEN              Telegram bot token: alerts on dead-letters and persistent failures
  SIGPOST_TELEGRAM_CHAT_ID                the chat the alerts go to (set both, or neither)
  SIGPOST_TELEGRAM_API_URL                Bot API base URL (default: https://api.telegram.org)
  SIGPOST_LOG_LEVEL                       JSON logs on stderr: fatal, error, warn, info, debug, trace,
                                          silent (default: silent; set warn or info for a drain --watch)

Examples:
  sigpost outbox enqueue --file signals.jsonl
  sigpost outbox drain --concurrency 16 --preserve-order --metrics-port 9464
  sigpost outbox drain --now          # the server is back: do not wait out the retries' backoff
  sigpost outbox status
  sigpost outbox dead && sigpost outbox retry-dead`;

interface DbOptions {
  db?: string;
}

interface DrainFlags extends DbOptions {
  concurrency?: number;
  preserveOrder?: boolean;
  metricsPort?: number;
  watch?: boolean;
  now?: boolean;
}

/** `sigpost outbox …`: enqueue, drain, status, dead, retry-dead. */
export function register(program: Command, io: CliIO): void {
  const dbOption = () =>
    new Option('--db <path>', `the outbox file (default: ${DEFAULT_OUTBOX_PATH})`).argParser(
      args.textOfLength('--db', 1, 4096),
    );
  const json = () => new Option('--json', 'print JSON instead of text');

  const outbox = program
    .command('outbox')
    .summary('durable outbox: enqueue signals, drain them to the server, inspect and retry')
    .description(
      'A SQLite file that holds signals from the moment they are enqueued until the ingest server has ' +
        'accepted them, across crashes and outages. Each signal keeps one idempotency key, so the server ' +
        'stores it exactly once however often it is sent.',
    )
    .addHelpText('after', ENV_HELP);

  outbox
    .command('enqueue')
    .summary('store the signals of a JSON Lines file in the outbox')
    .description(
      'Validate every line of --file (one signal per line, optional "idempotency_key" field), then store ' +
        `them durably, ${ENQUEUE_BATCH} per transaction. Nothing is stored when a line is invalid. Prints ` +
        'one JSON line per signal: {"line", "id", "idempotency_key", "duplicate"}.',
    )
    .addOption(
      new Option('--file <path>', 'JSON Lines file of signals')
        .argParser(args.readableFile('--file'))
        .makeOptionMandatory(),
    )
    .addOption(dbOption())
    .action(async (options: DbOptions & { file: string }) => {
      await enqueueFile(io, options.db ?? DEFAULT_OUTBOX_PATH, options.file);
    });

  outbox
    .command('drain')
    .summary('deliver the pending signals to the ingest server')
    .description(
      'Deliver every pending entry through the producer config of the environment, retrying with ' +
        'backoff, until none is left (or, with --watch, until interrupted). Draws a progress bar on a ' +
        'terminal and prints a summary; exits 1 when an entry was moved to dead-letter. When the server ' +
        'cannot be reached, says so once (and again once it is back), not at every attempt. Interrupting ' +
        'is safe: entries in flight go back to pending. Without --watch, the outbox file must exist.',
    )
    .addOption(dbOption())
    .addOption(
      new Option('--concurrency <n>', `requests in flight (default: ${DEFAULT_CONCURRENCY})`).argParser(
        args.integerInRange('--concurrency', 1, 256),
      ),
    )
    .addOption(
      new Option(
        '--preserve-order',
        'deliver each instrument in enqueue order, one request at a time per instrument',
      ),
    )
    .addOption(
      new Option(
        '--metrics-port <port>',
        'serve Prometheus metrics on http://127.0.0.1:<port>/metrics',
      ).argParser(args.integerInRange('--metrics-port', 0, 65_535)),
    )
    .addOption(new Option('--watch', 'keep running and deliver new entries as they come, until interrupted'))
    .addOption(
      new Option(
        '--now',
        "send at once the entries waiting for a retry's backoff (after an outage), instead of when it ends",
      ),
    )
    .addHelpText('after', ENV_HELP)
    .action(async (options: DrainFlags) => {
      const stop = new AbortController();
      const onSignal = () => stop.abort();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      try {
        await drainOutbox(io, options, stop.signal);
      } finally {
        process.removeListener('SIGINT', onSignal);
        process.removeListener('SIGTERM', onSignal);
      }
    });

  outbox
    .command('status')
    .summary('count the entries per state, the oldest pending age and when the next attempt is due')
    .description(
      'Count the entries per state, and show the age of the oldest entry not yet delivered, when the ' +
        "soonest pending entry is due, and how many pending entries wait for a retry's backoff. " +
        'The outbox file must exist.',
    )
    .addOption(dbOption())
    .addOption(json())
    .action(async (options: DbOptions & { json?: boolean }) => {
      const { formatDuration } = await import('../progress.js');
      const now = nowOf(io);
      await withOutbox(
        io,
        options.db,
        (box) => {
          const status = box.status();
          if (options.json) {
            io.stdout.write(`${JSON.stringify(status)}\n`);
            return;
          }
          const oldest = status.oldestPendingAgeMs === null ? '–' : formatDuration(status.oldestPendingAgeMs);
          const waiting =
            status.waiting === 0
              ? '0'
              : `${status.waiting} (for a retry's backoff; \`sigpost outbox drain --now\` sends them at once)`;
          io.stdout.write(
            [
              `pending          ${status.pending}`,
              `in flight        ${status.inFlight}`,
              `delivered        ${status.delivered}`,
              `dead             ${status.dead}`,
              `oldest pending   ${oldest}`,
              `next attempt     ${nextAttemptText(status, now, formatDuration)}`,
              `waiting          ${waiting}`,
              '',
            ].join('\n'),
          );
        },
        { create: false, clock: () => now },
      );
    });

  outbox
    .command('dead')
    .summary('list the dead-letter entries with their last error')
    .description(
      'List the dead-letter entries, oldest first, with their last error. The outbox file must exist.',
    )
    .addOption(dbOption())
    .addOption(
      new Option('--limit <n>', 'list at most n entries (default: 100)').argParser(
        args.integerInRange('--limit', 1, 100_000),
      ),
    )
    .addOption(json())
    .action(async (options: DbOptions & { limit?: number; json?: boolean }) => {
      await withOutbox(
        io,
        options.db,
        (box) => {
          const entries = box.dead({ limit: options.limit ?? 100 });
          for (const entry of entries)
            io.stdout.write(`${options.json ? deadJson(entry) : deadText(entry)}\n`);
          if (!options.json) {
            const total = box.status().dead;
            const more = total > entries.length ? ` (${total - entries.length} more not listed)` : '';
            io.stderr.write(`${total} dead ${total === 1 ? 'entry' : 'entries'}${more}\n`);
          }
        },
        { create: false },
      );
    });

  outbox
    .command('retry-dead')
    .summary('move dead-letter entries back to pending (all, or --id)')
    .description(
      'Move dead-letter entries back to pending with their attempts reset: all of them, or those of --id. ' +
        'An --id that is not a dead entry fails the command (exit 1) and nothing is moved. The outbox ' +
        'file must exist.',
    )
    .addOption(dbOption())
    .addOption(
      new Option('--id <id...>', 'only these entry ids').argParser(
        (value: string, previous: number[] = []) => [
          ...previous,
          args.integerInRange('--id', 1, Number.MAX_SAFE_INTEGER)(value),
        ],
      ),
    )
    .action(async (options: DbOptions & { id?: number[] }) => {
      await withOutbox(
        io,
        options.db,
        (box) => {
          const problems = [...new Set(options.id ?? [])].flatMap((id) => {
            const entry = box.get(id);
            if (entry === undefined) return [`entry ${id} does not exist`];
            return entry.state === 'dead'
              ? []
              : [`entry ${id} is ${entry.state.replace('_', ' ')}, not dead`];
          });
          if (problems.length > 0) {
            throw new CommandFailedError(
              `${problems.join('; ')} in ${box.path}; nothing was moved (\`sigpost outbox dead\` lists the dead entries)`,
            );
          }
          const moved = box.retryDead(options.id);
          io.stdout.write(
            `moved ${moved} dead ${moved === 1 ? 'entry' : 'entries'} back to pending; run \`sigpost outbox drain\` to deliver\n`,
          );
        },
        { create: false },
      );
    });
}

interface OpenOptions {
  readonly metrics?: OutboundMetrics | undefined;
  /** False: a missing file is refused (exit 1) rather than created empty, so a mistyped --db is noticed. */
  readonly create: boolean;
  readonly clock?: () => number;
}

/** Opens the outbox, runs `fn`, closes it; an outbox error becomes a `CommandFailedError` (exit 1). */
async function withOutbox<T>(
  io: CliIO,
  path: string | undefined,
  fn: (outbox: Outbox) => T | Promise<T>,
  options: OpenOptions,
): Promise<T> {
  const { Outbox, isOutboxError } = await import('@sigpost/outbound/outbox');
  const { createLogger } = await import('../delivery.js');
  const logger = createLogger(io);
  let box: Outbox;
  try {
    box = Outbox.open(path ?? DEFAULT_OUTBOX_PATH, {
      logger,
      create: options.create,
      ...(options.metrics === undefined ? {} : { metrics: options.metrics }),
      ...(options.clock === undefined ? {} : { clock: options.clock }),
    });
  } catch (error) {
    if (isOutboxError(error) && error.code === 'OUTBOX_NOT_FOUND') {
      throw new CommandFailedError(
        `no outbox at ${error.path}: give --db <path> of an existing outbox (default ${DEFAULT_OUTBOX_PATH}; ` +
          '`sigpost outbox enqueue` creates one)',
        { cause: error },
      );
    }
    if (isOutboxError(error) && error.code === 'OUTBOX_NOT_AN_OUTBOX') {
      throw new CommandFailedError(`${error.message}; give --db <path> of a Sigpost outbox`, {
        cause: error,
      });
    }
    if (isOutboxError(error)) throw new CommandFailedError(error.message, { cause: error });
    throw error;
  }
  try {
    return await fn(box);
  } catch (error) {
    if (isOutboxError(error)) throw new CommandFailedError(error.message, { cause: error });
    throw error;
  } finally {
    await box.close();
  }
}

/** `outbox enqueue`: validates the whole file first, then stores it in batches. */
async function enqueueFile(io: CliIO, path: string, file: string): Promise<void> {
  const { parseSignalLine, signalFileLines } = await import('../lines.js');
  const { validateSignal } = await import('@sigpost/protocol');
  type Item = { line: number; signal: SignalCandidate; idempotencyKey?: string };

  const parse = (line: Line): { item?: Item; problems: readonly string[] } => {
    const parsed = parseSignalLine(line, validateSignal);
    if (!parsed.ok) return { problems: parsed.problems };
    const { signal, idempotencyKey } = parsed;
    return {
      item: { line: line.number, signal, ...(idempotencyKey === undefined ? {} : { idempotencyKey }) },
      problems: [],
    };
  };

  const lines = () => signalFileLines(file);

  // First pass: every line checked, nothing stored, so a bad file is refused as a whole.
  const problems: string[] = [];
  let invalid = 0;
  let total = 0;
  for await (const line of lines()) {
    total += 1;
    const parsed = parse(line);
    if (parsed.problems.length === 0) continue;
    invalid += 1;
    for (const problem of parsed.problems) {
      if (problems.length < MAX_LISTED_PROBLEMS) problems.push(`line ${line.number}: ${problem}`);
    }
  }
  if (invalid > 0) {
    const more = invalid > problems.length ? `\n  … (${invalid} invalid lines in all)` : '';
    throw new CommandFailedError(
      `--file ${file} has ${invalid} invalid ${invalid === 1 ? 'line' : 'lines'}; nothing was enqueued:\n` +
        `${problems.map((p) => `  ${p}`).join('\n')}${more}`,
    );
  }

  await withOutbox(
    io,
    path,
    async (box) => {
      let enqueued = 0;
      let duplicates = 0;
      let batch: Item[] = [];
      const flush = () => {
        const results = box.enqueueMany(batch);
        results.forEach((result, k) => {
          if (result.duplicate) duplicates += 1;
          else enqueued += 1;
          io.stdout.write(
            `${JSON.stringify({ line: batch[k]!.line, id: result.id, idempotency_key: result.idempotencyKey, duplicate: result.duplicate })}\n`,
          );
        });
        batch = [];
      };
      for await (const line of lines()) {
        const { item } = parse(line);
        if (item === undefined)
          throw new CommandFailedError(`--file ${file} changed while it was being read`);
        batch.push(item);
        if (batch.length === ENQUEUE_BATCH) flush();
      }
      if (batch.length > 0) flush();
      const already = duplicates > 0 ? ` (${duplicates} already there)` : '';
      io.stderr.write(`enqueued ${enqueued} of ${total} signals${already} into ${box.path}\n`);
    },
    { create: true },
  );
}

/**
 * `outbox drain`: delivers until the outbox is empty, or until `stop` aborts (with `--watch`, only then).
 * Exported so tests can stop a watching drain without a process signal.
 */
export async function drainOutbox(io: CliIO, options: DrainFlags, stop: AbortSignal): Promise<void> {
  const { isOutboundError } = await import('@sigpost/outbound');
  const { DeliveryAlerts, TelegramAlertSink } = await import('@sigpost/outbound/alerts');
  const { createOutboundMetrics } = await import('@sigpost/outbound/outbox');
  const { createClient, createLogger, fromEnv } = await import('../delivery.js');
  const { ProgressBar, formatDuration } = await import('../progress.js');

  const logger = createLogger(io);
  const client = createClient(io, { connections: options.concurrency ?? DEFAULT_CONCURRENCY }, logger);
  let alertSink: TelegramAlertSink | undefined;
  let metricsServer: Server | undefined;
  try {
    alertSink = fromEnv(() => TelegramAlertSink.fromEnv(io.env, { logger }));
    const metrics = options.metricsPort === undefined ? undefined : createOutboundMetrics();
    if (metrics !== undefined && options.metricsPort !== undefined) {
      metricsServer = await serveMetrics(metrics.registry, options.metricsPort);
      const { port } = metricsServer.address() as { port: number };
      io.stderr.write(`metrics on http://127.0.0.1:${port}/metrics\n`);
    }
    const started = nowOf(io);
    let bar: ProgressBar | undefined;
    let finished = 0;
    // A line above the progress bar (or on its own without one).
    const say = (text: string) => (bar ? bar.log(text) : io.stderr.write(`${text}\n`));
    const summary = await withOutbox(
      io,
      options.db,
      (box) => {
        if (options.now) {
          const due = box.retryWaitingNow();
          say(
            due === 0
              ? "--now: no entry was waiting for a retry's backoff"
              : `--now: ${due} ${due === 1 ? 'entry' : 'entries'} waiting for a retry's backoff ${due === 1 ? 'is' : 'are'} due now`,
          );
        }
        return box.drain({
          client,
          concurrency: options.concurrency ?? DEFAULT_CONCURRENCY,
          preserveOrder: options.preserveOrder ? 'instrument' : false,
          until: options.watch ? 'stopped' : 'idle',
          signal: stop,
          ...(alertSink === undefined ? {} : { alerts: new DeliveryAlerts(alertSink) }),
          onProgress: (p) => {
            bar ??= new ProgressBar({
              total: p.remaining,
              stream: io.stderr,
              isTTY: io.isTTY,
              now: () => nowOf(io),
            });
            const done = p.delivered + p.dead;
            if (done > finished) bar.tick(done - finished);
            finished = done;
          },
          onDeliveryState: (change) => say(describeDeliveryState(change, formatDuration)),
        });
      },
      // Without --watch there is nothing to do in a new, empty outbox: a missing file is a mistyped --db.
      { metrics, create: options.watch === true },
    );
    const line =
      `delivered ${summary.delivered}, dead ${summary.dead}, retried ${summary.retried}, ` +
      `remaining ${summary.remaining} in ${formatDuration(nowOf(io) - started)}`;
    if (bar) bar.finish(line);
    else io.stderr.write(`${line}\n`);
    io.stdout.write(`${JSON.stringify(summary)}\n`);
    if (summary.dead > 0) {
      io.stderr.write('some signals were moved to dead-letter: see `sigpost outbox dead`\n');
      throw CommandFailedError.reported();
    }
  } catch (error) {
    // Delivery disabled, or the client closed: the entries stay pending, and the message says why.
    if (isOutboundError(error)) throw new CommandFailedError(error.message, { cause: error });
    throw error;
  } finally {
    await client.close();
    await alertSink?.close();
    if (metricsServer) {
      const server = metricsServer;
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  }
}

/** Serves `registry` at `GET /metrics` on 127.0.0.1 only; anything else is a 404. */
async function serveMetrics(registry: OutboundMetrics['registry'], port: number): Promise<Server> {
  const { createServer } = await import('node:http');
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || req.url?.split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (error: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${String(error)}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        new CommandFailedError(`cannot serve metrics on 127.0.0.1:${port} (${error.code ?? error.message})`, {
          cause: error,
        }),
      ),
    );
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return server;
}

/** The line `drain` prints when delivery starts failing, fails another way, or works again. */
function describeDeliveryState(change: DeliveryStateChange, formatDuration: (ms: number) => string): string {
  const url = change.url ?? 'the server';
  if (change.state === 'resumed') {
    const attempts = `${change.retried} failed ${change.retried === 1 ? 'attempt' : 'attempts'}`;
    return `delivery to ${url} resumed (after ${formatDuration(change.at - change.failingSince)} and ${attempts})`;
  }
  const next = `retrying, next attempt in ${formatDuration(change.nextAttemptAt - change.at)}`;
  return change.reachable
    ? `${url} answered ${change.reason}; ${next}`
    : `cannot reach ${url}: ${change.reason}; ${next}`;
}

/** `in 30.0s (2025-10-25T14:31:15.000Z)`, `due now`, or `–` when nothing is pending. */
function nextAttemptText(status: OutboxStatus, now: number, formatDuration: (ms: number) => string): string {
  if (status.nextAttemptAt === null) return '–';
  if (status.nextAttemptAt <= now) return 'due now';
  return `in ${formatDuration(status.nextAttemptAt - now)} (${new Date(status.nextAttemptAt).toISOString()})`;
}

/** One dead entry as text: id, instrument, key, attempts, then the last error on the next line. */
function deadText(entry: OutboxEntry): string {
  return (
    `#${entry.id}  ${entry.instrument}  key ${entry.idempotencyKey}  ${entry.attempts} ${entry.attempts === 1 ? 'attempt' : 'attempts'}  ` +
    `${new Date(entry.finishedAt ?? entry.updatedAt).toISOString()}\n  ${entry.lastError ?? '(no error recorded)'}`
  );
}

function deadJson(entry: OutboxEntry): string {
  return JSON.stringify({
    id: entry.id,
    idempotency_key: entry.idempotencyKey,
    instrument: entry.instrument,
    attempts: entry.attempts,
    last_error: entry.lastError,
    last_error_code: entry.lastErrorCode,
    last_http_code: entry.lastHttpCode,
    dead_at: entry.finishedAt === null ? null : new Date(entry.finishedAt).toISOString(),
    signal: entry.signal,
  });
}
