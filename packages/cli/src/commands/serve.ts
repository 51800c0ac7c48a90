import type { ConfigError, DevelopmentCredentials, ServerConfigInput } from '@sigpost/ingest';
import {
  DEFAULT_LOG_LEVEL,
  DEFAULTS,
  ENV_NAMES,
  HOST_PATTERN,
  LOG_LEVEL_ENV,
  LOG_LEVELS,
  type LogLevel,
} from '@sigpost/ingest/settings';
import { type Command, Option } from 'commander';
import { assertSameKey } from '../admin-session.js';
import * as args from '../args.js';
import { CommandFailedError, type UsageError } from '../errors.js';
import type { CliIO } from '../io.js';
import {
  assertKeyAvailable,
  databaseOption,
  dbFlag,
  describeLocation,
  loadSecretBox,
  openStoreAt,
  resolveStoreLocation,
} from '../store-options.js';

interface ServeOptions {
  readonly port?: number;
  readonly host?: string;
  readonly db?: string;
  readonly dev?: true;
  readonly logLevel?: LogLevel;
}

/** Every server setting read from the environment, with its default: from the server's own tables. */
function serverSettingsHelp(): string {
  const defaults: Readonly<Record<string, unknown>> = {
    ...DEFAULTS,
    rateLimitPerSecond: DEFAULTS.rateLimit.perSecond,
    rateLimitBurst: DEFAULTS.rateLimit.burst,
  };
  const items = Object.entries(ENV_NAMES).map(([key, name]) => `${name} (${String(defaults[key])})`);
  items.push(`${LOG_LEVEL_ENV} (${DEFAULT_LOG_LEVEL}, or --log-level)`);
  const lines: string[] = [];
  let line = 'Server settings (environment, default in parentheses; flags win over them):';
  for (const [i, item] of items.entries()) {
    const text = i < items.length - 1 ? `${item},` : `${item}.`;
    if (line.length + 1 + text.length > 106) {
      lines.push(line);
      line = text;
    } else line = `${line} ${text}`;
  }
  lines.push(line);
  return lines.join('\n');
}

const HELP = `
Store and key: --db <path>, else DATABASE_URL (postgres://…), else ./data/sigpost.db. Producer secrets are
sealed with SIGPOST_SECRET_KEY, or for SQLite the key file beside the database (data/sigpost.key). During a
rotation of that key, SIGPOST_PREVIOUS_SECRET_KEYS (comma-separated) holds the earlier ones: see
\`sigpost producers reseal --help\`.

${serverSettingsHelp()}
What each one does: the ingest package's README, "Configuration". SIGPOST_MAX_CONNECTIONS_PER_ADDRESS 0 means
no per-address limit; SIGPOST_SIGNAL_RETENTION_DAYS 0 keeps signals forever.

Approve from Telegram (off unless SIGPOST_TELEGRAM_APPROVERS is set): SIGPOST_TELEGRAM_APPROVERS (Telegram
user ids allowed to decide, comma-separated), SIGPOST_TELEGRAM_BOT_TOKEN, SIGPOST_TELEGRAM_CHAT_ID,
SIGPOST_TELEGRAM_API_URL (https://api.telegram.org), SIGPOST_TELEGRAM_POLL_TIMEOUT_SECONDS (30),
SIGPOST_TELEGRAM_WEBHOOK_SECRET (webhook instead of polling): see the ingest package's README, "Approve from
Telegram".

Routes: POST /api/v1/signals/ingest, /api/v1/operator/… (bearer token), GET /api/v1/stream (WebSocket,
subscriber token: \`sigpost subscribers create\`, docs/stream.md), POST /api/v1/telegram/webhook (with
SIGPOST_TELEGRAM_WEBHOOK_SECRET), /healthz, /readyz, /metrics, /openapi.json, /docs, /docs/protocol.
SIGTERM or Ctrl-C: graceful shutdown.

Examples:
  sigpost serve --dev                       # what \`npm start\` runs: creates a dev producer on first start
  sigpost serve --port 9000 --db /var/lib/sigpost/sigpost.db
  DATABASE_URL=postgres://sigpost@db:5432/sigpost SIGPOST_SECRET_KEY=… sigpost serve --host 0.0.0.0`;

