// Fixtures shared by the store tests and their child processes (no vitest import here).
import type { AcceptRequest, StoredSignalStatus } from '../store.js';

const DAY = 86_400_000; // ms

export const T0 = 1_761_403_845_000; // 2025-10-25T14:50:45Z

export interface RequestSpec {
  readonly id: string;
  readonly producerId?: string;
  /** `null`: no idempotency key. Default `key-<id>`. */
  readonly key?: string | null;
  readonly signature?: string;
  /** X-Timestamp of the request in ms. Default T0: one signature always comes with one timestamp. */
  readonly signedAt?: number;
  readonly at?: number;
  /** Lifetime of the idempotency record and the seen signature, in ms. Default one day. */
  readonly ttl?: number;
  readonly status?: StoredSignalStatus;
  readonly instrument?: string;
}

/** One valid accepted request; each test changes one thing. */
export function acceptRequest(spec: RequestSpec): AcceptRequest {
  const at = spec.at ?? T0;
  const key = spec.key === undefined ? `key-${spec.id}` : spec.key;
  const instrument = spec.instrument ?? 'GOLD';
  return {
    signal: {
      id: spec.id,
      producerId: spec.producerId ?? 'producer-a',
      idempotencyKey: key,
      instrument,
      side: 'buy',
      status: spec.status ?? 'received',
      message: null,
      body: `{"instrument":"${instrument}","side":"buy","reason":"${spec.id} ✓"}`,
      receivedAt: at,
      decidedAt: null,
      decidedBy: null,
    },
    requestHash: `hash-${spec.id}`,
    idempotencyExpiresAt: at + (spec.ttl ?? DAY),
    signature: spec.signature ?? `sig-${spec.id}`,
    signedAt: spec.signedAt ?? T0,
    signatureExpiresAt: at + (spec.ttl ?? DAY),
    response: { status: 201, body: `{"signal_id":"${spec.id}","status":"received"}` },
  };
}
