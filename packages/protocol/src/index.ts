// Wire protocol v1 of Sigpost: pure functions and schemas, no I/O. See docs/protocol.md.

// Error brands (recognised across installed copies)
export { defineBrand } from './brand.js';
// Headers and limits
export {
  HEADERS,
  IDEMPOTENCY_KEY_PATTERN,
  INGEST_PATH,
  isValidIdempotencyKey,
  isValidProducerId,
  MIN_SECRET_BYTES,
  PRODUCER_ID_PATTERN,
} from './headers.js';
// Body limits
export type { JsonCheck, JsonCheckReason, JsonLimits } from './json-guard.js';
export { checkJson, JSON_LIMITS } from './json-guard.js';
export type { ProblemCode, ProblemDetails } from './problems.js';
// Problem details
export {
  isProblemDetails,
  PROBLEM_CONTENT_TYPE,
  PROBLEM_TYPE_PREFIX,
  PROBLEMS,
  problem,
  problemCode,
  problemType,
} from './problems.js';
export type { SignalIngestResponse, SignalStatus } from './response.js';
// Response
export {
  ingestResponseFast,
  parseIngestResponse,
  SIGNAL_STATUSES,
  SignalIngestResponseSchema,
} from './response.js';
export type { SignalCandidate, ValidationResult } from './signal.js';
// Signal
export {
  formatIssues,
  INSTRUMENT_PATTERN,
  SIGNAL_FIELDS,
  SignalCandidateSchema,
  validateSignal,
} from './signal.js';
export type { Body, SignatureInput, TimestampWindowProblem, VerifyInput } from './signature.js';
// Signing
export {
  bodySha256,
  buildCanonicalString,
  buildSignature,
  checkTimestampWindow,
  verifySignature,
} from './signature.js';
// Time
export { currentTimestamp, formatTimestamp, nowMs, parseTimestamp } from './time.js';
