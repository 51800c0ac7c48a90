import { describe, expect, it } from 'vitest';
import { acceptRequest } from '../test-helpers/fixtures.js';
import { AcceptBatchReader, decodeAcceptResults, encodeAcceptBatch, REPLAYED, STORED } from './wire.js';

describe('accept batch wire format', () => {
  it('reads back every field of every request by name, nulls, empty and non-ASCII text included', () => {
    const plain = acceptRequest({ id: 'plain' });
    const decided = acceptRequest({ id: 'décidé ✓', key: null, status: 'rejected' });
    const rejected = {
      ...decided,
      signal: { ...decided.signal, message: '', decidedAt: 1_700_000_000_123, decidedBy: 'policy 🚫' },
      response: { status: 201, body: '{"message":"ünïcode"}' },
    };
    const reader = new AcceptBatchReader(encodeAcceptBatch([plain, rejected]));
    expect(reader.count).toBe(2);
    const read: unknown[] = [];
    while (reader.next()) {
      read.push({
        signal: {
          id: reader.id,
          producerId: reader.producerId,
          idempotencyKey: reader.idempotencyKey,
          instrument: reader.instrument,
          side: reader.side,
          status: reader.status,
          message: reader.message,
          body: reader.body,
          receivedAt: reader.receivedAt,
          decidedAt: reader.decidedAt,
          decidedBy: reader.decidedBy,
        },
        requestHash: reader.requestHash,
        idempotencyExpiresAt: reader.idempotencyExpiresAt,
        signature: reader.signature,
        signedAt: reader.signedAt,
        signatureExpiresAt: reader.signatureExpiresAt,
        response: { status: reader.responseStatus, body: reader.responseBody },
      });
    }
    expect(read).toEqual([plain, rejected]);
    expect(reader.next()).toBe(false);
  });

  it('refuses a batch whose text and lengths disagree, and anything not made by encodeAcceptBatch', () => {
    const wire = encodeAcceptBatch([acceptRequest({ id: 'one' })]);
    const reader = new AcceptBatchReader({ text: `${wire.text}extra`, numbers: wire.numbers });
    expect(reader.next()).toBe(true);
    expect(() => reader.next()).toThrow('its text and lengths disagree');
    expect(() => new AcceptBatchReader({ text: 'x', numbers: [] } as never)).toThrow(TypeError);
  });

  it('decodes results: stored, replayed, and a duplicate with its stored answer', () => {
    expect(
      decodeAcceptResults({ outcomes: [STORED, REPLAYED, ['hash', 201, '{"a":1}']], firstEventSeq: 7 }),
    ).toEqual([
      { outcome: 'stored' },
      { outcome: 'replayed-signature' },
      { outcome: 'duplicate', requestHash: 'hash', response: { status: 201, body: '{"a":1}' } },
    ]);
  });
});
