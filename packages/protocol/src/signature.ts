import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { INGEST_PATH } from './headers.js';
import { formatTimestamp } from './time.js';

/** A request body: the exact bytes sent, or a string that is sent as UTF-8. */
export type Body = string | Uint8Array;

/** The parts of a request that the signature covers. */
export interface SignatureInput {
  /** The producer's shared secret; its UTF-8 bytes are the HMAC key. */
  readonly secret: string | Uint8Array;
  /** The exact request body. */
  readonly body: Body;
  /** The `X-Timestamp` header value, byte for byte. */
  readonly timestamp: string;
  /** The `X-Producer-Id` header value. */
  readonly producerId: string;
}

export interface VerifyInput extends SignatureInput {
  /** The `X-Signature` header value as received. */
  readonly providedSignature: string;
}

/** Base64 (standard alphabet, padded) of SHA-256 of the body bytes. */
export function bodySha256(body: Body): string {
  return createHash('sha256').update(body).digest('base64');
}

/**
 * The canonical string of wire protocol v1: five lines joined by `\n`, no trailing newline.
 * @see docs/protocol.md
 */
export function buildCanonicalString(timestamp: string, producerId: string, body: Body): string {
  return `METHOD:POST\nENDPOINT:${INGEST_PATH}\nTIMESTAMP:${timestamp}\nPRODUCER_ID:${producerId}\nBODY_SHA256:${bodySha256(body)}`;
}

function hmac(input: SignatureInput) {
  return createHmac('sha256', input.secret).update(
    buildCanonicalString(input.timestamp, input.producerId, input.body),
  );
}

/**
 * Signs a request: base64 of HMAC-SHA256(secret, canonical string).
 *
 * @example
 * const signature = buildSignature({ secret, body, timestamp: currentTimestamp(), producerId: 'my-producer' });
 */
export function buildSignature(input: SignatureInput): string {
  return hmac(input).digest('base64');
}

const BASE64 = /^[A-Za-z0-9+/]{43}=$/;

/**
 * Verifies a signature in constant time over the decoded bytes.
 * Returns `false` on any malformed input (wrong types, bad base64, wrong length, empty); never throws.
 */
export function verifySignature(input: VerifyInput): boolean {
  try {
    const { providedSignature, secret, body, timestamp, producerId } = input;
    if (typeof providedSignature !== 'string' || !BASE64.test(providedSignature)) return false;
    if (typeof timestamp !== 'string' || typeof producerId !== 'string') return false;
    if (typeof secret !== 'string' && !(secret instanceof Uint8Array)) return false;
    if (typeof body !== 'string' && !(body instanceof Uint8Array)) return false;
    const provided = Buffer.from(providedSignature, 'base64');
    const expected = hmac(input).digest();
    // A 43-char base64 string can decode to 32 bytes with non-zero padding bits; re-encoding catches
    // such non-canonical spellings so one signature has exactly one accepted text form.
    if (provided.length !== expected.length || provided.toString('base64') !== providedSignature) {
      return false;
    }
    return timingSafeEqual(provided, expected);
  } catch {
    return false;
  }
}

/** Why an `X-Timestamp` is outside the accepted window: a detail to show, and problem+json extensions. */
export interface TimestampWindowProblem {
  /** Which way, by how much, and the server's time (clock skew is the commonest failure). */
  readonly detail: string;
  /** `server_timestamp` (RFC 3339) and `skew_seconds` (positive: the request is ahead). */
  readonly extensions: Readonly<{ server_timestamp: string; skew_seconds: number }>;
}

/**
 * Checks an `X-Timestamp` (parsed, epoch ms) against the receiver's clock: `undefined` when it is
 * within ±`toleranceSeconds` (the ingest server uses 300 s), otherwise what is wrong. Pure: the server,
 * the CLI and partners verifying signatures themselves share it, beside `verifySignature`.
 *
 * @example
 * const problem = checkTimestampWindow(parseTimestamp(headers['x-timestamp'])!, Date.now(), 300);
 * if (problem) reply(401, problem.detail);
 */
export function checkTimestampWindow(
  timestampMs: number,
  nowMs: number,
  toleranceSeconds: number,
): TimestampWindowProblem | undefined {
  const skewMs = timestampMs - nowMs;
  if (Math.abs(skewMs) <= toleranceSeconds * 1000) return undefined;
  const seconds = Math.ceil(Math.abs(skewMs) / 1000);
  const serverTimestamp = formatTimestamp(nowMs);
  const way = skewMs > 0 ? 'ahead of' : 'behind';
  return {
    detail:
      `X-Timestamp is ${seconds} s ${way} server time ${serverTimestamp}; ` +
      `the accepted window is ±${toleranceSeconds} s. Check the producer's clock (NTP) and sign each attempt afresh.`,
    extensions: { server_timestamp: serverTimestamp, skew_seconds: skewMs > 0 ? seconds : -seconds },
  };
}
