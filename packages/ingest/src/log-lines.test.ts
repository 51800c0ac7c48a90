import { describe, expect, it } from 'vitest';
import { coalescedLines } from './log-lines.js';

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('coalescedLines', () => {
  it('writes the lines of one event-loop turn in one call, in order, by the end of the turn', async () => {
    const writes: string[] = [];
    const out = coalescedLines((chunk) => writes.push(chunk));
    out.write('a\n');
    out.write('b\n');
    out.write('c\n');
    expect(writes).toEqual([]);
    await turn();
    expect(writes).toEqual(['a\nb\nc\n']);
    out.write('d\n');
    await turn();
    expect(writes).toEqual(['a\nb\nc\n', 'd\n']);
  });

  it('flush() writes what is queued at once, and nothing twice', async () => {
    const writes: string[] = [];
    const out = coalescedLines((chunk) => writes.push(chunk));
    out.write('a\n');
    out.write('b\n');
    out.flush();
    expect(writes).toEqual(['a\nb\n']);
    await turn();
    out.flush();
    expect(writes).toEqual(['a\nb\n']);
    out.write('c\n');
    await turn();
    expect(writes).toEqual(['a\nb\n', 'c\n']);
  });
});
