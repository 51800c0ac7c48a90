import { describe, expect, it } from 'vitest';
import { checkTimestampWindow, readAuthHeaders, readIdempotencyKey } from './verify-signature.js';

const NOW = Date.parse('2025-10-25T14:30:45.000Z');

describe('checkTimestampWindow', () => {
  it.each([
    [-300_000, undefined],
    [300_000, undefined],
    [-300_001, 'X-Timestamp is 301 s behind server time 2025-10-25T14:30:45.000000Z'],
    [300_001, 'X-Timestamp is 301 s ahead of server time 2025-10-25T14:30:45.000000Z'],
    [-86_400_000, 'X-Timestamp is 86400 s behind server time 2025-10-25T14:30:45.000000Z'],
  ])('skew %i ms → %s', (skew, start) => {
    const result = checkTimestampWindow(NOW + skew, NOW, 300);
    if (start === undefined) expect(result).toBeUndefined();
    else expect(result?.detail.startsWith(`${start};`)).toBe(true);
  });
});

describe('readAuthHeaders', () => {
  const valid = {
    'x-producer-id': 'p1',
    'x-timestamp': '2025-10-25T14:30:45.123456Z',
    'x-signature': 'AAAA',
  };

  it('parses well-formed headers', () => {
    expect(readAuthHeaders(valid)).toEqual({
      ok: true,
      value: {
        producerId: 'p1',
        timestamp: '2025-10-25T14:30:45.123456Z',
        timestampMs: Date.parse('2025-10-25T14:30:45.123Z') + 0.456,
        signature: 'AAAA',
      },
    });
  });

  it('treats an empty header as missing', () => {
    expect(readAuthHeaders({ ...valid, 'x-signature': '' })).toEqual({
      ok: false,
      problems: ['missing X-Signature header'],
    });
  });

  it('reports a missing header and a malformed one together', () => {
    expect(readAuthHeaders({ 'x-producer-id': 'p 1', 'x-timestamp': 'yesterday' })).toEqual({
      ok: false,
      problems: [
        'missing X-Signature header',
        'X-Producer-Id must be 1–64 characters of A-Z a-z 0-9 . _ -',
        'X-Timestamp must be an RFC 3339 date-time such as 2025-10-25T14:30:45.123456Z',
      ],
    });
  });
});

describe('readIdempotencyKey', () => {
  it.each([
    [undefined, null],
    ['abc-123', 'abc-123'],
    ['', 'invalid'],
    ['a b', 'invalid'],
    ['x'.repeat(256), 'invalid'],
    [['a', 'b'], 'invalid'],
  ])('%j → %j', (value, expected) => {
    expect(readIdempotencyKey({ 'x-idempotency-key': value })).toBe(expected);
  });
});
