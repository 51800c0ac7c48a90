import { checkUrl, STORED_SIGNAL_STATUSES } from '@sigpost/protocol';
import type { StreamEvent, SubscriberLogger } from '@sigpost/subscriber';
import { type Command, Option } from 'commander';
import * as args from '../args.js';
import { CommandFailedError, UsageError } from '../errors.js';
import { type CliIO, type TextSink, writeAndWait } from '../io.js';

interface StreamOptions {
  readonly url?: string;
  readonly after?: number;
  readonly cursorFile?: string;
  readonly statuses?: readonly string[];
  readonly producers?: readonly string[];
  readonly maxAge?: number;
}

/** The environment variable holding the subscriber token (never a flag: flags end up in shell history and `ps`). */
export const TOKEN_ENV = 'SIGPOST_SUBSCRIBER_TOKEN';
/** The environment variable holding the server URL when --url is not given. */
export const URL_ENV = 'SIGPOST_URL';

const HELP = `
Environment:
  ${TOKEN_ENV}  a subscriber token (sgs_…) or operator token (sgp_…) (required)
  ${URL_ENV}               the server, e.g. https://sigpost.example.com (when --url is not given)

Output: one JSON object per event on stdout, {"type","seq","at","epoch","signal"}; connection progress,
reconnects and the final cursor on stderr. Ctrl-C (SIGINT) or SIGTERM stops after the event being
printed and saves the cursor.

Examples:
  sigpost stream                                   # live events from now on
  sigpost stream --after 0 --statuses approved     # every approved signal still retained, then live
  sigpost stream --cursor-file ./stream.cursor.json --max-age 300 | ./my-bot`;

/** The server URL: http(s) or ws(s), without a query or credentials (a token has no place in it). */
function httpUrl(flag: string): args.FlagParser<string> {
  return (value) => {
    const checked = checkUrl(value, { schemes: ['http:', 'https:', 'ws:', 'wss:'], fragment: true });
    if (!checked.ok) {
      // A query or credentials may hold a token: shown without them.
      const { url, problem } = checked;
      const received =
        url && (problem === 'query' || problem === 'credentials' || url.search !== '')
          ? `${args.quote(`${url.protocol}//${url.host}${url.pathname}`)} with a query or credentials (not shown)`
          : args.quote(value);
      throw new args.FlagValueError(
        flag,
        'an http(s) or ws(s) URL without query or credentials, such as https://sigpost.example.com',
        received,
      );
    }
    return value;
  };
}

/** Progress lines on stderr, from the subscriber's log calls (info and above; debug is dropped). */
function stderrLogger(stderr: TextSink): SubscriberLogger {
  const line = (fields: object, msg: string) => {
    const detail = Object.entries(fields)
      .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
      .join(' ');
    stderr.write(`sigpost stream: ${msg.replace(/^stream: /, '')}${detail ? ` (${detail})` : ''}\n`);
  };
  return { debug() {}, info: line, warn: line, error: line };
}

type StreamSink = TextSink & {
  write(text: string, callback: (error?: Error | null) => void): boolean;
  on(event: 'error', listener: (error: Error) => void): unknown;
  removeListener(event: 'error', listener: (error: Error) => void): unknown;
};

function isStream(sink: TextSink): sink is StreamSink {
  return typeof (sink as Partial<StreamSink>).on === 'function';
}

const isBrokenPipe = (error: unknown): boolean =>
  (error as { cause?: { code?: unknown } } | null)?.cause?.code === 'EPIPE';

