import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  type StreamServer,
  startStreamServer,
  TEST_EPOCH,
  TEST_TOKEN,
} from '../../../test-support/stream-server.js';
import { FileCursor, MemoryCursor } from './cursor.js';

const dir = mkdtempSync(join(tmpdir(), 'sigpost-cursor-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('FileCursor', () => {
  it('returns null before the first save, then what was saved, as a small JSON file', async () => {
    const path = join(dir, 'a.json');
    const cursor = new FileCursor(path);
    expect(await cursor.load()).toBeNull();
    await cursor.save({ epoch: 'ep_1', seq: 41 });
    await cursor.save({ epoch: 'ep_1', seq: 42 });
    expect(await new FileCursor(path).load()).toEqual({ epoch: 'ep_1', seq: 42 });
    expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual({ epoch: 'ep_1', seq: 42 });
    // The temporary file was renamed over the cursor: nothing else is left in the directory.
    expect(readdirSync(dir).filter((f) => f.startsWith('.a.json'))).toEqual([]);
  });

  it('with fsync: false saves and loads the same way', async () => {
    const path = join(dir, 'nofsync.json');
    const cursor = new FileCursor(path, { fsync: false });
    await cursor.save({ epoch: 'ep_1', seq: 7 });
    expect(await new FileCursor(path).load()).toEqual({ epoch: 'ep_1', seq: 7 });
    expect(() => new FileCursor(path, { fsync: 'no' as never })).toThrow(/fsync/);
  });

  it('refuses a corrupt or foreign file with SUBSCRIBER_CURSOR_FAILED naming the file', async () => {
    const path = join(dir, 'bad.json');
    writeFileSync(path, '{"seq": -1}');
    await expect(new FileCursor(path).load()).rejects.toMatchObject({
      code: 'SUBSCRIBER_CURSOR_FAILED',
      message: expect.stringContaining(path),
    });
    writeFileSync(path, 'not json');
    await expect(new FileCursor(path).load()).rejects.toMatchObject({ code: 'SUBSCRIBER_CURSOR_FAILED' });
  });

  it('reports a save it cannot make (missing directory) with SUBSCRIBER_CURSOR_FAILED and a cause', async () => {
    const cursor = new FileCursor(join(dir, 'missing', 'c.json'));
    const error = await cursor.save({ epoch: null, seq: 1 }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'SUBSCRIBER_CURSOR_FAILED', cause: { code: 'ENOENT' } });
  });

  it('MemoryCursor validates its initial position', () => {
    expect(() => new MemoryCursor({ epoch: '', seq: 1 })).toThrow(/not a cursor/);
    expect(new MemoryCursor({ epoch: null, seq: 3 }).position).toEqual({ epoch: null, seq: 3 });
  });
});

// A consumer process killed with SIGKILL resumes from its FileCursor: it neither skips an event nor
// handles one twice, except the one it was handling when it died.
describe('FileCursor across a consumer killed with SIGKILL', () => {
  const CONSUMER = fileURLToPath(new URL('./test-helpers/consumer.ts', import.meta.url));
  let server: StreamServer | undefined;
  const children: ChildProcess[] = [];
  afterEach(async () => {
    for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
    await server?.close();
  });

  function consumer(name: string, extra: Record<string, string> = {}) {
    const child = spawn(process.execPath, ['--conditions=@sigpost/source', '--import', 'tsx', CONSUMER], {
      env: {
        PATH: process.env.PATH ?? '',
        STREAM_URL: server?.url ?? '',
        STREAM_TOKEN: TEST_TOKEN,
        CURSOR_FILE: join(dir, `${name}.cursor.json`),
        LOG_FILE: join(dir, `${name}.log`),
        ...extra,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (s: string) => {
      stdout += s;
    });
    child.stderr?.setEncoding('utf8').on('data', (s: string) => {
      stderr += s;
    });
    /** Resolves once the consumer has printed `handled <seq>` `count` times, or `handled <until>`. */
    const handled = (count: number, until?: number) =>
      new Promise<void>((resolve, reject) => {
        const check = () => {
          const lines: string[] = stdout.match(/^handled \d+$/gm) ?? [];
          if (until === undefined ? lines.length >= count : lines.includes(`handled ${until}`)) {
            child.stdout?.off('data', check);
            resolve();
          }
        };
        child.stdout?.on('data', check);
        child.once('exit', (code) => reject(new Error(`consumer exited with ${code}: ${stderr}`)));
        check();
      });
    const kill = async () => {
      child.kill('SIGKILL');
      if (child.exitCode === null && child.signalCode === null) await once(child, 'exit');
    };
    return { handled, kill };
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
