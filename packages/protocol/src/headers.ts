/** Path of the ingest route. The canonical string's ENDPOINT line is always this, whatever prefix the base URL has. */
export const INGEST_PATH = '/api/v1/signals/ingest' as const;

/** HTTP header names of wire protocol v1, as the producer sends them. */
export const HEADERS = Object.freeze({
  contentType: 'Content-Type',
  producerId: 'X-Producer-Id',
  timestamp: 'X-Timestamp',
  signature: 'X-Signature',
  idempotencyKey: 'X-Idempotency-Key',
  /** Sent by the server on a repeated request whose stored response is returned again. */
  idempotentReplayed: 'Idempotent-Replayed',
  retryAfter: 'Retry-After',
} as const);

/** `X-Producer-Id`: 1–64 characters of `[A-Za-z0-9._-]`. */
export const PRODUCER_ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

/** `X-Idempotency-Key`: 1–255 visible ASCII characters (0x21–0x7E). */
export const IDEMPOTENCY_KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;

/** A secret must be at least this many bytes (UTF-8). */
export const MIN_SECRET_BYTES = 16;

export function isValidProducerId(value: unknown): value is string {
  return typeof value === 'string' && PRODUCER_ID_PATTERN.test(value);
}

export function isValidIdempotencyKey(value: unknown): value is string {
  return typeof value === 'string' && IDEMPOTENCY_KEY_PATTERN.test(value);
}
