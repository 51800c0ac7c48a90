import { independentSignature } from '@sigpost/test-support/fixtures';
import { goldenVectors } from '@sigpost/test-support/golden';
import { describe, expect, it } from 'vitest';
import { OutboundSignatureError } from './errors.js';
import { assertSignature, signRequest } from './signing.js';

describe('signRequest', () => {
  it('reproduces every golden vector of docs/protocol.md', () => {
    const vectors = goldenVectors();
    expect(vectors.length).toBeGreaterThanOrEqual(3);
    for (const vector of vectors) {
      const headers = signRequest({
        secret: vector.secret,
        producerId: vector.producerId,
        body: vector.body,
        timestamp: vector.timestamp,
        idempotencyKey: 'golden-key',
      });
      expect(headers, vector.name).toEqual({
        'Content-Type': 'application/json',
        'X-Producer-Id': vector.producerId,
        'X-Timestamp': vector.timestamp,
        'X-Signature': vector.signature,
        'X-Idempotency-Key': 'golden-key',
      });
    }
  });

  it('matches an independent node:crypto computation over the canonical string', () => {
    const body = '{"instrument":"GOLD"}';
    const timestamp = '2025-10-25T14:30:45.123456Z';
    const expected = independentSignature({
      secret: 'a-sixteen-byte-secret',
      producerId: 'p-1',
      timestamp,
      body,
    });
    const headers = signRequest({
      secret: 'a-sixteen-byte-secret',
      producerId: 'p-1',
      body,
      timestamp,
      idempotencyKey: 'k',
    });
    expect(headers['X-Signature']).toBe(expected);
  });
});

describe('assertSignature', () => {
  const secret = 'test-secret-key-min-16-bytes-long';
  const body = '{"instrument":"GOLD"}';
  const timestamp = '2025-10-25T14:30:45.123456Z';
  const producerId = 'test-producer';
  const signature = signRequest({ secret, producerId, body, timestamp, idempotencyKey: 'k' })['X-Signature'];
  const input = { secret, body, timestamp, producerId, providedSignature: signature };

  it('accepts a valid signature', () => {
    expect(() => assertSignature(input)).not.toThrow();
  });

  it('throws OutboundSignatureError naming producer and timestamp but neither signature nor secret', () => {
    const tampered = { ...input, body: `${body} ` };
    let caught: unknown;
    try {
      assertSignature(tampered);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(OutboundSignatureError);
    const message = (caught as Error).message;
    expect(message).toBe(
      'Signature does not verify for producer "test-producer" at timestamp "2025-10-25T14:30:45.123456Z": check the secret, and that the body was not re-serialised',
    );
    expect(message).not.toContain(signature);
    expect(message).not.toContain(secret);
  });
});
