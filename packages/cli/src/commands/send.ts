import { formatTimestamp, validateSignal } from '@sigpost/protocol';
import { type Command, Option } from 'commander';
import * as args from '../args.js';
import { UsageError } from '../errors.js';
import { type CliIO, nowOf } from '../io.js';

interface SendOptions {
  instrument?: string;
  side?: 'buy' | 'sell';
  entryPrice?: number;
  stopLoss?: number;
  takeProfit?: number;
  confidence?: number;
  reason?: string;
  timestamp?: string;
  payload?: Record<string, unknown>;
  idempotencyKey?: string;
  file?: string;
  concurrency?: number;
  timeout?: number;
  attempts?: number;
}

/** The signal's fields, their flags and the option keys, in one table. */
const SIGNAL_FLAGS = [
  ['instrument', '--instrument', 'instrument'],
  ['side', '--side', 'side'],
  ['entry_price', '--entry-price', 'entryPrice'],
  ['stop_loss', '--stop-loss', 'stopLoss'],
  ['take_profit', '--take-profit', 'takeProfit'],
  ['confidence', '--confidence', 'confidence'],
  ['reason', '--reason', 'reason'],
] as const satisfies readonly (readonly [string, string, keyof SendOptions])[];

const FIELD_FLAGS: Readonly<Record<string, string>> = {
  ...Object.fromEntries(SIGNAL_FLAGS.map(([field, flag]) => [field, flag])),
  timestamp: '--timestamp',
  payload: '--payload',
};

const DEFAULT_CONCURRENCY = 8;
const ENV_HELP = `
Environment (read by OutboundConfig.fromEnv):
  HMAC_PRODUCER_SECRET      the producer secret, at least 16 bytes (required)
  PRODUCER_ID               the X-Producer-Id (required)
  OUTBOUND_SERVER_URL       base URL of the ingest server (required)
  HMAC_PRODUCER_ENABLED     false: send nothing and fail (default: true)
  OUTBOUND_TIMEOUT_SECONDS  timeout of one attempt, 5–300 (default: 30)
  OUTBOUND_MAX_BODY_SIZE    largest body sent, in bytes (default: 65536)
  SIGPOST_LOG_LEVEL         JSON logs on stderr: fatal, error, warn, info, debug, trace, silent
                            (default: silent; errors are printed either way)

Examples:
  sigpost send --instrument GOLD --side buy --entry-price 1950.5 --stop-loss 1945 \\
    --take-profit 1960 --confidence 0.85 --reason "breakout above resistance"
  sigpost send --file signals.jsonl --concurrency 16 > results.jsonl`;

