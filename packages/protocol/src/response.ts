import { z } from 'zod';
import { formatIssues, isPlainObject, type ValidationResult } from './signal.js';
import { INGEST_RESPONSE_STATUSES, type IngestResponseStatus } from './statuses.js';
import { parseTimestamp } from './time.js';

/** The body of a `201 Created` answer to an ingest request. */
export const SignalIngestResponseSchema = z
  .object({
    signal_id: z
      .string()
      .min(1)
      .meta({ description: 'Server-assigned signal id.', example: 'sig_01JC3M5W8Q' }),
    status: z.enum(INGEST_RESPONSE_STATUSES),
    server_timestamp: z
      .string()
      .refine((s) => parseTimestamp(s) !== undefined, { error: 'expected an RFC 3339 date-time' })
      .meta({ format: 'date-time' }),
    message: z.string().nullable(),
    errors: z.array(z.string()).nullable(),
  })
  .meta({ id: 'SignalIngestResponse', title: 'SignalIngestResponse' });

export type SignalIngestResponse = z.infer<typeof SignalIngestResponseSchema>;

/**
 * Checks that a parsed JSON value is a `SignalIngestResponse` (extra members are dropped). Tries the
 * allocation-free `ingestResponseFast` first and the zod schema only when it says no, as
 * `validateSignal` does: the schema stays the one source of error messages.
 */
export function parseIngestResponse(input: unknown): ValidationResult<SignalIngestResponse> {
  const fast = ingestResponseFast(input);
  if (fast !== undefined) return { ok: true, value: fast };
  const parsed = SignalIngestResponseSchema.safeParse(input);
  return parsed.success
    ? { ok: true, value: parsed.data }
    : { ok: false, errors: formatIssues(parsed.error.issues) };
}

/**
 * Allocation-free check of a 201 answer, tried by `parseIngestResponse` before the schema: zod was a
 * quarter of `postSignal`'s own CPU time in bench/client.bench.ts. Returns the response (extra members
 * dropped) only when `SignalIngestResponseSchema` accepts it too (it may only be stricter;
 * response-fast.test.ts checks that with fast-check); `undefined` means "ask the schema".
 */
export function ingestResponseFast(value: unknown): SignalIngestResponse | undefined {
  if (!isPlainObject(value)) return undefined;
  const { signal_id, status, server_timestamp, message, errors } = value;
  if (typeof signal_id !== 'string' || signal_id.length === 0) return undefined;
  if (!(INGEST_RESPONSE_STATUSES as readonly unknown[]).includes(status)) return undefined;
  if (typeof server_timestamp !== 'string' || parseTimestamp(server_timestamp) === undefined)
    return undefined;
  if (message !== null && typeof message !== 'string') return undefined;
  if (errors !== null && !(Array.isArray(errors) && errors.every((e) => typeof e === 'string')))
    return undefined;
  return {
    signal_id,
    status: status as IngestResponseStatus,
    server_timestamp,
    message,
    errors: errors === null ? null : [...(errors as string[])],
  };
}
