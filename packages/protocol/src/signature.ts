import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { INGEST_PATH } from './headers.js';

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