/** `sigpost serve`: runs the ingest server until SIGTERM/SIGINT. */
export function register(program: Command, io: CliIO): void {
  program
    .command('serve')
    .summary('run the ingest server')
    .description(
      'Run the ingest server: verify, deduplicate, validate and durably store signed signals, and serve the ' +
        'operator API, health, metrics and the API reference. Logs are JSON lines on stderr.',
    )
    .addOption(
      new Option(
        '--port <port>',
        'TCP port; 0 picks a free one (default: $SIGPOST_PORT, else 8080)',
      ).argParser(args.integerInRange('--port', 0, 65_535)),
    )
    .addOption(
      new Option(
        '--host <host>',
        'interface to listen on (default: $SIGPOST_HOST, else 127.0.0.1)',
      ).argParser(
        args.matching('--host', HOST_PATTERN, 'a host name or an IP address such as 127.0.0.1 or ::1'),
      ),
    )
    .addOption(databaseOption())
    .option(
      '--dev',
      'on a store with no producer, create a development producer and operator token and print them',
    )
    .addOption(
      new Option(
        '--log-level <level>',
        `log level (default: $${LOG_LEVEL_ENV}, else ${DEFAULT_LOG_LEVEL})`,
      ).argParser(args.oneOf('--log-level', LOG_LEVELS)),
    )
    .addHelpText('after', HELP)
    .action((options: ServeOptions) => serve(options, io));
}

async function serve(options: ServeOptions, io: CliIO): Promise<void> {
  const level = options.logLevel ?? logLevelFromEnv(io.env);
  const location = resolveStoreLocation(options.db, io.env);
  assertKeyAvailable(location, io.env);
  const ingest = await import('@sigpost/ingest');
  let config: ReturnType<typeof ingest.resolveConfig>;
  let telegram: ReturnType<typeof ingest.readTelegramEnv>;
  try {
    const input: ServerConfigInput = {
      ...ingest.readConfigEnv(io.env),
      ...(options.port === undefined ? {} : { port: options.port }),
      ...(options.host === undefined ? {} : { host: options.host }),
    };
    config = ingest.resolveConfig(input);
    // Approvals from Telegram: off unless SIGPOST_TELEGRAM_APPROVERS is set; read from this command's
    // environment, as every other setting (not the library's process.env default).
    telegram = ingest.readTelegramEnv(io.env);
  } catch (error) {
    if (error instanceof ingest.ConfigError) throw configUsageError(error, options, ingest.ENV_NAMES);
    throw error;
  }

  const { default: pino } = await import('pino');
  // Every stderr line of the server (its log, and this command's own lines, so they keep their
  // order) is written once per event-loop turn, not once per request line.
  const stderr = ingest.coalescedLines((chunk) => io.stderr.write(chunk));
  const logger = pino({ level, base: { service: 'sigpost-ingest' } }, stderr);
  // A process that exits before the end of its turn (process.exit after a fatal line) writes them too.
  const flushOnExit = () => stderr.flush();
  process.once('exit', flushOnExit);
  const stopLines = () => {
    stderr.flush();
    process.removeListener('exit', flushOnExit);
  };
  let store: Awaited<ReturnType<typeof openStoreAt>>;
  try {
    store = await openStoreAt(location, { create: true, log: (line) => stderr.write(line) });
  } catch (error) {
    stopLines(); // its lines before the error line the CLI prints
    throw error;
  }
  let started = false;
  try {
    const producers = await store.listProducers();
    const { box, createdKeyFile } = await loadSecretBox(location, io.env, { create: producers.length === 0 });
    // A server whose keys cannot open the stored secrets would answer 401 to every producer.
    assertSameKey(box, producers);
    if (createdKeyFile !== undefined) {
      stderr.write(
        `created the secret key file ${createdKeyFile}: keep it with the database; without it the stored ` +
          'producer secrets cannot be opened\n',
      );
    }
    let credentials: DevelopmentCredentials | undefined;
    // What the commands it prints need to reach this same store.
    const db = dbFlag(options.db, location);
    if (options.dev) {
      credentials = await ingest.bootstrapDevelopment(new ingest.Admin(store, box), store);
      if (!credentials) {
        stderr.write(
          `--dev: the ${describeLocation(location)} already has producers; none was created. Secrets are shown ` +
            `once, at creation; for a new one run \`npx sigpost producers rotate --id <producer>${db}\` ` +
            `(\`npx sigpost producers list${db}\` shows the ids)\n`,
        );
      }
    }
    const stopped = new Promise<unknown>((resolve) => {
      void ingest
        .startServer({
          store,
          secretBox: box,
          logger,
          config,
          telegram: telegram ?? false,
          onSignalShutdown: (_signal, error) => resolve(error),
        })
        .then(
          (server) => {
            started = true;
            stderr.write(
              `sigpost: ingest server listening on ${server.url} (${describeLocation(location)})\n`,
            );
            // The log and the line above first, as a terminal showing both streams would expect.
            stderr.flush();
            if (credentials) io.stdout.write(developmentBanner(credentials, server.url, db));
          },
          (error: unknown) => resolve(new CommandFailedError(listenFailure(error, config), { cause: error })),
        );
    });
    const outcome = await stopped;
    if (outcome instanceof CommandFailedError) throw outcome;
    if (outcome !== undefined) {
      throw new CommandFailedError('the ingest server did not shut down cleanly (see the log)', {
        cause: outcome,
      });
    }
  } finally {
    // Once started, the server owns the store and closes it on shutdown.
    try {
      if (!started) await store.close();
    } finally {
      stopLines();
    }
  }
}

