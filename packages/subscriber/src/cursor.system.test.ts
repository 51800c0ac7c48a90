// FileCursor across a killed consumer process (the in-process FileCursor tests: cursor.test.ts).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { killProcesses, startProcess } from '@sigpost/test-support/process';
import {
  type StreamServer,
  startStreamServer,
  TEST_EPOCH,
  TEST_TOKEN,
} from '@sigpost/test-support/stream-server';
import { afterAll, afterEach, describe, expect, it } from 'vitest';

const dir = mkdtempSync(join(tmpdir(), 'sigpost-cursor-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// A consumer process killed with SIGKILL resumes from its FileCursor: it neither skips an event nor
// handles one twice, except the one it was handling when it died.
describe('FileCursor across a consumer killed with SIGKILL', () => {
  const CONSUMER = fileURLToPath(new URL('./test-helpers/consumer.ts', import.meta.url));
  let server: StreamServer | undefined;
  afterEach(async () => {
    killProcesses();
    await server?.close();
  });

  function consumer(name: string, extra: Record<string, string> = {}) {
    const proc = startProcess(CONSUMER, [], {
      typescript: true,
      env: {
        STREAM_URL: server?.url ?? '',
        STREAM_TOKEN: TEST_TOKEN,
        CURSOR_FILE: join(dir, `${name}.cursor.json`),
        LOG_FILE: join(dir, `${name}.log`),
        ...extra,
      },
    });
    /** Resolves once the consumer has printed `handled <seq>` `count` times, or `handled <until>`. */
    const handled = (count: number, until?: number) =>
      proc.until(
        ({ stdout }) => {
          const lines: string[] = stdout.match(/^handled \d+$/gm) ?? [];
          return until === undefined ? lines.length >= count : lines.includes(`handled ${until}`);
        },
        until === undefined ? `${count} handled lines` : `handled ${until}`,
      );
    return { handled, kill: () => proc.kill() };
  }

  const log = (name: string) =>
    readFileSync(join(dir, `${name}.log`), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map(Number);

  it('killed inside the handler of seq 5: the restart handles 5 again, then 6…10, nothing skipped', async () => {
    server = await startStreamServer();
    for (let i = 0; i < 10; i += 1) server.append();
    const first = consumer('hang', { HANG_AT: '5' });
    await first.handled(5);
    await first.kill();
    expect(JSON.parse(readFileSync(join(dir, 'hang.cursor.json'), 'utf8'))).toEqual({
      epoch: TEST_EPOCH,
      seq: 4,
    });
    const second = consumer('hang');
    await second.handled(6);
    await second.kill();
    expect(log('hang')).toEqual([1, 2, 3, 4, 5, 5, 6, 7, 8, 9, 10]);
  });

  it('killed at arbitrary moments three times: each restart starts at the last handled seq or the next one', async () => {
    server = await startStreamServer();
    const total = 60;
    for (let i = 0; i < total; i += 1) server.append();
    const boundaries: number[] = [];
    for (const count of [7, 13, 9]) {
      const run = consumer('random');
      await run.handled(count);
      await run.kill();
      boundaries.push(log('random').length);
    }
    const last = consumer('random');
    const before = log('random').length;
    await last.handled(0, total);
    await last.kill();
    expect(before).toBe(boundaries.at(-1));
    const seen = log('random');
    // Every seq from 1 to total, in order; a seq repeats only across a kill, and only once.
    expect([...new Set(seen)]).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    let repeats = 0;
    for (let i = 1; i < seen.length; i += 1) {
      const step = (seen[i] ?? 0) - (seen[i - 1] ?? 0);
      if (step === 1) continue;
      expect(step).toBe(0);
      expect(boundaries).toContain(i);
      repeats += 1;
    }
    expect(repeats).toBeLessThanOrEqual(boundaries.length);
  });
});
