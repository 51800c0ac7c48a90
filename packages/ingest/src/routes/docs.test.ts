import { SignalCandidateSchema } from '@sigpost/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { SignalListQuerySchema } from '../signals.js';
import { type TestEnv, testEnv } from '../test-helpers/fixtures.js';

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
      '/api/v1/operator/signals/{id}/reject',
      '/api/v1/signals/ingest',
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
      '409',
      '413',
      '415',
      '422',
      '429',
      '500',
      '503',
    ]);
    expect(op.description).toContain('≤ 2048 bytes');
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
});
