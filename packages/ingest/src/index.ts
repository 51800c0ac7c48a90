// @sigpost/ingest: the receiving side of wire protocol v1. PostgreSQL lives in the
// `@sigpost/ingest/postgres` subpath so SQLite users never load `pg` (openStore imports it lazily).

// The statuses of a stored signal (their home is @sigpost/protocol).
export { STORED_SIGNAL_STATUSES } from '@sigpost/protocol';
// Administration (producers, secrets, operator tokens) and signal decisions
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
export {
  Admin,
  bootstrapDevelopment,
  DEV_PRODUCER_ID,
  MAX_SCOPE_ITEMS,
  MAX_SECRET_BYTES,
} from './admin.js';
// App and server
export type { AppDeps } from './app.js';
export { buildApp } from './app.js';
export type { SecretOpener } from './checks/signature.js';
export type { Clock } from './clock.js';
export { systemClock } from './clock.js';
// Configuration
export type { RateLimitConfig, ServerConfig, ServerConfigInput } from './config.js';
export { DEFAULTS, ENV_NAMES, readConfigEnv, resolveConfig } from './config.js';
// Errors
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
export type { LineWriter } from './log-lines.js';
export { coalescedLines } from './log-lines.js';
// OpenAPI
export type { OpenApiOptions } from './openapi.js';
export { buildOpenApiDocument, renderDocsHtml } from './openapi.js';
// Stores and secrets at rest
export type { KeyFileOptions, SecretBoxErrorCode } from './secrets.js';
export {
  generateSecret,
  hashToken,
  isSealedSecret,
  isSecretBoxError,
  PREVIOUS_SECRET_KEYS_ENV,
  SECRET_KEY_ENV,
  SecretBox,
  SecretBoxError,
} from './secrets.js';
export type { RunningServer, StartServerOptions } from './server.js';
export { startServer } from './server.js';
// Environment names, log levels and name patterns (also at the light `./settings` subpath)
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
export type { SignalView } from './signals.js';
export {
  ApproveBodySchema,
  decideSignal,
  getSignalView,
  parseSignalQuery,
  RejectBodySchema,
  SignalListQuerySchema,
  signalViewJson,
  toSignalView,
} from './signals.js';
// Every error a store throws on purpose, its codes and its guard (the file holds nothing else).
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
export { CLOSE as STREAM_CLOSE_CODES, STREAM_PATH } from './stream/messages.js';
export type { TelegramApprovalsOptions } from './telegram/bot.js';
export { TELEGRAM_LEASE, TelegramApprovals } from './telegram/bot.js';
export type { TelegramApprovalConfig, TelegramConfigInput } from './telegram/config.js';
export {
  readTelegramEnv,
  resolveTelegramConfig,
  TELEGRAM_APPROVAL_ENV,
  TELEGRAM_DEFAULTS,
} from './telegram/config.js';
