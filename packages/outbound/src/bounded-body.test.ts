import { describe, expect, it } from 'vitest';
import { readBounded } from './bounded-body.js';

async function* chunks(...parts: string[]): AsyncGenerator<Uint8Array> {
  for (const part of parts) yield Buffer.from(part);
}

describe('readBounded', () => {
  it('reads a body within the limit as UTF-8 text, across chunks', async () => {
    let cancelled = 0;
    const text = await readBounded(chunks('{"ok":', 'true,"é":1}'), 64, () => cancelled++);
    expect(text).toBe('{"ok":true,"é":1}');
    expect(cancelled).toBe(0);
  });

  it('refuses a declared length over the limit before reading, and cancels the body', async () => {
    let cancelled = 0;
    let read = false;
    async function* body(): AsyncGenerator<Uint8Array> {
      read = true;
      yield Buffer.from('x');
    }
    expect(await readBounded(body(), 10, () => cancelled++, '11')).toBeUndefined();
    expect(cancelled).toBe(1);
    expect(read).toBe(false);
  });

  it('refuses a body that grows past the limit while streaming, and cancels it', async () => {
    let cancelled = 0;
    expect(await readBounded(chunks('12345', '67890', 'x'), 10, () => cancelled++)).toBeUndefined();
    expect(cancelled).toBe(1);
    expect(await readBounded(chunks('12345', '67890'), 10, () => cancelled++)).toBe('1234567890');
  });
});
