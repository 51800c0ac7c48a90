import { buildSignature, HEADERS, type VerifyInput, verifySignature } from '@sigpost/protocol';
import { OutboundSignatureError } from './errors.js';

/** What `signRequest` needs: the exact body and the `X-Timestamp` it is signed at. */
export interface SignRequestInput {
  readonly secret: string | Uint8Array;
  readonly producerId: string;
  /** The exact body bytes that will be sent (a string is sent as UTF-8). */
  readonly body: string | Uint8Array;
  /** The `X-Timestamp` value, e.g. from `currentTimestamp()`. */
  readonly timestamp: string;
  readonly idempotencyKey: string;
}

/** The five request headers of wire protocol v1, with their exact names. */
export type SignedHeaders = {
  readonly 'Content-Type': 'application/json';
  readonly 'X-Producer-Id': string;
  readonly 'X-Timestamp': string;
  readonly 'X-Signature': string;
  readonly 'X-Idempotency-Key': string;
};

/**
 * Builds the headers of one signed ingest request; `HmacClient` calls it on every attempt with a
 * fresh timestamp. Use it to send signals through another HTTP client.
 *
 * @example
 * const headers = signRequest({ secret, producerId: 'desk-1', body, timestamp: currentTimestamp(), idempotencyKey: randomUUID() });
 * await fetch(`${base}/api/v1/signals/ingest`, { method: 'POST', headers, body });
 */
export function signRequest(input: SignRequestInput): SignedHeaders {
  const { secret, producerId, body, timestamp, idempotencyKey } = input;
  return {
    [HEADERS.contentType]: 'application/json',
    [HEADERS.producerId]: producerId,
    [HEADERS.timestamp]: timestamp,
    [HEADERS.signature]: buildSignature({ secret, body, timestamp, producerId }),
    [HEADERS.idempotencyKey]: idempotencyKey,
  };
}

/**
 * Verifies a signature (timing-safe) and throws when it does not match. The message names the
 * producer and timestamp, never the signature or the secret.
 *
 * @throws {OutboundSignatureError}
 * @example
 * assertSignature({ secret, body, timestamp, producerId, providedSignature: headers['x-signature'] });
 */
export function assertSignature(input: VerifyInput): void {
  if (verifySignature(input)) return;
  const producer =
    typeof input.producerId === 'string' ? JSON.stringify(input.producerId.slice(0, 64)) : 'unknown';
  const at = typeof input.timestamp === 'string' ? JSON.stringify(input.timestamp.slice(0, 40)) : 'unknown';
  throw new OutboundSignatureError(
    `Signature does not verify for producer ${producer} at timestamp ${at}: check the secret, and that the body was not re-serialised`,
  );
}
