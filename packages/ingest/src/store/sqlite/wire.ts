// The wire format of an accept batch between SqliteStore (event loop) and its writer (writer thread):
// per request `FIELDS_PER_REQUEST` values in one flat array (one structured clone per batch, never one
// message per request), at the offsets named in `FIELD`. The writer reads a batch back through
// `AcceptBatchReader`, one request at a time, by field name.
import type { AcceptRequest, AcceptResult } from '../store.js';

/**
 * Where each field of a request sits in its `FIELDS_PER_REQUEST` slots of `AcceptBatchWire.values`.
 */
export const FIELD = Object.freeze({
  id: 0,
  producerId: 1,
  idempotencyKey: 2,
  instrument: 3,
  side: 4,
  status: 5,
  message: 6,
  body: 7,
  decidedBy: 8,
  requestHash: 9,
  responseBody: 10,
  signature: 11,
  receivedAt: 12,
  decidedAt: 13,
  responseStatus: 14,
  idempotencyExpiresAt: 15,
  signedAt: 16,
  signatureExpiresAt: 17,
});
export const FIELDS_PER_REQUEST = 18;

/** An `AcceptRequest[]` on the wire (see the top of this file). */
export interface AcceptBatchWire {
  readonly values: (string | number | null)[];
}

export function encodeAcceptBatch(batch: readonly AcceptRequest[]): AcceptBatchWire {
  const values: (string | number | null)[] = new Array(batch.length * FIELDS_PER_REQUEST);
  let at = 0;
  for (const r of batch) {
    const s = r.signal;
    values[at + FIELD.id] = s.id;
    values[at + FIELD.producerId] = s.producerId;
    values[at + FIELD.idempotencyKey] = s.idempotencyKey;
    values[at + FIELD.instrument] = s.instrument;
    values[at + FIELD.side] = s.side;
    values[at + FIELD.status] = s.status;
    values[at + FIELD.message] = s.message;
    values[at + FIELD.body] = s.body;
    values[at + FIELD.decidedBy] = s.decidedBy;
    values[at + FIELD.requestHash] = r.requestHash;
    values[at + FIELD.responseBody] = r.response.body;
    values[at + FIELD.signature] = r.signature;
    values[at + FIELD.receivedAt] = s.receivedAt;
    values[at + FIELD.decidedAt] = s.decidedAt;
    values[at + FIELD.responseStatus] = r.response.status;
    values[at + FIELD.idempotencyExpiresAt] = r.idempotencyExpiresAt;
    values[at + FIELD.signedAt] = r.signedAt;
    values[at + FIELD.signatureExpiresAt] = r.signatureExpiresAt;
    at += FIELDS_PER_REQUEST;
  }
  return { values };
}

/**
 * Reads an `AcceptBatchWire` one request at a time: `next()` loads the next request into the
 * reader's fields (one object for the whole batch).
 */
export class AcceptBatchReader {
  id = '';
  producerId = '';
  idempotencyKey: string | null = null;
  instrument = '';
  side = '';
  status = '';
  message: string | null = null;
  body = '';
  decidedBy: string | null = null;
  requestHash = '';
  responseBody = '';
  signature = '';
  receivedAt = 0;
  decidedAt: number | null = null;
  responseStatus = 0;
  idempotencyExpiresAt = 0;
  signedAt = 0;
  signatureExpiresAt = 0;

  readonly #values: (string | number | null)[];
  #at = -FIELDS_PER_REQUEST;

  constructor(wire: AcceptBatchWire) {
    if (!Array.isArray(wire?.values) || wire.values.length % FIELDS_PER_REQUEST !== 0) {
      throw new TypeError('Expected an accept batch as encodeAcceptBatch makes it');
    }
    this.#values = wire.values;
  }

  /** Requests in the batch. */
  get count(): number {
    return this.#values.length / FIELDS_PER_REQUEST;
  }

  /** Loads the next request; false after the last one. */
  next(): boolean {
    this.#at += FIELDS_PER_REQUEST;
    const v = this.#values;
    const at = this.#at;
    if (at >= v.length) return false;
    this.id = v[at + FIELD.id] as string;
    this.producerId = v[at + FIELD.producerId] as string;
    this.idempotencyKey = v[at + FIELD.idempotencyKey] as string | null;
    this.instrument = v[at + FIELD.instrument] as string;
    this.side = v[at + FIELD.side] as string;
    this.status = v[at + FIELD.status] as string;
    this.message = v[at + FIELD.message] as string | null;
    this.body = v[at + FIELD.body] as string;
    this.decidedBy = v[at + FIELD.decidedBy] as string | null;
    this.requestHash = v[at + FIELD.requestHash] as string;
    this.responseBody = v[at + FIELD.responseBody] as string;
    this.signature = v[at + FIELD.signature] as string;
    this.receivedAt = v[at + FIELD.receivedAt] as number;
    this.decidedAt = v[at + FIELD.decidedAt] as number | null;
    this.responseStatus = v[at + FIELD.responseStatus] as number;
    this.idempotencyExpiresAt = v[at + FIELD.idempotencyExpiresAt] as number;
    this.signedAt = v[at + FIELD.signedAt] as number;
    this.signatureExpiresAt = v[at + FIELD.signatureExpiresAt] as number;
    return true;
  }
}

/**
 * Per request of a batch: `STORED`, `REPLAYED`, or the stored [requestHash, status, body] of the
 * duplicate it is.
 */
export type AcceptResultsWire = (typeof STORED | typeof REPLAYED | [string, number, string])[];
export const STORED = 0;
export const REPLAYED = 1;

const STORED_RESULT: AcceptResult = Object.freeze({ outcome: 'stored' });
const REPLAYED_RESULT: AcceptResult = Object.freeze({ outcome: 'replayed-signature' });

export function decodeAcceptResults(wire: AcceptResultsWire): AcceptResult[] {
  return wire.map((r) =>
    r === STORED
      ? STORED_RESULT
      : r === REPLAYED
        ? REPLAYED_RESULT
        : { outcome: 'duplicate', requestHash: r[0], response: { status: r[1], body: r[2] } },
  );
}
