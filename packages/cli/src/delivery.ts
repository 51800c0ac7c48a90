// The work of `sigpost send`, loaded only when a signal is sent: it pulls in the SDK (undici) and pino.
import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import { LOG_LEVEL_ENV, LOG_LEVELS } from '@sigpost/ingest/settings';
import {
  HmacClient,
  isOutboundClientError,
  isOutboundConfigError,
  isOutboundError,
  isSignalValidationError,
  OutboundConfig,
  type PostSignalOptions,
  type SignalInput,
} from '@sigpost/outbound';
import { parseTimestamp } from '@sigpost/protocol';
import { pino } from 'pino';
import { oneOf } from './args.js';
import { CommandFailedError, UsageError } from './errors.js';
import { type CliIO, nowOf } from './io.js';
import { type Line, parseSignalLine, signalFileLines } from './lines.js';
import { formatDuration, ProgressBar } from './progress.js';

/** How each signal is posted: the flags common to one signal and a file of them. */
export interface DeliveryOptions {
  /** Per-attempt timeout, in seconds; the config's `OUTBOUND_TIMEOUT_SECONDS` when absent. */
  readonly timeoutSeconds?: number | undefined;
  /** Attempts per signal, the first included; the SDK's default when absent. */
  readonly attempts?: number | undefined;
}

/**
 * The SDK's logger: pino, JSON lines on stderr (stdout carries only results). Off unless
 * SIGPOST_LOG_LEVEL asks: every failure is already printed for people, and a JSON line before it is noise.
 */
export function createLogger(io: CliIO) {
  const level =
    io.env[LOG_LEVEL_ENV] === undefined ? 'silent' : oneOf(LOG_LEVEL_ENV, LOG_LEVELS)(io.env[LOG_LEVEL_ENV]);
  return pino(
    {
      name: 'sigpost',
      level,
      // The SDK logs allowlisted fields only; this is the second guard.
      redact: { paths: ['secret', 'producerSecret', 'signature', 'headers', 'body'], censor: '[redacted]' },
    },
    { write: (line: string) => io.stderr.write(line) },
  );
}

/** Runs `read`, which reads SDK settings from the environment; an invalid one is a usage error (exit 2). */
export function fromEnv<T>(read: () => T): T {
  try {
    return read();
  } catch (error) {
    if (isOutboundConfigError(error)) throw new UsageError(error.message, { cause: error });
    throw error;
  }
}

/** How the SDK client is built: the delivery flags, and how many connections it may open. */
export interface ClientOptions extends DeliveryOptions {
  /** The SDK's default when absent. */
  readonly connections?: number | undefined;
}

/**
 * The SDK client, configured from the environment; an invalid config is a usage error (exit 2).
 * Logs through `logger`, or a new `createLogger(io)` when none is given.
 */
export function createClient(
  io: CliIO,
  options: ClientOptions,
  logger?: ReturnType<typeof createLogger>,
): HmacClient {
  const config = fromEnv(() => OutboundConfig.fromEnv(io.env));
  return new HmacClient(config, logger ?? createLogger(io), {
    ...(options.connections === undefined ? {} : { connections: options.connections }),
    ...(options.attempts === undefined ? {} : { retry: { limit: options.attempts } }),
  });
}

function postOptions(options: DeliveryOptions, idempotencyKey: string): PostSignalOptions {
  return options.timeoutSeconds === undefined
    ? { idempotencyKey }
    : { idempotencyKey, timeoutSeconds: options.timeoutSeconds };
}

/** A failed delivery, as lines for people and as JSON for `send --file` results. */
export interface FailureReport {
  /** The first line says what failed; the next ones (indented) the problem's title, detail and field errors. */
  readonly lines: readonly string[];
  readonly json: Record<string, unknown>;
}

/** The problem type of a 422: the idempotency key was first used with a different body. */
export const KEY_REUSED_TYPE = 'urn:sigpost:problem:idempotency-key-reused';

/** Where the signal came from, for the hints that say how to fix it. */
export type SignalSource = 'flags' | 'file';