/** `sigpost send`: posts one signal built from flags, or every signal of a JSON Lines file. */
export function register(program: Command, io: CliIO): void {
  const single = (flags: string, description: string, parse: args.FlagParser<unknown>) =>
    new Option(flags, description).argParser(parse).helpGroup('One signal:');
  const many = (flags: string, description: string) =>
    new Option(flags, description).helpGroup('Many signals:');

  const send = program
    .command('send')
    .summary('sign and post a signal (or a file of them) to the ingest server')
    .description(
      'Sign and post one signal built from the flags, or every signal of a JSON Lines file (--file), to ' +
        'the ingest server configured by the environment. Prints the server response as JSON on stdout.',
    )
    .addOption(
      single('--instrument <symbol>', 'instrument, e.g. GOLD or EUR/USD', args.instrument('--instrument')),
    )
    .addOption(single('--side <side>', 'buy or sell', args.oneOf('--side', ['buy', 'sell'])))
    .addOption(single('--entry-price <price>', 'entry price, > 0', args.positiveNumber('--entry-price')))
    .addOption(single('--stop-loss <price>', 'stop-loss price, > 0', args.positiveNumber('--stop-loss')))
    .addOption(
      single('--take-profit <price>', 'take-profit price, > 0', args.positiveNumber('--take-profit')),
    )
    .addOption(
      single('--confidence <number>', 'confidence from 0 to 1', args.numberInRange('--confidence', 0, 1)),
    )
    .addOption(single('--reason <text>', 'why, 1–500 characters', args.textOfLength('--reason', 1, 500)))
    .addOption(
      single(
        '--timestamp <rfc3339>',
        'when the signal was generated (default: now)',
        args.timestamp('--timestamp'),
      ),
    )
    .addOption(
      single(
        '--payload <json>',
        'free-form producer data, a JSON object',
        args.jsonObject('--payload', 'payload'),
      ),
    )
    .addOption(
      single(
        '--idempotency-key <key>',
        'X-Idempotency-Key, reused on every retry (default: a fresh UUID)',
        args.idempotencyKey('--idempotency-key'),
      ),
    )
    .addOption(
      many('--file <path>', 'JSON Lines file: one signal per line, optional "idempotency_key" field')
        .argParser(args.readableFile('--file'))
        .conflicts([...SIGNAL_FLAGS.map(([, , key]) => key), 'timestamp', 'payload', 'idempotencyKey']),
    )
    .addOption(
      many('--concurrency <n>', `requests in flight with --file (default: ${DEFAULT_CONCURRENCY})`).argParser(
        args.integerInRange('--concurrency', 1, 64),
      ),
    )
    .addOption(
      new Option(
        '--timeout <seconds>',
        'timeout of one attempt (default: $OUTBOUND_TIMEOUT_SECONDS or 30)',
      ).argParser(args.numberInRange('--timeout', 0.001, 300, ' of seconds')),
    )
    .addOption(
      new Option('--attempts <n>', 'attempts per signal, 1 = no retry (default: 5)').argParser(
        args.integerInRange('--attempts', 1, 10),
      ),
    )
    .addHelpText('after', ENV_HELP)
    .action(async (options: SendOptions) => {
      const delivery = { timeoutSeconds: options.timeout, attempts: options.attempts };
      if (options.file !== undefined) {
        const { sendMany } = await import('../delivery.js');
        await sendMany(io, options.file, options.concurrency ?? DEFAULT_CONCURRENCY, delivery);
        return;
      }
      if (options.concurrency !== undefined) throw new UsageError('--concurrency applies only with --file');
      const signal = signalFromFlags(options, io);
      const { sendOne } = await import('../delivery.js');
      await sendOne(io, signal, options.idempotencyKey, delivery);
    });
  // Reported with any bad values, before anything runs (signalFromFlags checks again, for callers
  // that bypass main()).
  args.conditionalFlagChecks.set(send, (options, refused) =>
    options.file !== undefined
      ? []
      : SIGNAL_FLAGS.filter(([, , key]) => options[key] === undefined && !refused.has(key)).map(
          ([, flag]) => `required option '${flag}' not specified (or give --file <path>)`,
        ),
  );
}

/** The signal the flags describe, checked as a whole (each flag is already checked on its own). */
function signalFromFlags(options: SendOptions, io: CliIO) {
  const missing = SIGNAL_FLAGS.filter(([, , key]) => options[key] === undefined).map(([, flag]) => flag);
  if (missing.length > 0) {
    throw new UsageError(`required options not specified: ${missing.join(', ')} (or give --file <path>)`);
  }
  const signal = {
    instrument: options.instrument!,
    side: options.side!,
    entry_price: options.entryPrice!,
    stop_loss: options.stopLoss!,
    take_profit: options.takeProfit!,
    confidence: options.confidence!,
    reason: options.reason!,
    timestamp: options.timestamp ?? formatTimestamp(nowOf(io)),
    ...(options.payload === undefined ? {} : { payload: options.payload }),
  };
  // What is left to check is across flags: where stop-loss and take-profit sit around the entry price.
  const result = validateSignal(signal);
  if (!result.ok) {
    const lines = result.errors.map((e) => {
      const field = e.slice(0, e.indexOf(':'));
      return `  ${FIELD_FLAGS[field] ?? field}${e.slice(field.length)}`;
    });
    throw new UsageError(`the signal is invalid; nothing was sent:\n${lines.join('\n')}`);
  }
  return result.value;
}
