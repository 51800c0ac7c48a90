import { afterEach, describe, expect, it } from 'vitest';
import { ingestRequest, type TestEnv, testEnv, withOverride } from '../test-helpers/fixtures.js';

let env: TestEnv;
afterEach(async () => {
  await env?.close();
});

describe('health, readiness, metrics', () => {
  it('answers /healthz with 200', async () => {
    env = await testEnv();
    const res = await env.app.inject({ method: 'GET', url: '/healthz' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'ok' });
  });

  it('answers /readyz with 200 when the store answers', async () => {
    env = await testEnv();
    const res = await env.app.inject({ method: 'GET', url: '/readyz' });
    expect(res.json()).toEqual({ status: 'ready', store: 'sqlite' });
  });

  it('answers /readyz with 503 store-unavailable when the store does not answer', async () => {
    env = await testEnv({
      wrapStore: (store) =>
        withOverride(store, { ping: async () => Promise.reject(new Error('database is locked')) }),
    });
    const res = await env.app.inject({ method: 'GET', url: '/readyz' });
    expect(res.statusCode).toBe(503);
    expect(res.json()).toEqual({
      type: 'urn:sigpost:problem:store-unavailable',
      title: 'Storage unavailable',
      status: 503,
      detail: 'the sqlite store does not answer',
    });
  });

  it('exports requests by outcome and problem, verification failures, latency and signals by status', async () => {
    env = await testEnv();
    await env.app.inject(ingestRequest());
    await env.app.inject(ingestRequest({ secret: 'wrong-secret-of-enough-bytes' }));
    await env.app.inject(ingestRequest({ body: '{' }));
    const res = await env.app.inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = res.payload;
    expect(text).toContain(
      'sigpost_requests_total{route="/api/v1/signals/ingest",outcome="accepted",problem=""} 1',
    );
    expect(text).toContain(
      'sigpost_requests_total{route="/api/v1/signals/ingest",outcome="refused",problem="invalid-signature"} 1',
    );
    expect(text).toContain(
      'sigpost_requests_total{route="/api/v1/signals/ingest",outcome="refused",problem="malformed-json"} 1',
    );
    expect(text).toContain('sigpost_verification_failures_total{reason="invalid-signature"} 1');
    expect(text).toContain('sigpost_ingest_duration_seconds_count{outcome="accepted"} 1');
    expect(text).toContain('sigpost_signals{status="received"} 1');
    expect(text).toContain('sigpost_signals{status="pending_approval"} 0');
    expect(text).toContain('sigpost_commit_batch_size_count 1');
  });
});

describe('unknown routes and methods', () => {
  it('answers an unknown route with 404 problem+json', async () => {
    env = await testEnv();
    const res = await env.app.inject({ method: 'GET', url: '/nope?x=1' });
    expect(res.statusCode).toBe(404);
    expect(res.headers['content-type']).toBe('application/problem+json; charset=utf-8');
    expect(res.json()).toEqual({
      type: 'urn:sigpost:problem:not-found',
      title: 'Not found',
      status: 404,
      detail: 'no route for GET /nope',
    });
  });

  it('answers a malformed URL with 400 problem+json, without echoing it', async () => {
    env = await testEnv();
    const res = await env.app.inject({ method: 'GET', url: '/api/v1/operator/signals/%E0%A4%A' });
    expect(res.statusCode).toBe(400);
    expect(res.headers['content-type']).toBe('application/problem+json; charset=utf-8');
    expect(res.json()).toEqual({
      type: 'urn:sigpost:problem:invalid-request',
      title: 'Invalid request parameters',
      status: 400,
      detail: 'the request URL is not valid (malformed percent-encoding)',
    });
  });

  it('answers a known path with the wrong method with 405 and Allow', async () => {
    env = await testEnv();
    const res = await env.app.inject({ method: 'GET', url: '/api/v1/signals/ingest' });
    expect(res.statusCode).toBe(405);
    expect(res.headers.allow).toBe('POST');
    expect(res.json()).toEqual({
      type: 'urn:sigpost:problem:method-not-allowed',
      title: 'Method not allowed',
      status: 405,
      detail: 'GET is not allowed on /api/v1/signals/ingest; allowed: POST',
    });
  });

  it('answers 405 on a parameterised operator path', async () => {
    env = await testEnv();
    const res = await env.app.inject({ method: 'DELETE', url: '/api/v1/operator/signals/sig_x' });
    expect(res.statusCode).toBe(405);
    expect(res.headers.allow).toBe('GET, HEAD');
  });
});