/** `sigpost stream`: the live stream of a Sigpost server as JSON Lines. */
export function register(program: Command, io: CliIO): void {
  program
    .command('stream')
    .summary('print the live stream of accepted and decided signals as JSON Lines')
    .description(
      'Subscribe to the server’s stream (WebSocket, protocol v1) and print each event as one JSON line. ' +
        'Reconnects with backoff and resumes where it was; with --cursor-file, also across restarts (the ' +
        'file is saved after each line is printed, so a killed process prints at most its last line again).',
    )
    .addOption(new Option('--url <url>', `the server (default: $${URL_ENV})`).argParser(httpUrl('--url')))
    .addOption(
      new Option(
        '--after <seq>',
        'replay every event after this seq, then go live (0: all retained history; default: live only). ' +
          'With --cursor-file: where to start when the file does not exist yet',
      ).argParser(args.integerInRange('--after', 0, Number.MAX_SAFE_INTEGER)),
    )
    .addOption(new Option('--cursor-file <path>', 'keep the position in this JSON file, and resume from it'))
    .addOption(
      new Option(
        '--statuses <list>',
        `only these statuses, comma-separated: ${STORED_SIGNAL_STATUSES.join(', ')}`,
      ).argParser(args.statusList('--statuses')),
    )
    .addOption(
      new Option('--producers <list>', 'only these producer ids, comma-separated').argParser(
        args.producerIdList('--producers'),
      ),
    )
    .addOption(
      new Option(
        '--max-age <seconds>',
        'skip signals whose producer timestamp is older than this (a replay of old signals)',
      ).argParser(args.numberInRange('--max-age', 0, 31_536_000, ' of seconds')),
    )
    .addHelpText('after', HELP)
    .action(async (options: StreamOptions) => {
      const token = io.env[TOKEN_ENV];
      if (token === undefined || token === '') {
        throw new UsageError(`set ${TOKEN_ENV} to a subscriber token (sgs_…); the token is never a flag`);
      }
      const url = args.fromFlagOrEnv(options.url, io.env, URL_ENV, '--url <url>', httpUrl);
      const sdk = await import('@sigpost/subscriber');
      const cursor =
        options.cursorFile !== undefined ? new sdk.FileCursor(options.cursorFile) : new sdk.MemoryCursor();
      let subscriber: InstanceType<typeof sdk.SignalSubscriber>;
      try {
        subscriber = new sdk.SignalSubscriber({
          url,
          token,
          cursor,
          start: options.after === undefined ? 'live' : { after: options.after },
          ...(options.statuses ? { statuses: options.statuses as StreamEvent['signal']['status'][] } : {}),
          ...(options.producers ? { producers: options.producers } : {}),
          ...(options.maxAge === undefined ? {} : { maxAgeSeconds: options.maxAge }),
          logger: stderrLogger(io.stderr),
        });
      } catch (error) {
        // The token is checked for shape only; the message never contains it.
        const message = (error as Error).message;
        throw new UsageError(
          message.includes('`token`')
            ? `${TOKEN_ENV} expects a subscriber token (sgs_…): 8–512 visible ASCII characters`
            : message,
          { cause: error },
        );
      }
      let printed = 0;
      let lastSeq: number | undefined;
      let stopping = false;
      const onSignal = () => {
        stopping = true;
        void subscriber.close();
      };
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      // A closed stdout (`sigpost stream | head -1`) fails the write in hand; the stream's own
      // 'error' event must not crash the process.
      const onStdoutError = () => {};
      if (isStream(io.stdout)) io.stdout.on('error', onStdoutError);
      let pipeClosed = false;
      try {
        await subscriber.run(async (event) => {
          const { type, seq, at, epoch, signal } = event;
          await writeAndWait(io.stdout, `${JSON.stringify({ type, seq, at, epoch, signal })}\n`);
          printed += 1;
          lastSeq = seq;
        });
      } catch (error) {
        if (sdk.isSubscriberError(error) && isBrokenPipe(error)) {
          pipeClosed = true;
        } else if (sdk.isSubscriberError(error)) {
          // SUBSCRIBER_NOT_TLS says it all; its cause is OpenSSL's "wrong version number".
          const cause =
            error.cause instanceof Error && error.code !== 'SUBSCRIBER_NOT_TLS'
              ? `: ${error.cause.message}`
              : '';
          throw new CommandFailedError(`${error.message}${cause} [${error.code}]`, { cause: error });
        } else throw error;
      } finally {
        process.removeListener('SIGINT', onSignal);
        process.removeListener('SIGTERM', onSignal);
        if (isStream(io.stdout)) io.stdout.removeListener('error', onStdoutError);
      }
      const where =
        lastSeq === undefined
          ? 'no event'
          : `last seq ${lastSeq}${options.cursorFile ? `, saved in ${options.cursorFile}` : ''}`;
      io.stderr.write(
        `sigpost stream: ${pipeClosed ? 'stdout closed, stopped' : stopping ? 'stopped' : 'ended'} after ${printed} event${printed === 1 ? '' : 's'} (${where})\n`,
      );
    });
}
