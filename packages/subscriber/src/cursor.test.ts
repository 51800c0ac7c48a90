import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
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
