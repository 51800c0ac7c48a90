// What the ingest server reads from its environment, and the patterns of the names and ids it accepts,
// in a module that loads no server code: `@sigpost/ingest/settings`. The CLI checks its flags and
// variables against these before it loads the server (`sigpost sign` never loads fastify or a store).

export { DEFAULTS, ENV_NAMES, HOST_PATTERN } from './config.js';
export { ID_PATTERN, ID_PATTERNS } from './ids.js';
export { PREVIOUS_SECRET_KEYS_ENV, SECRET_KEY_ENV } from './secrets.js';

/** The log levels (pino's), for `SIGPOST_LOG_LEVEL` and `sigpost serve --log-level`. */
export const LOG_LEVELS = Object.freeze([
  'fatal',
  'error',
  'warn',
  'info',
  'debug',
  'trace',
  'silent',
] as const);
export type LogLevel = (typeof LOG_LEVELS)[number];
/** Environment variable holding the log level. */
export const LOG_LEVEL_ENV = 'SIGPOST_LOG_LEVEL';
/** The log level when `SIGPOST_LOG_LEVEL` is unset or empty. */
export const DEFAULT_LOG_LEVEL: LogLevel = 'info';

/** Operator token and subscriber names: 1–64 characters of letters, digits, `.`, `_`, `-`, `@` and space. */
export const TOKEN_NAME_PATTERN = /^[A-Za-z0-9._@ -]{1,64}$/;

/** PostgreSQL schema names `PostgresStore` accepts (its `schema` option, `SIGPOST_DB_SCHEMA` in the CLI). */
export const SCHEMA_PATTERN = /^[a-z_][a-z0-9_]{0,62}$/;
