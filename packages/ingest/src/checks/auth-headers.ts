// Check 2: `X-Producer-Id`, `X-Timestamp` and `X-Signature` present and well-formed.
import { HEADERS, isValidProducerId, parseTimestamp } from '@sigpost/protocol';
import type { IngestMetrics } from '../metrics.js';
import { refusal } from './refusal.js';

/** The authentication headers of an ingest request, checked for presence and form. */
export interface AuthHeaders {
  readonly producerId: string;
  readonly timestamp: string;
  /** `timestamp` parsed, in epoch ms. */
  readonly timestampMs: number;
  readonly signature: string;
}

export type HeaderBag = Readonly<Record<string, string | string[] | undefined>>;

const PRODUCER_ID = HEADERS.producerId.toLowerCase();
const TIMESTAMP = HEADERS.timestamp.toLowerCase();
const SIGNATURE = HEADERS.signature.toLowerCase();

function single(headers: HeaderBag, lowerCaseName: string): string | undefined {
  const value = headers[lowerCaseName];
  // Node joins repeated custom headers with ", "; an array only appears for a few standard names.
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

/**
 * Checks that `X-Producer-Id`, `X-Timestamp` and `X-Signature` are present and well-formed. The
 * signature is only checked for presence here: a malformed one fails verification like a wrong one.
 * Returns one detail line per problem, or the parsed headers.
 */
export function readAuthHeaders(
  headers: HeaderBag,
): { readonly ok: true; readonly value: AuthHeaders } | { readonly ok: false; readonly problems: string[] } {
  const producerId = single(headers, PRODUCER_ID);
  const timestamp = single(headers, TIMESTAMP);
  const signature = single(headers, SIGNATURE);
  const timestampMs = timestamp === undefined ? undefined : parseTimestamp(timestamp);
  if (
    producerId !== undefined &&
    timestampMs !== undefined &&
    signature !== undefined &&
    isValidProducerId(producerId)
  ) {
    return { ok: true, value: { producerId, timestamp: timestamp as string, timestampMs, signature } };
  }
  const problems: string[] = [];
  const missing = [
    producerId === undefined ? HEADERS.producerId : undefined,
    timestamp === undefined ? HEADERS.timestamp : undefined,
    signature === undefined ? HEADERS.signature : undefined,
  ].filter((n) => n !== undefined);
  if (missing.length > 0)
    problems.push(`missing ${missing.join(', ')} header${missing.length > 1 ? 's' : ''}`);
  if (producerId !== undefined && !isValidProducerId(producerId)) {
    problems.push(`${HEADERS.producerId} must be 1–64 characters of A-Z a-z 0-9 . _ -`);
  }
  if (timestamp !== undefined && timestampMs === undefined) {
    problems.push(`${HEADERS.timestamp} must be an RFC 3339 date-time such as 2025-10-25T14:30:45.123456Z`);
  }
  return { ok: false, problems };
}

/** The parsed headers, or 401 `missing-auth-headers` naming every missing or malformed one. */
export function checkAuthHeaders(headers: HeaderBag, metrics: IngestMetrics): AuthHeaders {
  const auth = readAuthHeaders(headers);
  if (auth.ok) return auth.value;
  metrics.verificationFailures.inc({ reason: 'missing-auth-headers' });
  throw refusal('missing-auth-headers', auth.problems.join('; '));
}
