import { describe, expect, it } from 'vitest';
import { formatDuration, ProgressBar } from './progress.js';

const CLEAR = '\r\x1b[2K';

function setup(options: { isTTY: boolean; total?: number; throttleMs?: number }) {
  const writes: string[] = [];
  let now = 1_000;
  const bar = new ProgressBar({
    total: options.total ?? 4,
    stream: { write: (s: string) => writes.push(s) },
    isTTY: options.isTTY,
    now: () => now,
    width: 8,
    ...(options.throttleMs === undefined ? {} : { throttleMs: options.throttleMs }),
  });
  return { bar, writes, advance: (ms: number) => (now += ms) };
}

describe('ProgressBar on a terminal', () => {
  it('draws count/total, the rate and the ETA in place', () => {
    const { bar, writes, advance } = setup({ isTTY: true });
    advance(1_000);
    bar.tick();
    expect(writes).toEqual([`${CLEAR}[##------] 1/4  1.0/s  ETA 3s`]);
  });

  it('shows an unknown rate and ETA before any time has passed', () => {
    const { bar, writes } = setup({ isTTY: true });
    bar.tick();
    expect(writes).toEqual([`${CLEAR}[##------] 1/4  –/s  ETA ?`]);
  });

  it('redraws at most once per throttle interval', () => {
    const { bar, writes, advance } = setup({ isTTY: true, total: 10, throttleMs: 100 });
    bar.tick();
    advance(50);
    bar.tick();
    advance(49);
    bar.tick();
    expect(writes).toHaveLength(1);
    advance(1);
    bar.tick();
    expect(writes).toHaveLength(2);
    expect(writes[1]).toBe(`${CLEAR}[###-----] 4/10  40.0/s  ETA 0s`);
  });

  it('always draws the last item, even inside the throttle interval', () => {
    const { bar, writes } = setup({ isTTY: true, total: 2 });
    bar.tick();
    bar.tick();
    expect(writes.at(-1)).toBe(`${CLEAR}[########] 2/2  –/s  ETA 0s`);
  });

  it('writes a log line above the bar and redraws the bar under it', () => {
    const { bar, writes } = setup({ isTTY: true });
    bar.tick();
    bar.log('line 2: not valid JSON');
    expect(writes.slice(1)).toEqual([
      `${CLEAR}line 2: not valid JSON\n`,
      `${CLEAR}[##------] 1/4  –/s  ETA ?`,
    ]);
  });

  it('replaces the bar with the summary line when finished', () => {
    const { bar, writes } = setup({ isTTY: true });
    bar.tick(4);
    bar.finish('sent 4, failed 0 of 4 in 0.0s');
    expect(writes.at(-1)).toBe(`${CLEAR}sent 4, failed 0 of 4 in 0.0s\n`);
  });
});

describe('ProgressBar elsewhere', () => {
  it('draws nothing when stderr is not a terminal', () => {
    const { bar, writes, advance } = setup({ isTTY: false });
    advance(1_000);
    bar.tick(4);
    expect(writes).toEqual([]);
  });

  it('writes log lines and the summary as plain lines', () => {
    const { bar, writes, advance } = setup({ isTTY: false });
    bar.tick();
    bar.log('line 2: not valid JSON');
    advance(1_300);
    bar.finish(`sent 3 in ${formatDuration(bar.elapsedMs())}`);
    expect(writes).toEqual(['line 2: not valid JSON\n', 'sent 3 in 1.3s\n']);
  });
});

describe('formatDuration', () => {
  it.each([
    [0, '0.0s'],
    [1_250, '1.3s'],
    [59_940, '59.9s'],
    [59_960, '1m00s'],
    [125_000, '2m05s'],
    [3_720_000, '1h02m'],
    [-5, '0.0s'],
  ])('%d ms is %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });
});
