import { z } from 'zod';
import { formatIssues, type ValidationResult } from './signal.js';
import { parseTimestamp } from './time.js';

export const SIGNAL_STATUSES = ['received', 'pending_approval', 'rejected'] as const;
export type SignalStatus = (typeof SIGNAL_STATUSES)[number];

/** The body of a `201 Created` answer to an ingest request. */
export const SignalIngestResponseSchema = z
  .object({
    signal_id: z
      .string()
      .min(1)
      .meta({ description: 'Server-assigned signal id.', example: 'sig_01JC3M5W8Q' }),
    status: z.enum(SIGNAL_STATUSES),
    server_timestamp: z
      .string()
      .refine((s) => parseTimestamp(s) !== undefined, { error: 'expected an RFC 3339 date-time' })
      .meta({ format: 'date-time' }),
    message: z.string().nullable(),
    errors: z.array(z.string()).nullable(),
  })
  .meta({ id: 'SignalIngestResponse', title: 'SignalIngestResponse' });

export type SignalIngestResponse = z.infer<typeof SignalIngestResponseSchema>;

/** Checks that a parsed JSON value is a `SignalIngestResponse`. */
export function parseIngestResponse(input: unknown): ValidationResult<SignalIngestResponse> {
  const parsed = SignalIngestResponseSchema.safeParse(input);
  return parsed.success
    ? { ok: true, value: parsed.data }
    : { ok: false, errors: formatIssues(parsed.error.issues) };
}
