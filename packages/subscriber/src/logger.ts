// The subscriber takes a logger and never constructs one. pino's method shape, so a pino logger (or a
// child of one) is passed as it is. The token never reaches a log line: it is only ever put in the
// Authorization header, and the fields logged are the ones below.

type LogMethod = (obj: object, msg: string) => void;

/**
 * The logger `SignalSubscriber` writes to (`logger.info({ field }, 'message')`).
 *
 * @example
 * new SignalSubscriber({ url, token, cursor, logger: pino({ name: 'bot' }) });
 */
export interface SubscriberLogger {
  debug: LogMethod;
  info: LogMethod;
  warn: LogMethod;
  error: LogMethod;
}

/** Every field the subscriber may log. */
export interface SubscriberLogFields {
  /** The stream URL, without query (never carries the token). */
  url?: string;
  /** The resume point asked for (`after=`), absent when live only. */
  after?: number;
  /** The stream's epoch, from `hello`. */
  epoch?: string;
  /** The server's head at the replay-to-live switch (`ready`). */
  head?: number;
  seq?: number;
  signal_id?: string;
  /** WebSocket close code and reason. */
  close_code?: number;
  close_reason?: string;
  /** HTTP status of a refused upgrade. */
  http_code?: number;
  /** Failed connections in a row. */
  attempt?: number;
  delay_ms?: number;
  /** Why the subscriber reconnects: `closed`, `network`, `silent`, `refused`. */
  reconnect_reason?: string;
  error_code?: string;
  error_message?: string;
  age_seconds?: number;
}

/** A logger that drops everything: the default. */
export const SILENT_LOGGER: SubscriberLogger = Object.freeze({
  debug() {},
  info() {},
  warn() {},
  error() {},
});

/** Checks that `logger` has the four methods, so a wrong argument fails at construction. */
export function assertLogger(logger: unknown): asserts logger is SubscriberLogger {
  const missing = (['debug', 'info', 'warn', 'error'] as const).filter(
    (m) => typeof (logger as Record<string, unknown> | null)?.[m] !== 'function',
  );
  if (missing.length > 0) {
    throw new TypeError(
      `Expected \`logger\` to be a pino-compatible logger, missing ${missing.map((m) => `${m}()`).join(', ')}`,
    );
  }
}
