// The console's server side over app.inject: pages and their headers, sessions (cookie, expiry,
// revocation, sign-out), CSRF on every state change, the sign-in rate limit, and the read routes the
// console adds (producers, a signal's raw body and 201). Browser behaviour: console.browser.test.ts.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BODY, ingestRequest, PRODUCER, type TestEnv, testEnv } from '../test-helpers/fixtures.js';
import { CONSOLE_CSP, SIGN_IN_LIMIT } from './routes.js';
import { SESSION_LIMITS } from './sessions.js';

const HOST = 'console.test';
const ORIGIN = `http://${HOST}`;
let env: TestEnv;
let token: string;

beforeEach(async () => {
  env = await testEnv({ producer: { approval: 'manual' } });
  token = (await env.admin.createToken('alice')).token;
});
afterEach(async () => {
  await env?.close();
});

function signIn(body: unknown, headers: Record<string, string> = {}) {
  return env.app.inject({
    method: 'POST',
    url: '/console/session',
    headers: { host: HOST, origin: ORIGIN, 'content-type': 'application/json', ...headers },
    payload: JSON.stringify(body),
  });
}

/** Signs in; returns the cookie pair to send back and the CSRF token. */
async function session(): Promise<{ cookie: string; csrf: string }> {
  const res = await signIn({ token });
  expect(res.statusCode).toBe(200);
  const cookie = String(res.headers['set-cookie']).split(';')[0] ?? '';
  return { cookie, csrf: res.json().csrf_token };
}

/** GET /console/session with this cookie (none: no cookie); always 200. */
async function whoAmI(
  cookie?: string,
): Promise<{ signed_in: boolean; operator?: string; detail?: string | null }> {
  const res = await env.app.inject({
    method: 'GET',
    url: '/console/session',
    headers: cookie ? { cookie } : {},
  });
  expect(res.statusCode).toBe(200);
  expect(res.headers['cache-control']).toBe('no-store');
  return res.json();
}

async function pendingSignal(): Promise<string> {
  const res = await env.app.inject(ingestRequest());
  expect(res.statusCode).toBe(201);
  return res.json().signal_id;
}

function approve(id: string, headers: Record<string, string>) {
  return env.app.inject({
    method: 'POST',
    url: `/api/v1/operator/signals/${id}/approve`,
    headers: { host: HOST, ...headers },
  });
}

describe('console pages', () => {
  it('serves the page on /console and its client routes with a strict CSP and no framing', async () => {
    for (const url of [
      '/console',
      '/console/',
      '/console/signals',
      '/console/signals/sig_x',
      '/console/producers',
      '/console/stats',
    ]) {
      const res = await env.app.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBe(200);
      expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(res.body).toContain('<script type="module" src="/console/assets/app.js"></script>');
      expect(res.headers['content-security-policy']).toBe(CONSOLE_CSP);
      expect(res.headers['x-frame-options']).toBe('DENY');
      expect(res.headers['cache-control']).toBe('no-store');
    }
    expect(CONSOLE_CSP).toContain("default-src 'self'");
    expect(CONSOLE_CSP).toContain("frame-ancestors 'none'");
    expect(CONSOLE_CSP).not.toContain('unsafe');
  });

  it('serves its scripts, styles and the vendored preact + htm, and nothing else', async () => {
    for (const [file, type] of [
      ['app.js', 'text/javascript; charset=utf-8'],
      ['live.js', 'text/javascript; charset=utf-8'],
      ['console.css', 'text/css; charset=utf-8'],
      ['vendor/preact-htm.js', 'text/javascript; charset=utf-8'],
    ] as const) {
      const res = await env.app.inject({ method: 'GET', url: `/console/assets/${file}` });
      expect(res.statusCode, file).toBe(200);
      expect(res.headers['content-type']).toBe(type);
      const again = await env.app.inject({
        method: 'GET',
        url: `/console/assets/${file}`,
        headers: { 'if-none-match': String(res.headers.etag) },
      });
      expect(again.statusCode).toBe(304);
    }
    const vendor = await env.app.inject({ method: 'GET', url: '/console/assets/vendor/preact-htm.js' });
    expect(vendor.body).toMatch(/export\s*\{[^}]*\bhtml\b/);
    for (const url of [
      '/console/assets/../src/app.ts',
      '/console/assets/%2e%2e%2fpackage.json',
      '/console/assets/nope.js',
    ]) {
      const res = await env.app.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBe(404);
      expect(res.headers['content-type']).toContain('application/problem+json');
    }
  });
});

