import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isContentLine, type Line, parseObjectLine, readLines } from './lines.js';

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
