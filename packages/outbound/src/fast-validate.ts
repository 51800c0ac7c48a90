// Allocation-free check of a 201 answer, for the client's hot path. zod (the protocol's schemas) was a
// quarter of postSignal's own CPU time in bench/client.bench.ts, so the client tries this first and
// falls back to the protocol's parser only when it says no: the protocol stays the one authority (and
// the source of every error message), and this may only be stricter. fast-validate.test.ts checks with
// fast-check that "fast yes" implies "protocol yes". (The signal's fast path lives in the protocol's
// validateSignal itself, so the server benefits too.)
import { parseTimestamp, SIGNAL_STATUSES, type SignalIngestResponse } from '@sigpost/protocol';

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** The response when it is certainly a valid `SignalIngestResponse` (extra members dropped), else `undefined`. */
export function ingestResponseFast(value: unknown): SignalIngestResponse | undefined {
  if (!isPlainObject(value)) return undefined;
  const { signal_id, status, server_timestamp, message, errors } = value;
  if (typeof signal_id !== 'string' || signal_id.length === 0) return undefined;
  if (!(SIGNAL_STATUSES as readonly unknown[]).includes(status)) return undefined;
  if (typeof server_timestamp !== 'string' || parseTimestamp(server_timestamp) === undefined)
    return undefined;
  if (message !== null && typeof message !== 'string') return undefined;
  if (errors !== null && !(Array.isArray(errors) && errors.every((e) => typeof e === 'string')))
    return undefined;
  return {
    signal_id,
    status: status as SignalIngestResponse['status'],
    server_timestamp,
    message,
    errors: errors === null ? null : [...(errors as string[])],
  };
}
