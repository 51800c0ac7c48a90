// The replay guard: a signature is accepted once. Within the timestamp window (timestamp-window.ts)
// the very same signed bytes could be sent again by anyone who saw them; the store remembers every
// accepted signature, filed under its signed X-Timestamp, and the commit transaction refuses one it
// has seen (409 `replayed-signature`) — after the idempotency check, so an SDK retry of a request
// whose 201 was lost is answered from its key's record, even when it resends the same signed bytes.
// Remembered signatures expire (signatureExpiry) and are deleted by the purge timer (purge.ts).
import { refusal } from './refusal.js';

/**
 * How long a signature accepted at `nowMs` is remembered. A timestamp is accepted until it is
 * `tolerance` behind the clock, and it can be at most `tolerance` ahead of it now: remembering the
 * signature for 2 × tolerance covers its whole life (with room for another server's clock being a
 * little behind ours).
 */
export function signatureExpiry(nowMs: number, toleranceSeconds: number): number {
  return nowMs + 2 * toleranceSeconds * 1000;
}

/** The answer to a signature the store has already accepted. */
export function replayedSignature(): Error {
  return refusal(
    'replayed-signature',
    'this signature was already accepted; sign every new attempt with a fresh X-Timestamp',
  );
}
