// docs/errors.md and the protocol's PROBLEMS table must name the same codes (fastify's
// Errors.md contract): a code added to the table without docs, or documented without existing, fails.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { PROBLEMS } from '@sigpost/protocol';
import { describe, expect, it } from 'vitest';

const ERRORS_MD = fileURLToPath(new URL('../../../docs/errors.md', import.meta.url));

function documentedRows(): { code: string; status: number; when: string; fix: string }[] {
  return readFileSync(ERRORS_MD, 'utf8')
    .split('\n')
    .map((line) => /^\| `([a-z-]+)` \| (\d{3}) \| (.+?) \| (.+?) \|$/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ code: m[1] ?? '', status: Number(m[2]), when: m[3] ?? '', fix: m[4] ?? '' }));
}

describe('docs/errors.md', () => {
  it('has the columns Code | Status | When | How to fix', () => {
    expect(readFileSync(ERRORS_MD, 'utf8')).toContain('| Code | Status | When | How to fix |');
  });

  it('documents every problem code of the protocol', () => {
    const documented = new Set(documentedRows().map((r) => r.code));
    for (const code of Object.keys(PROBLEMS))
      expect(documented.has(code), `${code} is not in docs/errors.md`).toBe(true);
  });

  it('documents no code that does not exist', () => {
    for (const { code } of documentedRows())
      expect(Object.hasOwn(PROBLEMS, code), `${code} is not a problem code`).toBe(true);
  });

  it('gives each code its status, once, with a when and a how-to-fix', () => {
    const rows = documentedRows();
    expect(rows).toHaveLength(new Set(rows.map((r) => r.code)).size);
    for (const row of rows) {
      expect(row.status, row.code).toBe(PROBLEMS[row.code as keyof typeof PROBLEMS].status);
      expect(row.when.length, row.code).toBeGreaterThan(20);
      expect(row.fix.length, row.code).toBeGreaterThan(10);
    }
  });
});