function logLevelFromEnv(env: Readonly<Record<string, string | undefined>>): LogLevel {
  const value = env[LOG_LEVEL_ENV];
  if (value === undefined || value === '') return DEFAULT_LOG_LEVEL;
  return args.oneOf(LOG_LEVEL_ENV, LOG_LEVELS)(value);
}

/** Each configuration problem as `NAME expects …, received …` (the flag or variable that set it), on one line. */
function configUsageError(
  error: ConfigError,
  options: ServeOptions,
  env: Readonly<Record<string, string>>,
): UsageError {
  // Only the flags and the SIGPOST_* variables feed the configuration here.
  const names: Readonly<Record<string, string | undefined>> = {
    ...env,
    'rateLimit.perSecond': env.rateLimitPerSecond,
    'rateLimit.burst': env.rateLimitBurst,
    ...(options.port === undefined ? {} : { port: '--port' }),
    ...(options.host === undefined ? {} : { host: '--host' }),
  };
  return args.issuesUsageError(
    error.issues.map((i) => ({ ...i, key: names[i.key] ?? i.key })),
    error,
  );
}

function listenFailure(error: unknown, config: { host: string; port: number }): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'EADDRINUSE')
    return `cannot listen on ${config.host}:${config.port}: the port is in use (try --port)`;
  if (code === 'EACCES')
    return `cannot listen on ${config.host}:${config.port}: permission denied (try a port ≥ 1024)`;
  if (code === 'EADDRNOTAVAIL')
    return `cannot listen on ${config.host}:${config.port}: no such local address (check --host)`;
  return `cannot start the ingest server: ${error instanceof Error ? error.message : String(error)}`;
}

/**
 * What `--dev` prints once on a fresh store: the producer's credentials, a command to try, and the
 * operator token. The bearer (`sgp_…`) is the only value called a token; its `tok_…` id is labelled
 * as an id, so that copying the first thing called a token works.
 */
/** @param db the `--db` the printed commands need (see `dbFlag`), or '' */
export function developmentBanner(credentials: DevelopmentCredentials, url: string, db = ''): string {
  const { producer, token } = credentials;
  return `
Development producer and operator token created. The producer secret and the operator token are shown once.

Send a signal (from this repository; elsewhere drop \`npx\` if sigpost is installed):

  HMAC_PRODUCER_SECRET=${producer.secret} PRODUCER_ID=${producer.producerId} OUTBOUND_SERVER_URL=${url} \\
    npx sigpost send --instrument GOLD --side buy --entry-price 1950.5 --stop-loss 1945 \\
    --take-profit 1960 --confidence 0.85 --reason "first signal"

Operator token (the bearer of the operator API): ${token.token}
  (its id, ${token.id}, is what \`sigpost tokens list${db}\` shows and \`sigpost tokens revoke --id\` takes)

List what arrived:

  curl -H "Authorization: Bearer ${token.token}" ${url}/api/v1/operator/signals

API reference: ${url}/docs
Operator console: ${url}/console (sign in with the operator token above)
`;
}
