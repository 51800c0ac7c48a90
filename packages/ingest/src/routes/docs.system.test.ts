// docs/protocol.md in the packed package, through `npm pack` (the other docs tests: docs.test.ts).
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const REPO = fileURLToPath(new URL('../../../../', import.meta.url));

describe('finding docs/protocol.md', () => {
  it('is packed into the published package, at the path looked at first', async () => {
    const { stdout } = await promisify(execFile)(
      'npm',
      ['pack', '--dry-run', '--json', '--workspace', 'packages/ingest'],
      { cwd: REPO },
    );
    const [pack] = JSON.parse(stdout) as { files: { path: string }[] }[];
    expect(pack?.files.map((f) => f.path)).toContain('docs/protocol.md');
  }, 60_000);
});
