import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateSignal } from '@sigpost/protocol';
import { afterAll, describe, expect, it } from 'vitest';
import { MAX_BODY_BYTES } from './input.js';
import {
  isContentLine,
  type Line,
  parseObjectLine,
  parseSignalLine,
  readLines,
  signalFileLines,
} from './lines.js';

const dir = mkdtempSync(join(tmpdir(), 'sigpost-lines-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function linesOf(text: string | Buffer, maxLineBytes = 1024): Promise<Line[]> {
  const path = join(dir, 'file.jsonl');
  writeFileSync(path, text);
  const lines: Line[] = [];
  for await (const line of readLines(path, maxLineBytes)) lines.push(line);
  return lines;
}

describe('readLines', () => {
  it('numbers lines from 1 and drops the \\r of CRLF endings', async () => {
    expect(await linesOf('a\r\nb\nc')).toEqual([
      { number: 1, text: 'a' },
      { number: 2, text: 'b' },
      { number: 3, text: 'c' },
    ]);
  });

  it('yields no extra line after a final newline, but keeps blank lines inside', async () => {
    expect(await linesOf('a\n\nb\n')).toEqual([
      { number: 1, text: 'a' },
      { number: 2, text: '' },
      { number: 3, text: 'b' },
    ]);
  });

  it('reports a line over the limit without holding it, and goes on with the next', async () => {
    expect(await linesOf(`${'x'.repeat(11)}\nshort\n`, 10)).toEqual([
      { number: 1, tooLong: true },
      { number: 2, text: 'short' },
    ]);
  });

  it('joins a line that spans several read chunks, and a character split between them', async () => {
    const long = `${'é'.repeat(70_000)}`; // 140 000 bytes: more than two 64 KiB chunks
    const lines = await linesOf(`${long}\nend`, 200_000);
    expect(lines).toEqual([
      { number: 1, text: long },
      { number: 2, text: 'end' },
    ]);
  });

  it('counts blank and whitespace-only lines as empty, and a too-long line as content', () => {
    expect(isContentLine({ number: 1, text: ' \t' })).toBe(false);
    expect(isContentLine({ number: 1, text: '{}' })).toBe(true);
    expect(isContentLine({ number: 1, tooLong: true })).toBe(true);
  });
});

describe('parseObjectLine', () => {
  it('refuses what the server would refuse of a body, by its path, before JSON.parse resolves it', () => {
    expect(parseObjectLine('{"a":{"b":1,"b":2}}')).toEqual({
      ok: false,
      problem:
        'a.b: duplicate key; each key may appear once per object (consumers disagree on which value wins)',
    });
    expect(parseObjectLine(`{"p":${'['.repeat(40)}${']'.repeat(40)}}`)).toEqual({
      ok: false,
      problem: `p${'[0]'.repeat(31)}: nested over the limit of 32 levels`,
    });
    expect(parseObjectLine('{"a":1')).toMatchObject({
      ok: false,
      problem: expect.stringMatching(/^not valid JSON \(/),
    });
    expect(parseObjectLine('[1]')).toEqual({
      ok: false,
      problem: 'expected a JSON object (one signal per line)',
    });
    expect(parseObjectLine('{"a":1,"b":{"a":2}}')).toEqual({ ok: true, value: { a: 1, b: { a: 2 } } });
  });
});

describe('parseSignalLine', () => {
  it('takes the idempotency_key out of the signal', () => {
    expect(parseSignalLine({ number: 1, text: '{"idempotency_key":"k-1","instrument":"GOLD"}' })).toEqual({
      ok: true,
      signal: { instrument: 'GOLD' },
      idempotencyKey: 'k-1',
    });
    expect(parseSignalLine({ number: 1, text: '{"instrument":"GOLD"}' })).toEqual({
      ok: true,
      signal: { instrument: 'GOLD' },
      idempotencyKey: undefined,
    });
  });

  it('reports a bad key, a line that is not an object and a too-long line', () => {
    expect(parseSignalLine({ number: 1, text: '{"idempotency_key":"a b"}' })).toEqual({
      ok: false,
      problems: ['idempotency_key: expected 1–255 visible ASCII characters'],
    });
    expect(parseSignalLine({ number: 2, text: '[1]' })).toEqual({
      ok: false,
      problems: ['expected a JSON object (one signal per line)'],
    });
    expect(parseSignalLine({ number: 3, tooLong: true })).toEqual({
      ok: false,
      problems: [`longer than ${MAX_BODY_BYTES} bytes`],
      tooLong: true,
    });
  });

  it('with a validator, lists the key problem and every signal problem at once', () => {
    const result = parseSignalLine({ number: 1, text: '{"idempotency_key":"","side":"up"}' }, validateSignal);
    expect(result.ok).toBe(false);
    const problems = result.ok ? [] : result.problems;
    expect(problems[0]).toBe('idempotency_key: expected 1–255 visible ASCII characters');
    expect(problems.some((p) => p.startsWith('side:'))).toBe(true);
  });
});

describe('signalFileLines', () => {
  it('yields the content lines only, numbered as in the file', async () => {
    const path = join(dir, 'signals.jsonl');
    writeFileSync(path, '{"a":1}\n\n  \n{"b":2}\n');
    const lines: Line[] = [];
    for await (const line of signalFileLines(path)) lines.push(line);
    expect(lines).toEqual([
      { number: 1, text: '{"a":1}' },
      { number: 4, text: '{"b":2}' },
    ]);
  });

  it('turns a read failure into a CommandFailedError naming the file and the code', async () => {
    const path = join(dir, 'missing.jsonl');
    await expect(async () => {
      for await (const _ of signalFileLines(path)) {
        // nothing: the file does not exist
      }
    }).rejects.toThrow(`cannot read --file ${path} (ENOENT)`);
  });
});
