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

// Issues: one problem with a config option, variable, flag or input field, and its renderings

export type { Issue, IssueCode } from './issues.js';
export { describeValue, issueLine, renderIssues } from './issues.js';

// Body limits

export type { JsonCheck, JsonCheckReason, JsonLimits } from './json-guard.js';
export { checkJson, JSON_LIMITS } from './json-guard.js';

// Problem details

export type { ProblemCode, ProblemDetails } from './problems.js';
export {
  isProblemDetails,
  PROBLEM_CONTENT_TYPE,
  PROBLEM_TYPE_PREFIX,
  PROBLEMS,
  problem,
  problemCode,
} from './problems.js';

// Response

export type { SignalIngestResponse } from './response.js';
export { ingestResponseFast, parseIngestResponse, SignalIngestResponseSchema } from './response.js';

// Signal

export type { SignalCandidate, ValidationResult } from './signal.js';
export {
  formatIssues,
  INSTRUMENT_PATTERN,
  isPlainObject,
  SIGNAL_FIELDS,
  SignalCandidateSchema,
  validateSignal,
} from './signal.js';

// Signing

export type { Body, SignatureInput, TimestampWindowProblem, VerifyInput } from './signature.js';
export {
  bodySha256,
  buildCanonicalString,
  buildSignature,
  checkTimestampWindow,
  verifySignature,
} from './signature.js';

// Signal statuses

export type { IngestResponseStatus, SignalStatus, StoredSignalStatus } from './statuses.js';
export {
  INGEST_RESPONSE_STATUSES,
  SIGNAL_STATUSES,
  STORED_SIGNAL_STATUSES,
} from './statuses.js';

// Time

export { currentTimestamp, formatTimestamp, nowMs, parseTimestamp } from './time.js';

// URLs

export type { UrlProblem, UrlRules } from './url.js';
export { checkUrl } from './url.js';
