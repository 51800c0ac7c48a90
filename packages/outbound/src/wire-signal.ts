// The one serialiser of a signal: what `HmacClient.postSignal` sends and what the outbox stores (and
// later sends as these exact bytes). A `Date` timestamp is written as UTC with microseconds, the
// signal is validated with the protocol's rules, then turned into JSON once.
import {
  formatTimestamp,
  type SignalCandidate,
  type ValidationResult,
  validateSignal,
} from '@sigpost/protocol';

/**
 * A signal as `postSignal` and `Outbox.enqueue` take it: a `SignalCandidate` whose `timestamp` may also
 * be a `Date` (sent as `YYYY-MM-DDTHH:MM:SS.ffffffZ`).
 */
export type SignalInput = Omit<SignalCandidate, 'timestamp'> & { readonly timestamp: string | Date };

/** A valid signal and its JSON, the exact body bytes to send. */
export interface WireSignal {
  readonly value: SignalCandidate;
  readonly json: string;
}

/** Why a signal cannot be sent: one line per problem (`field: what is wrong`), and the error behind it. */
export interface WireSignalRefusal {
  readonly ok: false;
  readonly errors: readonly string[];
  readonly cause?: unknown;
}

/**
 * Formats a `Date` timestamp, validates and serialises `signal`. Never throws for bad data: an invalid
 * Date, a year outside 0000–9999, a rule of the protocol broken, or a `payload` that JSON cannot hold
 * (a BigInt, a cycle) all come back as `{ ok: false, errors }`.
 *
 * @example
 * const wire = toWireSignal(signal);
 * if (!wire.ok) throw new SignalValidationError(wire.errors, { cause: wire.cause });
 */
export function toWireSignal(signal: unknown): ({ readonly ok: true } & WireSignal) | WireSignalRefusal {
  let candidate = signal;
  const timestamp = (signal as { timestamp?: unknown } | null)?.timestamp;
  if (timestamp instanceof Date) {
    const time = timestamp.getTime();
    if (!Number.isFinite(time)) {
      return { ok: false, errors: ['timestamp: expected a valid Date, received Invalid Date'] };
    }
    try {
      candidate = { ...(signal as object), timestamp: formatTimestamp(time) };
    } catch (cause) {
      // RFC 3339 has 4-digit years: a Date outside 0000–9999 is bad data, not a programmer error.
      return { ok: false, errors: ['timestamp: expected a Date in the years 0000–9999'], cause };
    }
  }
  // validateSignal tries its allocation-free fast path first and uses zod only when it says no.
  const result: ValidationResult<SignalCandidate> = validateSignal(candidate);
  if (!result.ok) return { ok: false, errors: result.errors };
  try {
    return { ok: true, value: result.value, json: JSON.stringify(result.value) };
  } catch (cause) {
    // BigInt or a cycle inside `payload`.
    const reason = cause instanceof Error ? cause.message.split('\n')[0] : String(cause);
    return { ok: false, errors: [`payload: expected JSON-serialisable values (${reason})`], cause };
  }
}
