import { INGEST_RESPONSE } from '@sigpost/test-support/fixtures';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ingestResponseFast, parseIngestResponse, SignalIngestResponseSchema } from './response.js';

const RESPONSE = INGEST_RESPONSE;

describe('ingestResponseFast', () => {
  it('returns the five fields of a valid response and drops extra members, as the protocol does', () => {
    const withExtra = { ...RESPONSE, errors: ['a'], extra: true };
    const parsed = parseIngestResponse(withExtra);
    expect(parsed.ok && parsed.value).toEqual({ ...RESPONSE, errors: ['a'] });
    expect(ingestResponseFast(withExtra)).toEqual({ ...RESPONSE, errors: ['a'] });
  });

  it('agrees with the schema whenever it answers', () => {
    const mutated = fc.oneof(
      fc
        .tuple(fc.constantFrom(...Object.keys(RESPONSE)), fc.anything())
        .map(([key, value]) => ({ ...RESPONSE, [key]: value })),
      fc
        .constantFrom(...['received', 'pending_approval', 'rejected', 'accepted'])
        .map((status) => ({ ...RESPONSE, status })),
      fc.anything(),
    );
    fc.assert(
      fc.property(mutated, (value) => {
        const fast = ingestResponseFast(value);
        if (fast === undefined) return;
        // The zod schema alone: parseIngestResponse itself now tries this fast path first.
        const parsed = SignalIngestResponseSchema.safeParse(value);
        expect(parsed.success).toBe(true);
        if (parsed.success) expect(fast).toEqual(parsed.data);
      }),
      { numRuns: 2000 },
    );
  });

  it.each<[string, Record<string, unknown>]>([
    ['an empty signal_id', { signal_id: '' }],
    ['an unknown status', { status: 'accepted' }],
    ['a server_timestamp that is not RFC 3339', { server_timestamp: 'yesterday' }],
    ['a missing message', { message: undefined }],
    ['errors with a number', { errors: ['ok', 1] }],
  ])('refuses %s', (_name, change) => {
    expect(ingestResponseFast({ ...RESPONSE, ...change })).toBeUndefined();
  });

  it('leaves the error messages to the schema: parseIngestResponse still names the field', () => {
    expect(parseIngestResponse({ ...RESPONSE, status: 'accepted' })).toEqual({
      ok: false,
      errors: [expect.stringMatching(/^status: /)],
    });
  });
});
