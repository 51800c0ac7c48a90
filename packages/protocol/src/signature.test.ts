import { goldenVectors } from '@sigpost/test-support/golden';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  bodySha256,
  buildCanonicalString,
  buildSignature,
  checkTimestampWindow,
  verifySignature,
} from './index.js';

const vectors = goldenVectors();

describe('golden vectors from docs/protocol.md', () => {
  it('has the ASCII, non-ASCII and empty-body vectors', () => {
    expect(vectors).toHaveLength(3);
    expect(vectors.some((v) => v.body === '')).toBe(true);
    expect(vectors.some((v) => Buffer.byteLength(v.body) !== v.body.length)).toBe(true);
  });

  for (const v of vectors) {
    it(`${v.name}: canonical string, body hash and signature match byte for byte`, () => {
      expect(bodySha256(v.body)).toBe(v.bodySha256);
      expect(buildCanonicalString(v.timestamp, v.producerId, v.body)).toBe(v.canonical);
      expect(
        buildSignature({ secret: v.secret, body: v.body, timestamp: v.timestamp, producerId: v.producerId }),
      ).toBe(v.signature);
    });

    it(`${v.name}: a body given as bytes signs the same as the string`, () => {
      const bytes = new TextEncoder().encode(v.body);
      expect(
        buildSignature({ secret: v.secret, body: bytes, timestamp: v.timestamp, producerId: v.producerId }),
      ).toBe(v.signature);
      expect(verifySignature({ ...v, body: bytes, providedSignature: v.signature })).toBe(true);
    });
  }
});

describe('verifySignature', () => {
  const v = vectors[0]!;
  const valid = { secret: v.secret, body: v.body, timestamp: v.timestamp, producerId: v.producerId };

  it('accepts the golden signature', () => {
    expect(verifySignature({ ...valid, providedSignature: v.signature })).toBe(true);
  });

  it.each([
    ['an empty signature', ''],
    ['bad base64', '!!!!not-base64!!!!'],
    ['base64 of the wrong length', Buffer.alloc(31).toString('base64')],
    ['unpadded base64', v.signature.replace(/=$/, '')],
    ['url-safe alphabet', v.signature.replaceAll('+', '-').replaceAll('/', '_')],
    ['surrounding whitespace', ` ${v.signature}`],
    ['a hex signature', Buffer.from(v.signature, 'base64').toString('hex')],
  ])('returns false for %s', (_name, providedSignature) => {
    expect(verifySignature({ ...valid, providedSignature })).toBe(false);
  });

  it('rejects a non-canonical base64 spelling of the right bytes', () => {
    // The last base64 char carries 2 padding bits; flipping them keeps the decoded bytes the same.
    const last = v.signature.at(-2)!;
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
    const twin = alphabet[alphabet.indexOf(last) ^ 1]!;
    const spelled = `${v.signature.slice(0, -2)}${twin}=`;
    expect(Buffer.from(spelled, 'base64').equals(Buffer.from(v.signature, 'base64'))).toBe(true);
    expect(verifySignature({ ...valid, providedSignature: spelled })).toBe(false);
  });

  it('never throws on wrong types', () => {
    const bad = [undefined, null, 42, {}, [], Symbol('x')];
    for (const x of bad) {
      for (const key of ['secret', 'body', 'timestamp', 'producerId', 'providedSignature']) {
        expect(verifySignature({ ...valid, providedSignature: v.signature, [key]: x } as never)).toBe(false);
      }
    }
    expect(verifySignature(undefined as never)).toBe(false);
  });

  it('ignores the path prefix of a base URL: ENDPOINT is always the route path', () => {
    expect(buildCanonicalString('t', 'p', '')).toContain('\nENDPOINT:/api/v1/signals/ingest\n');
  });
});

const flipBit = (bytes: Uint8Array, bit: number): Uint8Array => {
  const out = Uint8Array.from(bytes);
  const i = Math.floor(bit / 8) % out.length;
  out[i] = (out[i] ?? 0) ^ (1 << (bit % 8));
  return out;
};
const utf8 = (s: string) => new TextEncoder().encode(s);
const latin1 = (b: Uint8Array) => Buffer.from(b).toString('latin1');

describe('verifySignature rejects any single-bit change (property)', () => {
  const arbRequest = fc.record({
    secret: fc.string({ minLength: 16, maxLength: 64 }),
    body: fc.uint8Array({ minLength: 1, maxLength: 512 }),
    timestamp: fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
    producerId: fc.stringMatching(/^[A-Za-z0-9._-]{1,64}$/),
  });

  it('of the body', () => {
    fc.assert(
      fc.property(arbRequest, fc.nat(), (req, bit) => {
        const sig = buildSignature(req);
        return !verifySignature({
          ...req,
          body: flipBit(req.body, bit % (req.body.length * 8)),
          providedSignature: sig,
        });
      }),
    );
  });

  it('of the timestamp', () => {
    fc.assert(
      fc.property(arbRequest, fc.nat(), (req, bit) => {
        const sig = buildSignature(req);
        const ts = latin1(flipBit(utf8(req.timestamp), bit % (req.timestamp.length * 8)));
        return !verifySignature({ ...req, timestamp: ts, providedSignature: sig });
      }),
    );
  });

  it('of the producer id', () => {
    fc.assert(
      fc.property(arbRequest, fc.nat(), (req, bit) => {
        const sig = buildSignature(req);
        const id = latin1(flipBit(utf8(req.producerId), bit % (req.producerId.length * 8)));
        return !verifySignature({ ...req, producerId: id, providedSignature: sig });
      }),
    );
  });

  it('of the signature', () => {
    fc.assert(
      fc.property(arbRequest, fc.integer({ min: 0, max: 255 }), (req, bit) => {
        const sig = Buffer.from(buildSignature(req), 'base64');
        const flipped = Buffer.from(flipBit(sig, bit)).toString('base64');
        return !verifySignature({ ...req, providedSignature: flipped });
      }),
    );
  });
});

// Moved from packages/ingest/src/ingest/verify-signature.test.ts with the function.
describe('checkTimestampWindow', () => {
  const NOW = Date.parse('2025-10-25T14:30:45.000Z');

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

  it('gives the server time and the signed skew as extensions', () => {
    expect(checkTimestampWindow(NOW - 301_000, NOW, 300)?.extensions).toEqual({
      server_timestamp: '2025-10-25T14:30:45.000000Z',
      skew_seconds: -301,
    });
    expect(checkTimestampWindow(NOW + 2_500, NOW, 2)?.extensions.skew_seconds).toBe(3);
  });
});
