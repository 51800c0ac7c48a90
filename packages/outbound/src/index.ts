// @sigpost/outbound: the producer SDK. Signs trading signals (HMAC-SHA256, wire protocol v1) and posts
// them to a Sigpost ingest server with retries. The durable outbox is the `@sigpost/outbound/outbox` subpath.

export type {
  IngestResponseStatus,
  ProblemDetails,
  SignalCandidate,
  SignalIngestResponse,
  SignalStatus,
} from '@sigpost/protocol';
export {
  buildSignature,
  currentTimestamp,
  formatTimestamp,
  INGEST_PATH,
  verifySignature,
} from '@sigpost/protocol';
export type { HmacClientOptions, PostSignalOptions, SignalInput } from './client.js';
// Client
export { HmacClient } from './client.js';
export type { OutboundConfigOptions } from './config.js';
// Configuration
export { DEFAULTS, ENV, LIMITS, OutboundConfig } from './config.js';
export type {
  ConfigIssue,
  ConfigIssueCode,
  OutboundClientErrorCode,
  OutboundClientErrorOptions,
  OutboundErrorCode,
  OutboundErrorOptions,
} from './errors.js';
// Errors
export {
  formatConfigIssues,
  isOutboundClientError,
  isOutboundConfigError,
  isOutboundError,
  isSignalValidationError,
  OUTBOUND_ERROR_CODES,
  OutboundClientError,
  OutboundConfigError,
  OutboundDisabledError,
  OutboundError,
  OutboundSignatureError,
  OutboundTimeoutError,
  SignalValidationError,
} from './errors.js';
export { MAX_RESPONSE_BYTES } from './http-attempt.js';
export type { OutboundLogFields, OutboundLogger } from './logger.js';
// Logging
export { LOG_FIELDS } from './logger.js';
export type {
  AttemptInfo,
  RetryDecision,
  RetryFailure,
  RetryInput,
  RetryOptions,
  RetryRunOptions,
  RetrySuccess,
} from './retry.js';
// Retry policy
export {
  backoffDelay,
  DEFAULT_RETRY,
  decideRetry,
  isPermanent,
  isRetryable,
  parseRetryAfter,
  resolveRetryOptions,
  runRetry,
} from './retry.js';
export type { SignedHeaders, SignRequestInput } from './signing.js';
// Signing (the protocol's functions, re-exported so producers need one import)
export { assertSignature, signRequest } from './signing.js';
