// @sigpost/ingest: the receiving side of wire protocol v1. PostgreSQL lives in the
// `@sigpost/ingest/postgres` subpath so SQLite users never load `pg` (openStore imports it lazily).
// Each group's comment is detached from its exports by a blank line, which makes the group a chunk of
// its own: sorting (biome) then keeps every export under its comment.

// The server: listen and shut down, or build the fastify app without listening

export type { AppDeps } from './app.js';
export { buildApp } from './app.js';
export type { SecretOpener } from './checks/signature.js';
export type { Clock } from './clock.js';
export { systemClock } from './clock.js';
export type { LineWriter } from './log-lines.js';
export { coalescedLines } from './log-lines.js';
export type { RunningServer, StartServerOptions } from './server.js';
export { startServer } from './server.js';

// Configuration: settings, environment names, log levels and name patterns (also at the light
// `./settings` subpath), and the Telegram approvals' settings

export type { RateLimitConfig, ServerConfig, ServerConfigInput } from './config.js';
export { DEFAULTS, ENV_NAMES, readConfigEnv, resolveConfig } from './config.js';
export type { LogLevel } from './settings.js';
export {
  DEFAULT_LOG_LEVEL,
  HOST_PATTERN,
  ID_PATTERNS,
  LOG_LEVEL_ENV,
  LOG_LEVELS,
  SCHEMA_PATTERN,
  TOKEN_NAME_PATTERN,
} from './settings.js';
export type { TelegramApprovalConfig, TelegramConfigInput } from './telegram/config.js';
export {
  readTelegramEnv,
  resolveTelegramConfig,
  TELEGRAM_APPROVAL_ENV,
  TELEGRAM_DEFAULTS,
} from './telegram/config.js';

// Administration (producers, secrets, operator tokens, subscribers) and signal decisions

export type {
  AddProducerInput,
  AddSubscriberInput,
  DevelopmentCredentials,
  IssuedSecret,
  IssuedSubscriber,
  IssuedToken,
  ProducerSummary,
  ResealReport,
  SecretResealer,
  SecretSealer,
  SubscriberSummary,
} from './admin.js';
export { Admin, bootstrapDevelopment, DEV_PRODUCER_ID } from './admin.js';
export type { SignalView } from './signals.js';
export { decideSignal, getSignalView, parseSignalQuery, signalViewJson, toSignalView } from './signals.js';

// Errors of the library (configuration and input) and of the secret box

export type { IngestErrorCode, IngestErrorOptions, InputIssue } from './errors.js';
export {
  ConfigError,
  ConflictError,
  IngestError,
  InvalidInputError,
  isIngestError,
  NotFoundError,
  renderIssues,
} from './errors.js';
export type { KeyFileOptions, SecretBoxErrorCode } from './secrets.js';
export {
  hashToken,
  isSecretBoxError,
  PREVIOUS_SECRET_KEYS_ENV,
  SECRET_KEY_ENV,
  SecretBox,
  SecretBoxError,
} from './secrets.js';

// Stores: the contract, SQLite, opening one from options; every error a store throws on purpose,
// its codes and its guard (store/errors.ts holds nothing else); the statuses of a stored signal
// (their home is @sigpost/protocol)

export { STORED_SIGNAL_STATUSES } from '@sigpost/protocol';
export * from './store/errors.js';
export type { OpenStoreOptions } from './store/open.js';
export { openStore } from './store/open.js';
export type { SqliteStoreOptions } from './store/sqlite.js';
export { SqliteStore } from './store/sqlite.js';
export type {
  AcceptRequest,
  AcceptResult,
  ApprovalMode,
  DecisionChannel,
  DecisionResult,
  MigrateOptions,
  NewProducer,
  OperatorToken,
  Producer,
  ProducerSecret,
  SignalFilter,
  SignalPage,
  SignalRecord,
  Store,
  StoredResponse,
  StoredSignalStatus,
  StreamEvent,
  StreamPosition,
  Subscriber,
} from './store/store.js';

// The live stream and Telegram approvals

export { CLOSE as STREAM_CLOSE_CODES, STREAM_PATH } from './stream/messages.js';
export type { TelegramApprovalsOptions } from './telegram/bot.js';
export { TelegramApprovals } from './telegram/bot.js';
