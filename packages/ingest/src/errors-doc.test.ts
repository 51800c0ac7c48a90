// Every error code and its documentation must name the same codes (fastify's Errors.md contract,
// test/internals/errors.test.js): a code added without docs, or documented without existing, fails.
// docs/errors.md against the protocol's PROBLEMS table; the SDK's, the outbox's and the subscriber's
// `| code | class | … |` tables against OUTBOUND_ERROR_CODES, OUTBOX_ERROR_CODES and SUBSCRIBER_ERROR_CODES.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as outbound from '@sigpost/outbound';
import * as outbox from '@sigpost/outbound/outbox';
import { PROBLEMS } from '@sigpost/protocol';
import * as subscriber from '@sigpost/subscriber';
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

/** The rows of the file's `| code | class | … |` table: the code, and the class named first in the row. */
function codeTableRows(file: string): { code: string; className: string }[] {
  const lines = readFileSync(file, 'utf8').split('\n');
  const header = lines.findIndex((line) => /^\| `?code`? +\| class +\|/.test(line));
  expect(header, `${file} has no | code | class | … | table`).toBeGreaterThanOrEqual(0);
  const rows: { code: string; className: string }[] = [];
  for (const line of lines.slice(header + 2)) {
    if (!line.startsWith('|')) break;
    const match = /^\| `([A-Z][A-Z_]+)` +\| `([A-Za-z]+)`/.exec(line);
    expect(match, `${file}: not a | \`CODE\` | \`Class\` | … | row: ${line}`).not.toBeNull();
    rows.push({ code: match?.[1] ?? '', className: match?.[2] ?? '' });
  }
  return rows;
}

const repoFile = (path: string): string => fileURLToPath(new URL(`../../../${path}`, import.meta.url));

describe.each([
  {
    what: 'the SDK (OutboundError)',
    doc: 'packages/outbound/README.md',
    codes: outbound.OUTBOUND_ERROR_CODES,
    base: outbound.OutboundError,
    exports: outbound as Record<string, unknown>,
  },
  {
    what: 'the outbox (OutboxError)',
    doc: 'docs/outbox.md',
    codes: outbox.OUTBOX_ERROR_CODES,
    base: outbox.OutboxError,
    exports: outbox as Record<string, unknown>,
  },
  {
    what: 'the subscriber (SubscriberError)',
    doc: 'packages/subscriber/README.md',
    codes: subscriber.SUBSCRIBER_ERROR_CODES,
    base: subscriber.SubscriberError,
    exports: subscriber as Record<string, unknown>,
  },
])('the error codes of $what and $doc', ({ doc, codes, base, exports }) => {
  const rows = () => codeTableRows(repoFile(doc));

  it('documents every code', () => {
    const documented = new Set(rows().map((r) => r.code));
    for (const code of codes) expect(documented.has(code), `${code} is not in ${doc}`).toBe(true);
  });

  it('documents no code that does not exist', () => {
    const known = new Set<string>(codes);
    for (const { code } of rows())
      expect(known.has(code), `${code} (${doc}) is not an error code`).toBe(true);
  });

  it('documents each code once, with a class the package exports that is or extends the base', () => {
    const all = rows();
    expect(all).toHaveLength(new Set(all.map((r) => r.code)).size);
    for (const { code, className } of all) {
      const cls = exports[className];
      expect(typeof cls, `${code}: ${className} is not exported`).toBe('function');
      const isBaseOrSubclass = cls === base || (cls as { prototype: unknown }).prototype instanceof base;
      expect(isBaseOrSubclass, `${code}: ${className} is not a ${base.name}`).toBe(true);
    }
  });
});