describe('console sessions', () => {
  it('signs in with an operator token: HttpOnly, SameSite=Strict cookie, a CSRF token, no token echoed or logged', async () => {
    const res = await signIn({ token });
    expect(res.statusCode).toBe(200);
    const cookie = String(res.headers['set-cookie']);
    expect(cookie).toMatch(
      /^sigpost_session=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=43200$/,
    );
    expect(res.json()).toMatchObject({ operator: 'alice', idle_timeout_seconds: 1800 });
    expect(res.json().csrf_token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(res.body).not.toContain(token);
    expect(await whoAmI()).toEqual({ signed_in: false, detail: null });
    expect(await whoAmI(cookie.split(';')[0])).toMatchObject({
      signed_in: true,
      operator: 'alice',
      csrf_token: res.json().csrf_token,
    });
    expect(env.logs.join('\n')).not.toContain(token);
    expect(env.logs.join('\n')).not.toContain(cookie.split(';')[0]?.split('=')[1]);
  });

  it('gives every sign-in a new session id and ends the one the browser had', async () => {
    const first = await session();
    const again = await signIn({ token }, { cookie: first.cookie });
    expect(again.statusCode).toBe(200);
    const second = String(again.headers['set-cookie']).split(';')[0] ?? '';
    expect(second).not.toBe(first.cookie);
    expect(await whoAmI(first.cookie)).toMatchObject({ signed_in: false });
    expect(await whoAmI(second)).toMatchObject({ signed_in: true, operator: 'alice' });
  });

  it("authenticates the stream's WebSocket upgrade by the session cookie, from this origin only", async () => {
    const { cookie } = await session();
    const sessions = env.app.sigpost.consoleSessions;
    const upgrade = (headers: Record<string, string>) =>
      sessions.authenticateUpgrade({ headers: { host: HOST, ...headers } });
    expect(await upgrade({ cookie, origin: ORIGIN })).toBe('alice');
    expect(await upgrade({})).toBeUndefined();
    await expect(upgrade({ cookie, origin: 'http://127.0.0.1:1' })).rejects.toMatchObject({
      code: 'csrf-rejected',
    });
    await expect(upgrade({ cookie })).rejects.toMatchObject({ code: 'csrf-rejected' });
    await expect(
      upgrade({ cookie: `sigpost_session=${'A'.repeat(43)}`, origin: ORIGIN }),
    ).rejects.toMatchObject({
      code: 'operator-unauthorized',
    });
  });

  it('marks the cookie Secure (and __Host-) when the console is reached over HTTPS', async () => {
    const res = await signIn({ token }, { 'x-forwarded-proto': 'https', origin: `https://${HOST}` });
    expect(res.statusCode).toBe(200);
    expect(String(res.headers['set-cookie'])).toMatch(
      /^__Host-sigpost_session=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=43200; Secure$/,
    );
  });

  it('refuses a wrong token with a clear message, and a sign-in from another site', async () => {
    const wrong = await signIn({ token: `${token.slice(0, -2)}${token.endsWith('xx') ? 'yy' : 'xx'}` });
    expect(wrong.statusCode).toBe(401);
    expect(wrong.headers['content-type']).toBe('application/problem+json; charset=utf-8');
    expect(wrong.json().detail).toContain('that operator token is not valid');
    expect(wrong.headers['set-cookie']).toBeUndefined();
    const garbage = await signIn({ token: 'hello' });
    expect(garbage.statusCode).toBe(401);
    const cross = await signIn({ token }, { origin: 'https://evil.example' });
    expect(cross.statusCode).toBe(403);
    expect(cross.json().type).toBe('urn:sigpost:problem:csrf-rejected');
    const noOrigin = await env.app.inject({
      method: 'POST',
      url: '/console/session',
      headers: { host: HOST, 'content-type': 'application/json' },
      payload: JSON.stringify({ token }),
    });
    expect(noOrigin.statusCode).toBe(403);
  });

  it('rate-limits sign-in attempts per client address', async () => {
    for (let i = 0; i < SIGN_IN_LIMIT.burst; i++)
      expect((await signIn({ token: 'sgp_wrong-token-0000000' })).statusCode).toBe(401);
    const limited = await signIn({ token });
    expect(limited.statusCode).toBe(429);
    expect(limited.json().type).toBe('urn:sigpost:problem:too-many-sign-in-attempts');
    expect(Number(limited.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    env.clock.advance(6_000);
    expect((await signIn({ token })).statusCode).toBe(200);
  });

  it('lets the session call the operator API; a state change needs the CSRF token and this origin (403 otherwise)', async () => {
    const { cookie, csrf } = await session();
    const id = await pendingSignal();
    const list = await env.app.inject({
      method: 'GET',
      url: '/api/v1/operator/signals',
      headers: { cookie },
    });
    expect(list.statusCode).toBe(200);
    expect(list.json().items[0].signal_id).toBe(id);

    const noCsrf = await approve(id, { cookie, origin: ORIGIN });
    expect(noCsrf.statusCode).toBe(403);
    expect(noCsrf.headers['content-type']).toBe('application/problem+json; charset=utf-8');
    expect(noCsrf.json().type).toBe('urn:sigpost:problem:csrf-rejected');
    const wrongCsrf = await approve(id, {
      cookie,
      origin: ORIGIN,
      'x-csrf-token': `${csrf.slice(0, -1)}${csrf.endsWith('A') ? 'B' : 'A'}`,
    });
    expect(wrongCsrf.statusCode).toBe(403);
    const crossSite = await approve(id, { cookie, origin: 'https://evil.example', 'x-csrf-token': csrf });
    expect(crossSite.statusCode).toBe(403);
    const fetchSite = await approve(id, {
      cookie,
      origin: ORIGIN,
      'x-csrf-token': csrf,
      'sec-fetch-site': 'same-site',
    });
    expect(fetchSite.statusCode).toBe(403);
    expect((await env.store.getSignal(id))?.status).toBe('pending_approval');

    const ok = await approve(id, {
      cookie,
      origin: ORIGIN,
      'x-csrf-token': csrf,
      'sec-fetch-site': 'same-origin',
    });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toMatchObject({ status: 'approved', decided_by: 'operator:alice' });
    // The decision is recorded, and streamed, as taken in the console.
    const events = (await env.store.readEvents(0, 100)).filter((e) => e.signal.id === id);
    expect(events.map((e) => [e.signal.status, e.channel])).toEqual([
      ['pending_approval', null],
      ['approved', 'console'],
    ]);
  });

  it('keeps bearer tokens working, and prefers them over a cookie', async () => {
    const res = await env.app.inject({
      method: 'GET',
      url: '/api/v1/operator/signals',
      headers: { authorization: `Bearer ${token}` },
    });
    expect(res.statusCode).toBe(200);
    const bad = await env.app.inject({
      method: 'GET',
      url: '/api/v1/operator/signals',
      headers: { authorization: 'Bearer sgp_nope', cookie: (await session()).cookie },
    });
    expect(bad.statusCode).toBe(401);
  });

  it('ends a session after 30 min idle, after 12 h in any case, and when its token is revoked', async () => {
    const idle = await session();
    env.clock.advance(SESSION_LIMITS.idleMs - 1_000);
    expect(await whoAmI(idle.cookie)).toMatchObject({ signed_in: true, operator: 'alice' });
    env.clock.advance(SESSION_LIMITS.idleMs);
    const expired = await env.app.inject({
      method: 'GET',
      url: '/api/v1/operator/signals',
      headers: { cookie: idle.cookie },
    });
    expect(expired.statusCode).toBe(401);
    expect(expired.json().detail).toContain('session has ended');

    const busy = await session();
    for (let t = 0; t < SESSION_LIMITS.absoluteMs; t += SESSION_LIMITS.idleMs / 2) {
      env.clock.advance(SESSION_LIMITS.idleMs / 2);
      await env.app.inject({ method: 'GET', url: '/console/session', headers: { cookie: busy.cookie } });
    }
    expect(await whoAmI(busy.cookie)).toMatchObject({ signed_in: false });

    const revoked = await session();
    const [listed] = await env.admin.listTokens();
    await env.admin.revokeToken(listed?.id ?? '');
    const after = await whoAmI(revoked.cookie);
    expect(after.signed_in).toBe(false);
    expect(after.detail).toContain('revoked');
    expect(
      (
        await env.app.inject({
          method: 'GET',
          url: '/api/v1/operator/signals',
          headers: { cookie: revoked.cookie },
        })
      ).statusCode,
    ).toBe(401);
  });

  it('signs out: needs the CSRF token, clears the cookie, and the session no longer works', async () => {
    const { cookie, csrf } = await session();
    const forged = await env.app.inject({
      method: 'DELETE',
      url: '/console/session',
      headers: { host: HOST, cookie, origin: ORIGIN },
    });
    expect(forged.statusCode).toBe(403);
    const out = await env.app.inject({
      method: 'DELETE',
      url: '/console/session',
      headers: { host: HOST, cookie, origin: ORIGIN, 'x-csrf-token': csrf },
    });
    expect(out.statusCode).toBe(204);
    expect(String(out.headers['set-cookie'])).toContain(
      'sigpost_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0',
    );
    expect(await whoAmI(cookie)).toEqual({ signed_in: false, detail: expect.stringContaining('signed out') });
  });
});

describe('routes the console reads', () => {
  it("gives a signed-in console the server's own ingest metrics: outcomes, refusals by type, latency histogram, counts", async () => {
    const { cookie } = await session();
    const stats = async () => {
      const res = await env.app.inject({ method: 'GET', url: '/console/data/stats', headers: { cookie } });
      expect(res.statusCode).toBe(200);
      return res.json();
    };
    const before = await stats();
    expect(before.ingest).toEqual({});
    await pendingSignal();
    const refused = await env.app.inject(ingestRequest({ secret: 'not-the-secret-0123456789' }));
    expect(refused.statusCode).toBe(401);
    env.clock.advance(5_000);
    const after = await stats();
    expect(after.ingest).toEqual({ accepted: 1, refused: 1 });
    expect(after.refusals).toEqual({ 'invalid-signature': 1 });
    expect(after.latency.count).toBe(1);
    expect(after.latency.buckets.at(-1).count).toBe(1);
    expect(after.latency.buckets.map((b: { le: number }) => b.le)).toEqual([
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
    ]);
    expect(after.signals).toEqual({ received: 0, pending_approval: 1, approved: 0, rejected: 0 });
    expect((await env.app.inject({ method: 'GET', url: '/console/data/stats' })).statusCode).toBe(401);
  });

  it('lists producers with approval mode, allow-list and secret ids, never a secret', async () => {
    await env.admin.addProducer({
      id: 'desk-2',
      secret: 'another-secret-of-16-bytes+',
      approval: 'auto',
      instruments: ['GOLD', 'EURUSD'],
    });
    const res = await env.app.inject({
      method: 'GET',
      url: '/api/v1/operator/producers',
      headers: { authorization: `Bearer ${token}` },
    });
    expect(res.statusCode).toBe(200);
    const items = res.json().items as {
      producer_id: string;
      approval: string;
      instruments: string[] | null;
      secrets: { secret_id: string }[];
    }[];
    expect(items.map((p) => [p.producer_id, p.approval, p.instruments])).toEqual(
      [
        ['desk-2', 'auto', ['GOLD', 'EURUSD']],
        [PRODUCER, 'manual', null],
      ].sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
    );
    for (const p of items) expect(p.secrets[0]?.secret_id).toMatch(/^sec_/);
    expect(res.body).not.toContain('another-secret');
    expect(res.body).not.toContain('ciphertext');
    expect((await env.app.inject({ method: 'GET', url: '/api/v1/operator/producers' })).statusCode).toBe(401);
  });

  it("gives a signed-in console a signal's exact signed body and the 201 it got", async () => {
    const accepted = await env.app.inject(ingestRequest());
    const id = accepted.json().signal_id;
    const { cookie } = await session();
    const res = await env.app.inject({
      method: 'GET',
      url: `/console/data/signals/${id}`,
      headers: { cookie },
    });
    expect(res.statusCode).toBe(200);
    expect(res.json().raw_body).toBe(BODY);
    expect(res.json().response).toEqual({ status: 201, body: accepted.body });
    expect((await env.app.inject({ method: 'GET', url: `/console/data/signals/${id}` })).statusCode).toBe(
      401,
    );
    expect(
      (await env.app.inject({ method: 'GET', url: '/console/data/signals/sig_nope', headers: { cookie } }))
        .statusCode,
    ).toBe(404);
  });
});
