// @sigpost/outbound: the producer SDK. Signs trading signals (HMAC-SHA256, wire protocol v1) and posts
// them to a Sigpost ingest server with retries. The durable outbox is the `@sigpost/outbound/outbox` subpath.

// The protocol's types and functions producers use, re-exported so they need one import

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

// Client

export type { HmacClientOptions, PostSignalOptions, SignalInput } from './client.js';
export { HmacClient } from './client.js';

// Configuration

export type { OutboundConfigOptions } from './config.js';
export { DEFAULTS, ENV, LIMITS, OutboundConfig } from './config.js';

// Errors

export type {
  ConfigIssue,
  ConfigIssueCode,
  OutboundClientErrorCode,
  OutboundClientErrorOptions,
  OutboundErrorCode,
  OutboundErrorOptions,
} from './errors.js';
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

// Logging

export type { OutboundLogFields, OutboundLogger } from './logger.js';
export { LOG_FIELDS } from './logger.js';

// Retry policy

export type {
  AttemptInfo,
  RetryDecision,
  RetryFailure,
  RetryInput,
  RetryOptions,
  RetryRunOptions,
  RetrySuccess,
} from './retry.js';
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

// Signing (the protocol's functions, re-exported so producers need one import)

export type { SignedHeaders, SignRequestInput } from './signing.js';
export { assertSignature, signRequest } from './signing.js';
