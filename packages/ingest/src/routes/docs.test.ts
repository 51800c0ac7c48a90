import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SignalCandidateSchema } from '@sigpost/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { SignalListQuerySchema } from '../signals.js';
import { type TestEnv, tempDir, testEnv } from '../test-helpers/fixtures.js';
import { PROTOCOL_DOC_CANDIDATES, readProtocolDoc } from './docs.js';

const REPO = fileURLToPath(new URL('../../../../', import.meta.url));

let env: TestEnv;
afterEach(async () => {
  await env?.close();
});

function refs(value: unknown, out: string[] = []): string[] {
  if (Array.isArray(value)) for (const v of value) refs(v, out);
  else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (k === '$ref' && typeof v === 'string') out.push(v);
      else refs(v, out);
    }
  }
  return out;
}

describe('OpenAPI document and reference page', () => {
  it('serves an OpenAPI 3.1 document whose signal schema is generated from the schema the server validates with', async () => {
    env = await testEnv();
    const res = await env.app.inject({ method: 'GET', url: '/openapi.json' });
    expect(res.statusCode).toBe(200);
    const doc = res.json();
    expect(doc.openapi).toBe('3.1.0');
    const generated = z.toJSONSchema(SignalCandidateSchema, {
      target: 'draft-2020-12',
      io: 'input',
    }) as unknown as {
      $defs: { SignalCandidate: Record<string, unknown> };
    };
    expect(doc.components.schemas.SignalCandidate).toEqual(generated.$defs.SignalCandidate);
    expect(Object.keys(doc.paths).sort()).toEqual([
      '/api/v1/operator/producers',
      '/api/v1/operator/signals',
      '/api/v1/operator/signals/{id}',
      '/api/v1/operator/signals/{id}/approve',
      '/api/v1/operator/signals/{id}/events',
      '/api/v1/operator/signals/{id}/reject',
      '/api/v1/signals/ingest',
      '/api/v1/stream',
      '/healthz',
      '/metrics',
      '/readyz',
    ]);
  });

  it('resolves every $ref to a component', async () => {
    env = await testEnv();
    const doc = (await env.app.inject({ method: 'GET', url: '/openapi.json' })).json();
    const all = refs(doc);
    expect(all.length).toBeGreaterThan(10);
    for (const ref of all) {
      expect(ref).toMatch(/^#\/components\/schemas\//);
      expect(doc.components.schemas[ref.split('/').pop() as string], ref).toBeDefined();
    }
  });

  it('documents the list filters from the schema that validates them', async () => {
    env = await testEnv();
    const doc = (await env.app.inject({ method: 'GET', url: '/openapi.json' })).json();
    const names = doc.paths['/api/v1/operator/signals'].get.parameters.map((p: { name: string }) => p.name);
    expect(names).toEqual(Object.keys(SignalListQuerySchema.shape));
  });

  it('documents the 201 and every refusal of the ingest endpoint', async () => {
    env = await testEnv({ config: { maxBodyBytes: 2048 } });
    const doc = (await env.app.inject({ method: 'GET', url: '/openapi.json' })).json();
    const op = doc.paths['/api/v1/signals/ingest'].post;
    expect(Object.keys(op.responses).sort()).toEqual([
      '201',
      '400',
      '401',
      '408',
      '409',
      '413',
      '415',
      '422',
      '429',
      '431',
      '500',
      '503',
    ]);
    expect(op.description).toContain('≤ 2048 bytes');
    expect(op.responses['400'].description).toContain('`malformed-http`');
  });

  it('serves a self-contained HTML reference at /docs (no scripts, nothing loaded from elsewhere)', async () => {
    env = await testEnv();
    const res = await env.app.inject({ method: 'GET', url: '/docs' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(res.payload).toMatch(/^<!doctype html>/);
    expect(res.payload).not.toMatch(/<script|<link|src=|https?:\/\//i);
    expect(res.payload).toContain('<code>/api/v1/signals/ingest</code>');
    expect(res.payload).toContain('urn:sigpost:problem:replayed-signature');
    expect(res.payload).toContain('id="schema-SignalCandidate"');
  });

  it('renders Markdown code spans in descriptions as <code>, never as literal backticks', async () => {
    env = await testEnv();
    const doc = (await env.app.inject({ method: 'GET', url: '/openapi.json' })).json();
    expect(doc.info.description).toContain('`type`');
    const page = (await env.app.inject({ method: 'GET', url: '/docs' })).payload;
    expect(page).not.toContain('`');
    expect(page).toContain('with a stable <code>type</code>');
    expect(page).toContain('<code>Idempotent-Replayed: true</code>');
  });

  it('gives Problem.status the range of HTTP statuses, not the safe-integer range', async () => {
    env = await testEnv();
    const doc = (await env.app.inject({ method: 'GET', url: '/openapi.json' })).json();
    expect(doc.components.schemas.Problem.properties.status).toMatchObject({
      type: 'integer',
      minimum: 100,
      maximum: 599,
    });
    const page = (await env.app.inject({ method: 'GET', url: '/docs' })).payload;
    expect(page).not.toContain('9007199254740991');
    expect(page).toContain('minimum: <code>100</code>, maximum: <code>599</code>');
  });

  it('names this server in servers, relative to where the document is served', async () => {
    env = await testEnv();
    const doc = (await env.app.inject({ method: 'GET', url: '/openapi.json' })).json();
    expect(doc.servers).toEqual([{ url: '/', description: expect.any(String) }]);
  });

  it('serves docs/protocol.md rendered at /docs/protocol, linked from /docs', async () => {
    env = await testEnv();
    const page = (await env.app.inject({ method: 'GET', url: '/docs' })).payload;
    expect(page).toContain('<a href="/docs/protocol">');
    const res = await env.app.inject({ method: 'GET', url: '/docs/protocol' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(res.payload).toMatch(/^<!doctype html>/);
    expect(res.payload).not.toMatch(/<script|<link|src=/i);
    expect(res.payload).toContain('<h1 id="sigpost-wire-protocol-v1">Sigpost wire protocol v1</h1>');
    expect(res.payload).toContain('<h2 id="golden-vectors">Golden vectors</h2>');
    expect(res.payload).toContain('<td><code>X-Signature</code></td>');
    // Backticks survive only inside code blocks (a JavaScript template literal there).
    expect(res.payload.replace(/<pre>[\s\S]*?<\/pre>/g, '')).not.toContain('`');
  });
});

describe('finding docs/protocol.md', () => {
  it('looks in the package first (where npm pack puts it), then in the repository', () => {
    expect(PROTOCOL_DOC_CANDIDATES).toEqual([
      join(REPO, 'packages', 'ingest', 'docs', 'protocol.md'),
      join(REPO, 'docs', 'protocol.md'),
    ]);
    const { dir, cleanup } = tempDir();
    try {
      const packaged = join(dir, 'package', 'protocol.md');
      const repository = join(dir, 'repo', 'protocol.md');
      mkdirSync(join(dir, 'repo'));
      writeFileSync(repository, '# repo');
      expect(readProtocolDoc([packaged, repository])).toEqual({ path: repository, markdown: '# repo' });
      mkdirSync(join(dir, 'package'));
      writeFileSync(packaged, '# packaged');
      expect(readProtocolDoc([packaged, repository])?.markdown).toBe('# packaged');
      expect(readProtocolDoc([join(dir, 'none.md')])).toBeUndefined();
    } finally {
      cleanup();
    }
  });
});