/**
 * What to do after a 422 `idempotency-key-reused`. The server names the top-level fields that differ
 * from the first request (`differing_fields`). When only the timestamp differs (the usual case, since
 * `send --timestamp` defaults to now), this is the same signal sent again: the hint gives the first
 * timestamp when the server sends it (`first_timestamp`), else names the rule. When other fields
 * differ too, this is another signal, which needs another key: resending under the first timestamp
 * would still be refused. No field differing means the same values written differently (the signal
 * was received). An older server names no fields; the hint then gives both ways.
 */
export function keyReusedHint(
  differing: readonly string[] | undefined,
  source: SignalSource,
  firstTimestamp?: string,
): string {
  const timestamp =
    source === 'flags'
      ? firstTimestamp === undefined
        ? 'pass the same --timestamp as the first run (it defaults to now)'
        : `pass the first run's timestamp: --timestamp ${firstTimestamp}`
      : firstTimestamp === undefined
        ? 'keep the line\'s "timestamp" as in the first run'
        : `set the line's "timestamp" back to ${JSON.stringify(firstTimestamp)}`;
  const newKey = source === 'flags' ? 'another --idempotency-key' : 'another "idempotency_key"';
  if (differing === undefined) {
    return `hint: to resend the same signal, ${timestamp}; a different signal needs ${newKey}`;
  }
  if (differing.length === 1 && differing[0] === 'timestamp') {
    return `hint: only the timestamp differs: to resend the same signal, ${timestamp}; a different signal needs ${newKey}`;
  }
  if (differing.length === 0) {
    return (
      'hint: the first request had the same fields and values, written differently (key order, spacing or ' +
      `number format): this signal was already received; to send it again as a new one, use ${newKey}`
    );
  }
  const fields = differing.filter((f) => /^[A-Za-z0-9_]{1,64}$/.test(f));
  const named = fields.length === 0 ? '' : ` (it differs in ${fields.join(', ')})`;
  return `hint: this key was first used for another signal${named}; this is another signal: use ${newKey}`;
}

/** Describes an SDK error; anything else is not expected here and is rethrown by the caller. */
export function describeFailure(error: unknown, source: SignalSource = 'flags'): FailureReport | undefined {
  if (isOutboundClientError(error) && error.code === 'OUTBOUND_HTTP_ERROR' && error.details) {
    const { details } = error;
    const status = error.httpCode ?? details.status;
    const lines = [
      `the server answered ${[status, STATUS_CODES[status]].filter(Boolean).join(' ')} (POST ${error.url})`,
      `  title: ${details.title}`,
    ];
    if (typeof details.detail === 'string' && details.detail !== '')
      lines.push(`  detail: ${details.detail}`);
    const errors = Array.isArray(details.errors) ? details.errors.map(String) : [];
    for (const line of errors) lines.push(`  - ${line}`);
    const differing = Array.isArray(details.differing_fields)
      ? details.differing_fields.map(String)
      : undefined;
    // Shown only when it looks like a timestamp: it is echoed into a command line.
    const firstTimestamp =
      typeof details.first_timestamp === 'string' && parseTimestamp(details.first_timestamp) !== undefined
        ? details.first_timestamp
        : undefined;
    if (details.type === KEY_REUSED_TYPE) lines.push(`  ${keyReusedHint(differing, source, firstTimestamp)}`);
    return {
      lines,
      json: {
        code: error.code,
        status,
        type: details.type,
        title: details.title,
        ...(details.detail === undefined ? {} : { detail: details.detail }),
        ...(errors.length > 0 ? { errors } : {}),
        ...(differing === undefined ? {} : { differing_fields: differing }),
        ...(firstTimestamp === undefined ? {} : { first_timestamp: firstTimestamp }),
        message: error.message,
      },
    };
  }
  if (isSignalValidationError(error)) {
    return {
      lines: ['the signal is invalid; nothing was sent', ...error.errors.map((e) => `  - ${e}`)],
      json: { code: error.code, errors: error.errors, message: error.message },
    };
  }
  if (isOutboundError(error)) {
    const httpCode = isOutboundClientError(error) ? error.httpCode : undefined;
    return {
      lines: [error.message],
      json: {
        code: error.code,
        ...(httpCode === undefined ? {} : { status: httpCode }),
        message: error.message,
      },
    };
  }
  return undefined;
}

