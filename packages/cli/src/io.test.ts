import { Writable } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { type CliIO, exitStatus, type NodeCliIO, nodeIO, nowOf, ProcessSink, writeAndWait } from './io.js';

/** An IO without a clock; nothing here is written or read. */
const CLOCKLESS: CliIO = {
  stdout: { write: () => true },
  stderr: { write: () => true },
  stdin: (async function* () {})(),
  env: {},
  isTTY: false,
};

afterEach(() => {
  vi.useRealTimers();
});

describe('nodeIO clock', () => {
  it('follows the system clock after it steps (not a monotonic clock started at launch)', () => {
    // Only Date is faked: performance.now() runs on, as a monotonic clock does across an NTP step or a suspend.
    vi.useFakeTimers({ toFake: ['Date'] });
    const stepped = Date.now() + 3_600_000;
    vi.setSystemTime(stepped);
    const now = nowOf(nodeIO());
    expect(now - stepped).toBeGreaterThanOrEqual(0);
    expect(now - stepped).toBeLessThan(1);
  });

  it('uses the IO clock when one is given', () => {
    expect(nowOf({ ...CLOCKLESS, now: () => 42.5 })).toBe(42.5);
  });

  it('falls back to the system clock when the IO has none', () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const stepped = Date.now() - 86_400_000;
    vi.setSystemTime(stepped);
    const now = nowOf(CLOCKLESS);
    expect(now - stepped).toBeGreaterThanOrEqual(0);
    expect(now - stepped).toBeLessThan(1);
  });
});

/** A stream whose writes fail with `code` from the `failAt`-th on (1-based); it keeps what it took. */
function failingStream(code: string, failAt: number) {
  const taken: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      if (taken.length + 1 >= failAt) {
        callback(Object.assign(new Error(`write ${code}`), { code, syscall: 'write' }));
        return;
      }
      taken.push(chunk.toString());
      callback();
    },
  });
  return { stream, taken };
}

describe('writeAndWait', () => {
  it('resolves once a ProcessSink handed the text on, and rejects with EPIPE once its reader went away', async () => {
    const { stream, taken } = failingStream('EPIPE', 2);
    const sink = new ProcessSink(stream);
    await writeAndWait(sink, 'first\n');
    expect(taken).toEqual(['first\n']);
    await expect(writeAndWait(sink, 'second\n')).rejects.toMatchObject({ code: 'EPIPE' });
    // Closed: later lines are refused at once, with the same error, and nothing is written.
    await expect(writeAndWait(sink, 'third\n')).rejects.toMatchObject({ code: 'EPIPE' });
    expect(taken).toEqual(['first\n']);
  });

  it('resolves at once on a sink that cannot report (a test capture)', async () => {
    const lines: string[] = [];
    await writeAndWait({ write: (text: string) => lines.push(text) }, 'x\n');
    expect(lines).toEqual(['x\n']);
  });
});

describe('ProcessSink', () => {
  it('drops writes quietly after EPIPE and records no failure', async () => {
    const { stream, taken } = failingStream('EPIPE', 2);
    const sink = new ProcessSink(stream);
    expect(sink.write('one\n')).toBe(true);
    sink.write('two\n');
    await new Promise((resolve) => stream.on('close', resolve));
    expect(sink.write('three\n')).toBe(false);
    expect(sink.closed).toBe(true);
    expect(sink.failure).toBeUndefined();
    expect(taken).toEqual(['one\n']);
  });

  it('records any other write failure, which exitStatus reports and turns into exit 1', async () => {
    const { stream } = failingStream('ENOSPC', 1);
    const sink = new ProcessSink(stream);
    sink.write('result\n');
    await new Promise((resolve) => stream.on('close', resolve));
    expect(sink.failure?.code).toBe('ENOSPC');
    const errors: string[] = [];
    const io = {
      stdout: sink,
      stderr: { write: (text: string) => errors.push(text) },
    } as unknown as NodeCliIO;
    expect(await exitStatus(0, io)).toBe(1);
    expect(await exitStatus(2, io)).toBe(2);
    expect(errors[0]).toBe(
      'error: could not write the output to stdout (ENOSPC); the work was done, but the rest of its output is lost\n',
    );
  });

  it('leaves the exit status alone after EPIPE', async () => {
    const { stream } = failingStream('EPIPE', 1);
    const sink = new ProcessSink(stream);
    sink.write('result\n');
    await new Promise((resolve) => stream.on('close', resolve));
    const io = { stdout: sink, stderr: { write: () => true } } as unknown as NodeCliIO;
    expect(await exitStatus(0, io)).toBe(0);
    expect(await exitStatus(1, io)).toBe(1);
  });
});
