// Allocation-free checks of a signal and of a 201 answer, for the client's hot path. zod (the
// protocol's schemas) was a quarter of postSignal's own CPU time in bench/client.bench.ts, so the client
// tries these first and falls back to the protocol's validators only when they say no: the protocol
// stays the one authority (and the source of every error message), and these may only be stricter.
// fast-validate.test.ts checks with fast-check that "fast yes" implies "protocol yes".
import {
  INSTRUMENT_PATTERN,
  parseTimestamp,
  SIGNAL_STATUSES,
  type SignalCandidate,
  type SignalIngestResponse,
} from '@sigpost/protocol';

const SIGNAL_KEYS: ReadonlySet<string> = new Set([
  'instrument',
  'side',
  'entry_price',
  'stop_loss',
  'take_profit',
  'confidence',
  'reason',
  'timestamp',
  'payload',
]);

const isPrice = (n: unknown): n is number => typeof n === 'number' && Number.isFinite(n) && n > 0;

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** True only for signals the protocol's `validateSignal` accepts; `false` means "ask the protocol". */
export function isValidSignalFast(value: unknown): value is SignalCandidate {
  if (!isPlainObject(value)) return false;
  for (const key in value) if (!SIGNAL_KEYS.has(key)) return false;
  const { instrument, side, entry_price, stop_loss, take_profit, confidence, reason, timestamp, payload } =
    value;
  if (typeof instrument !== 'string' || !INSTRUMENT_PATTERN.test(instrument)) return false;
  if (!isPrice(entry_price) || !isPrice(stop_loss) || !isPrice(take_profit)) return false;
  if (side === 'buy') {
    if (!(stop_loss < entry_price && take_profit > entry_price)) return false;
  } else if (side === 'sell') {
    if (!(stop_loss > entry_price && take_profit < entry_price)) return false;
  } else return false;
  if (typeof confidence !== 'number' || !(confidence >= 0 && confidence <= 1)) return false;
  if (typeof reason !== 'string' || reason.length < 1 || reason.length > 500) return false;
  if (parseTimestamp(timestamp) === undefined) return false;
  return payload === undefined || isPlainObject(payload);
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