/**
 * Sends one signal; prints the server's response as one JSON line on stdout.
 * @throws {CommandFailedError} the delivery failed (exit 1)
 */
export async function sendOne(
  io: CliIO,
  signal: SignalInput,
  idempotencyKey: string | undefined,
  options: DeliveryOptions,
): Promise<void> {
  const client = createClient(io, options);
  try {
    const response = await client.postSignal(signal, postOptions(options, idempotencyKey ?? randomUUID()));
    io.stdout.write(`${JSON.stringify(response)}\n`);
  } catch (error) {
    const report = describeFailure(error);
    if (!report) throw error;
    throw new CommandFailedError(report.lines.join('\n'), { cause: error });
  } finally {
    await client.close();
  }
}

type LineResult =
  | { readonly ok: true; readonly json: object }
  | { readonly ok: false; readonly report: FailureReport };

function lineFailure(code: string, message: string): LineResult {
  return { ok: false, report: { lines: [message], json: { code, message } } };
}

/**
 * Sends every signal of a JSON Lines file with `concurrency` requests in flight; prints one JSON
 * result per line on stdout (in completion order), a progress bar on a terminal and a summary line.
 * @throws {CommandFailedError} one line or more failed (exit 1), after the summary
 */
export async function sendMany(
  io: CliIO,
  path: string,
  concurrency: number,
  options: DeliveryOptions,
): Promise<void> {
  const client = createClient(io, options);
  try {
    // A first pass counts the lines, for the progress bar's total and the summary.
    let total = 0;
    for await (const _ of signalFileLines(path)) total += 1;

    const bar = new ProgressBar({ total, stream: io.stderr, isTTY: io.isTTY, now: () => nowOf(io) });
    let sent = 0;
    let failed = 0;
    const lines = signalFileLines(path);

    const sendLine = async (line: Line): Promise<void> => {
      const { idempotencyKey, result } = await deliverLine(client, line, options);
      const key = idempotencyKey === undefined ? {} : { idempotency_key: idempotencyKey };
      if (result.ok) {
        sent += 1;
        io.stdout.write(`${JSON.stringify({ line: line.number, ...key, ...result.json })}\n`);
      } else {
        failed += 1;
        io.stdout.write(`${JSON.stringify({ line: line.number, ...key, error: result.report.json })}\n`);
        const [first, ...rest] = result.report.lines;
        bar.log([`line ${line.number}: ${first}`, ...rest].join('\n'));
      }
      bar.tick();
    };

    // Workers share one generator: each pulls the next line when its request is done, so at most
    // `concurrency` lines are held in memory. Async generators queue concurrent next() calls.
    const worker = async (): Promise<void> => {
      for (let next = await lines.next(); !next.done; next = await lines.next()) {
        await sendLine(next.value);
      }
    };
    const outcomes = await Promise.allSettled(Array.from({ length: concurrency }, worker));
    // Settled, not Promise.all: the other workers' requests finish before the client closes.
    const crashed = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
    if (crashed) throw crashed.reason;

    bar.finish(`sent ${sent}, failed ${failed} of ${total} in ${formatDuration(bar.elapsedMs())}`);
    if (failed > 0) throw CommandFailedError.reported();
  } finally {
    await client.close();
  }
}

async function deliverLine(
  client: HmacClient,
  line: Line,
  options: DeliveryOptions,
): Promise<{ idempotencyKey?: string; result: LineResult }> {
  const parsed = parseSignalLine(line);
  if (!parsed.ok) {
    return {
      result: lineFailure(
        'CLI_INVALID_LINE',
        `${parsed.problems.join('; ')}${parsed.tooLong ? '; skipped' : ''}`,
      ),
    };
  }
  const { signal } = parsed;
  const idempotencyKey = parsed.idempotencyKey ?? randomUUID();
  try {
    // The SDK validates the signal (SignalValidationError) before sending anything.
    const response = await client.postSignal(
      signal as unknown as SignalInput,
      postOptions(options, idempotencyKey),
    );
    return { idempotencyKey, result: { ok: true, json: response } };
  } catch (error) {
    const report = describeFailure(error, 'file');
    if (!report) throw error;
    return { idempotencyKey, result: { ok: false, report } };
  }
}
