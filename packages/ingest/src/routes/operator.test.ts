import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Store, StoreUnavailableError } from '../store/store.js';
import {
  ingestRequest,
  SECRET,
  SIGNAL,
  type TestEnv,
  testEnv,
  timestampAt,
  withOverride,
} from '../test-helpers/fixtures.js';

const PROBLEM_JSON = 'application/problem+json; charset=utf-8';
let env: TestEnv;
let token: string;

/** `METHOD route status problem` of every refusal the operator routes gave in this file. */
const refusals = new Set<string>();

afterEach(async () => {
  for (const line of env?.logs ?? []) {
    const entry = JSON.parse(line) as {
      method?: string;
      route?: string;
      http_code?: number;
      problem?: string;
    };
    if (entry.route?.startsWith('/api/v1/operator/') && entry.problem) {
      refusals.add(`${entry.method} ${entry.route} ${entry.http_code} ${entry.problem}`);
    }
  }
  await env?.close();
});

/** Ingests `n` signals one second apart (clock and timestamp move together); returns their ids, oldest first. */
async function ingestMany(
  n: number,
  instrument = 'GOLD',
  producerId?: string,
  secret?: string,
): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    env.clock.advance(1_000);
    const offset = env.clock.now() - Date.parse('2025-10-25T14:30:45.123Z');
    const res = await env.app.inject(
      ingestRequest({
        body: JSON.stringify({ ...SIGNAL, instrument }),
        timestamp: timestampAt(offset),
        ...(producerId ? { producerId } : {}),
        ...(secret ? { secret } : {}),
      }),
    );
    expect(res.statusCode).toBe(201);
    ids.push(res.json().signal_id);
  }
  return ids;
}

/** `auth`: the bearer token; `null` sends no Authorization header. */
function get(url: string, auth: string | null = token) {
  return env.app.inject({
    method: 'GET',
    url,
    headers: auth === null ? {} : { authorization: `Bearer ${auth}` },
  });
}

function post(url: string, body?: unknown, auth: string | null = token) {
  return env.app.inject({
    method: 'POST',
    url,
    headers: {
      ...(auth === null ? {} : { authorization: `Bearer ${auth}` }),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
  });
}

describe('operator API: authentication', () => {
  beforeEach(async () => {
    env = await testEnv({ producer: { approval: 'manual' } });
    token = (await env.admin.createToken('alice')).token;
  });

  it('refuses a request without a bearer token with 401 and WWW-Authenticate', async () => {
    const res = await get('/api/v1/operator/signals', null);
    expect(res.statusCode).toBe(401);
    expect(res.headers['www-authenticate']).toBe('Bearer realm="sigpost"');
    expect(res.headers['content-type']).toBe(PROBLEM_JSON);
    expect(res.json()).toEqual({
      type: 'urn:sigpost:problem:operator-unauthorized',
      title: 'Missing or invalid operator token',
      status: 401,
      detail: 'send Authorization: Bearer <token> (create one with `sigpost tokens create`)',
    });
  });

  it('refuses an unauthenticated request before reading its body (401, not 413 or 400)', async () => {
    const res = await env.app.inject({
      method: 'POST',
      url: '/api/v1/operator/signals/sig_x/reject',
      headers: { 'content-type': 'application/json' },
      payload: `{"reason":"${'x'.repeat(200_000)}`,
    });
    expect(res.statusCode).toBe(401);
    expect(res.json().type).toBe('urn:sigpost:problem:operator-unauthorized');
  });

  it('refuses an unknown token with 401', async () => {
    const res = await get('/api/v1/operator/signals', 'sgp_not-a-real-token');
    expect(res.statusCode).toBe(401);
    expect(res.json().detail).toBe('the operator token is not valid (it may have been revoked)');
  });

  it('refuses a revoked token with 401', async () => {
    const [listed] = await env.admin.listTokens();
    await env.admin.revokeToken(listed?.id ?? '');
    expect((await get('/api/v1/operator/signals')).statusCode).toBe(401);
  });

  it('refuses a producer secret used as an operator token', async () => {
    expect((await get('/api/v1/operator/signals', SECRET)).statusCode).toBe(401);
  });

  it('protects every operator route', async () => {
    const [id] = await ingestMany(1);
    for (const res of [
      await get(`/api/v1/operator/signals/${id}`, null),
      await get(`/api/v1/operator/signals/${id}/events`, null),
      await post(`/api/v1/operator/signals/${id}/approve`, undefined, null),
      await post(`/api/v1/operator/signals/${id}/reject`, { reason: 'x' }, null),
    ]) {
      expect(res.statusCode).toBe(401);
    }
    expect((await env.store.getSignal(id ?? ''))?.status).toBe('pending_approval');
  });
});

describe('operator API: listing', () => {
  beforeEach(async () => {
    env = await testEnv({ producer: { approval: 'manual' } });
    token = (await env.admin.createToken('alice')).token;
  });

  it('lists signals newest first with their decoded body', async () => {
    const ids = await ingestMany(3);
    const res = await get('/api/v1/operator/signals');
    expect(res.statusCode).toBe(200);
    const page = res.json();
    expect(page.items.map((s: { signal_id: string }) => s.signal_id)).toEqual([...ids].reverse());
    expect(page.next_cursor).toBeNull();
    expect(page.items[2]).toEqual({
      signal_id: ids[0],
      producer_id: 'test-producer',
      idempotency_key: expect.any(String),
      instrument: 'GOLD',
      side: 'buy',
      status: 'pending_approval',
      message: 'queued for operator approval',
      received_at: '2025-10-25T14:30:46.123000Z',
      decided_at: null,
      decided_by: null,
      signal: { ...SIGNAL },
    });
  });

  it('filters by status, producer, instrument and time range', async () => {
    const gold = await ingestMany(2, 'GOLD');
    const silver = await ingestMany(2, 'SILVER');
    await env.admin.addProducer({ id: 'other', secret: 'other-secret-0123456789' });
    const other = await ingestMany(1, 'GOLD', 'other', 'other-secret-0123456789');
    await post(`/api/v1/operator/signals/${gold[0]}/approve`);
    const ids = async (query: string) =>
      (await get(`/api/v1/operator/signals?${query}`))
        .json()
        .items.map((s: { signal_id: string }) => s.signal_id);
    expect(await ids('status=approved')).toEqual([gold[0]]);
    expect(await ids('producer=other')).toEqual(other);
    expect(await ids('instrument=SILVER')).toEqual([...silver].reverse());
    // received at :47, :48, :49, :50 and :51 (one per second from :46)
    expect(await ids('from=2025-10-25T14:30:48.123Z&to=2025-10-25T14:30:50.123Z')).toEqual([
      silver[1],
      silver[0],
    ]);
    expect(await ids('status=pending_approval&instrument=GOLD&producer=test-producer')).toEqual([gold[1]]);
  });

  it('pages through every signal with limit and cursor, once each', async () => {
    const ids = await ingestMany(5);
    const seen: string[] = [];
    let url = '/api/v1/operator/signals?limit=2';
    for (let pages = 0; pages < 10; pages++) {
      const page = (await get(url)).json();
      expect(page.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.items.map((s: { signal_id: string }) => s.signal_id));
      if (page.next_cursor === null) break;
      url = `/api/v1/operator/signals?limit=2&cursor=${encodeURIComponent(page.next_cursor)}`;
    }
    expect(seen).toEqual([...ids].reverse());
  });

  it.each([
    ['status=bogus', 'status: expected one of received, pending_approval, approved, rejected'],
    ['limit=0', 'limit: expected an integer from 1 to 500'],
    ['limit=501', 'limit: expected an integer from 1 to 500'],
    ['from=yesterday', 'from: expected an RFC 3339 date-time such as 2025-10-25T14:30:45Z'],
    ['producer=a%20b', 'producer: expected 1–64 characters of A-Z a-z 0-9 . _ -'],
    ['status=received&status=rejected', 'status: expected a single value'],
    ['colour=red', 'colour: expected no such parameter'],
    ['from=2025-10-25T15:00:00Z&to=2025-10-25T14:00:00Z', 'to: expected a time after from'],
    ['cursor=garbage!', 'cursor: expected the next_cursor of a previous page, unchanged'],
  ])('refuses ?%s with 400 invalid-request naming the parameter', async (query, detail) => {
    const res = await get(`/api/v1/operator/signals?${query}`);
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ type: 'urn:sigpost:problem:invalid-request', status: 400, detail });
  });

  it('lists one line per bad parameter in errors', async () => {
    const res = await get('/api/v1/operator/signals?status=bogus&limit=x');
    expect(res.json().errors).toEqual([
      'status: expected one of received, pending_approval, approved, rejected, received "bogus"',
      'limit: expected an integer from 1 to 500, received "x"',
    ]);
  });
});

describe('operator API: one signal, approve, reject', () => {
  beforeEach(async () => {
    env = await testEnv({ producer: { approval: 'manual' } });
    token = (await env.admin.createToken('alice')).token;
  });

  it('shows one signal', async () => {
    const [id] = await ingestMany(1);
    const res = await get(`/api/v1/operator/signals/${id}`);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ signal_id: id, status: 'pending_approval', signal: { ...SIGNAL } });
  });

  it('answers 404 not-found for an unknown or malformed id', async () => {
    for (const id of ['sig_01JC3M5W8QXG4K2N6Y7T9B1ZAD', 'nonsense']) {
      const res = await get(`/api/v1/operator/signals/${id}`);
      expect(res.statusCode).toBe(404);
      expect(res.json()).toEqual({
        type: 'urn:sigpost:problem:not-found',
        title: 'Not found',
        status: 404,
        detail: `Signal "${id}" does not exist`,
      });
    }
  });

  it('approves a pending signal, recording the operator', async () => {
    const [id] = await ingestMany(1);
    const res = await post(`/api/v1/operator/signals/${id}/approve`, { note: 'looks right' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({
      signal_id: id,
      status: 'approved',
      message: 'looks right',
      decided_by: 'operator:alice',
      decided_at: '2025-10-25T14:30:46.123000Z',
    });
    expect((await env.store.getSignal(id ?? ''))?.status).toBe('approved');
  });

  it('rejects a pending signal with a reason', async () => {
    const [id] = await ingestMany(1);
    const res = await post(`/api/v1/operator/signals/${id}/reject`, { reason: 'stale price' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({
      status: 'rejected',
      message: 'stale price',
      decided_by: 'operator:alice',
    });
  });

  it('refuses to decide a signal that is not pending with 409 signal-not-pending', async () => {
    const [id] = await ingestMany(1);
    await post(`/api/v1/operator/signals/${id}/approve`);
    const res = await post(`/api/v1/operator/signals/${id}/reject`, { reason: 'too late' });
    expect(res.statusCode).toBe(409);
    expect(res.json()).toEqual({
      type: 'urn:sigpost:problem:signal-not-pending',
      title: 'Signal is not pending approval',
      status: 409,
      detail: `Signal ${id} is approved, not pending_approval; only pending signals can be approved or rejected`,
    });
  });

  it("gives a signal's history: its stream events with type, time, actor and channel, and 404 for an unknown id", async () => {
    const [id, other] = await ingestMany(2);
    env.clock.advance(5_000);
    expect((await post(`/api/v1/operator/signals/${other}/approve`)).statusCode).toBe(200);
    expect((await post(`/api/v1/operator/signals/${id}/reject`, { reason: 'stale price' })).statusCode).toBe(
      200,
    );
    const res = await get(`/api/v1/operator/signals/${id}/events`);
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
    const { items } = res.json() as { items: { type: string; seq: number; at: string; signal: object }[] };
    expect(items.map((e) => [e.type, e.seq, e.at])).toEqual([
      ['signal.pending_approval', 1, '2025-10-25T14:30:46.123000Z'],
      ['signal.rejected', 4, '2025-10-25T14:30:52.123000Z'],
    ]);
    expect(items[0]?.signal).toMatchObject({ signal_id: id, status: 'pending_approval', decided_by: null });
    expect(items[1]?.signal).toMatchObject({
      signal_id: id,
      status: 'rejected',
      decided_by: 'operator:alice',
      decision_channel: 'api',
      message: 'stale price',
      entry_price: SIGNAL.entry_price,
    });
    for (const unknown of ['sig_01JC3M5W8QXG4K2N6Y7T9B1ZAD', 'nonsense']) {
      const missing = await get(`/api/v1/operator/signals/${unknown}/events`);
      expect([missing.statusCode, missing.json().type]).toEqual([404, 'urn:sigpost:problem:not-found']);
    }
  });

  it('answers 404 when approving or rejecting an unknown signal', async () => {
    expect((await post('/api/v1/operator/signals/sig_01JC3M5W8QXG4K2N6Y7T9B1ZAD/approve')).statusCode).toBe(
      404,
    );
    expect(
      (await post('/api/v1/operator/signals/sig_01JC3M5W8QXG4K2N6Y7T9B1ZAD/reject', { reason: 'x' }))
        .statusCode,
    ).toBe(404);
  });

  it.each([
    [undefined, 'body: expected a JSON object such as {"reason": "…"}'],
    [{}, 'reason: expected a string of 1–500 characters'],
    [{ reason: '   ' }, 'reason: expected 1–500 characters'],
    [{ reason: 'ok', extra: true }, 'extra: expected no such parameter'],
  ])('refuses a reject body %j with 400 invalid-request', async (body, detail) => {
    const [id] = await ingestMany(1);
    const res = await post(`/api/v1/operator/signals/${id}/reject`, body);
    expect(res.statusCode).toBe(400);
    expect(res.json().detail).toBe(detail);
    expect((await env.store.getSignal(id ?? ''))?.status).toBe('pending_approval');
  });

  it('refuses a reject body that is not JSON with 400 malformed-json', async () => {
    const [id] = await ingestMany(1);
    const res = await env.app.inject({
      method: 'POST',
      url: `/api/v1/operator/signals/${id}/reject`,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      payload: '{reason',
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().type).toBe('urn:sigpost:problem:malformed-json');
  });
});

/** Overwrites a stored body in the SQLite file, as a row written by an older release would be. */
function storeBodyDirectly(id: string, body: string): void {
  const db = new Database(env.dbPath);
  try {
    db.pragma('busy_timeout = 5000');
    expect(db.prepare('UPDATE signals SET body = ? WHERE id = ?').run(body, id).changes).toBe(1);
  } finally {
    db.close();
  }
}

/** 10,000 levels of nesting: JSON.parse reads it, JSON.stringify overflows the stack on it. */
const DEEP = `{"instrument":"GOLD","payload":{"x":${'['.repeat(10_000)}${']'.repeat(10_000)}}}`;

describe('operator API: rows stored by older releases, over the body limits', () => {
  beforeEach(async () => {
    env = await testEnv({ producer: { approval: 'manual' } });
    token = (await env.admin.createToken('alice')).token;
  });

  it('lists every row when one body is nested 10,000 levels deep: that row shows its text and why', async () => {
    const [good, deep] = await ingestMany(2);
    storeBodyDirectly(deep as string, DEEP);
    const res = await get('/api/v1/operator/signals');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
    const { items } = res.json();
    expect(items.map((item: { signal_id: string }) => item.signal_id)).toEqual([deep, good]);
    expect(items[0]).toMatchObject({
      signal_id: deep,
      status: 'pending_approval',
      signal: DEEP,
      signal_issue: expect.stringMatching(
        /^the stored body cannot be shown as JSON \(payload\.x(\[0\]){30}: nested over the limit of 32 levels\); signal holds its text as stored$/,
      ),
    });
    expect(items[1]).toMatchObject({ signal_id: good, signal: { ...SIGNAL } });
    expect(items[1]).not.toHaveProperty('signal_issue');
  });

  it('shows a deep row, and a row with a duplicate key, as their text with signal_issue', async () => {
    const [deep, duplicate] = await ingestMany(2);
    storeBodyDirectly(deep as string, DEEP);
    const twice = '{"side":"sell","side":"buy"}';
    storeBodyDirectly(duplicate as string, twice);
    const shown = await get(`/api/v1/operator/signals/${deep}`);
    expect(shown.statusCode).toBe(200);
    expect(shown.json()).toMatchObject({ signal_id: deep, signal: DEEP, signal_issue: expect.any(String) });
    const dup = await get(`/api/v1/operator/signals/${duplicate}`);
    expect(dup.statusCode).toBe(200);
    expect(dup.json()).toMatchObject({
      signal: twice,
      signal_issue: expect.stringContaining('(side: duplicate key;'),
    });
  });

  it('approves a deep row with 200 and what it committed; a retry then answers 409 (committed once)', async () => {
    const [deep] = await ingestMany(1);
    storeBodyDirectly(deep as string, DEEP);
    const res = await post(`/api/v1/operator/signals/${deep}/approve`, { note: 'ok' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({
      signal_id: deep,
      status: 'approved',
      message: 'ok',
      decided_by: 'operator:alice',
      signal: DEEP,
      signal_issue: expect.any(String),
    });
    expect((await env.store.getSignal(deep as string))?.status).toBe('approved');
    expect((await post(`/api/v1/operator/signals/${deep}/approve`)).statusCode).toBe(409);
  });

  it('rejects a deep row with 200 and what it committed', async () => {
    const [deep] = await ingestMany(1);
    storeBodyDirectly(deep as string, DEEP);
    const res = await post(`/api/v1/operator/signals/${deep}/reject`, { reason: 'unreadable' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ status: 'rejected', message: 'unreadable', signal: DEEP });
  });

  it('refuses a decision body with a duplicate key, deciding nothing', async () => {
    const [id] = await ingestMany(1);
    const res = await env.app.inject({
      method: 'POST',
      url: `/api/v1/operator/signals/${id}/reject`,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      payload: '{"reason":"stale","reason":"fine"}',
    });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({
      type: 'urn:sigpost:problem:invalid-request',
      errors: [
        'reason: duplicate key; each key may appear once per object (consumers disagree on which value wins)',
      ],
    });
    expect((await env.store.getSignal(id as string))?.status).toBe('pending_approval');
  });
});

/** The real store, with `listSignals` failing with `error`. */
function failingList(error: Error) {
  return (store: Store) =>
    withOverride(store, {
      listSignals: async () => {
        throw error;
      },
    });
}

describe('operator API: failures', () => {
  it('answers 503 store-unavailable with Retry-After when the database is unreachable', async () => {
    env = await testEnv({
      wrapStore: failingList(new StoreUnavailableError('PostgreSQL at db:5432 refused the connection')),
    });
    token = (await env.admin.createToken('alice')).token;
    const res = await get('/api/v1/operator/signals');
    expect(res.statusCode).toBe(503);
    expect(res.headers['retry-after']).toBe('1');
    expect(res.json()).toEqual({
      type: 'urn:sigpost:problem:store-unavailable',
      title: 'Storage unavailable',
      status: 503,
      detail: 'the signal store is unavailable; retry later',
    });
  });

  it('logs an unexpected failure and answers a generic 500 that reveals nothing', async () => {
    env = await testEnv({
      wrapStore: failingList(new Error('SQLITE_CORRUPT: database disk image is malformed at page 7')),
    });
    token = (await env.admin.createToken('alice')).token;
    const res = await get('/api/v1/operator/signals');
    expect(res.statusCode).toBe(500);
    expect(res.json()).toEqual({
      type: 'urn:sigpost:problem:internal',
      title: 'Internal server error',
      status: 500,
      detail: 'the server failed to process the request; retry later',
    });
    expect(res.payload).not.toContain('SQLITE');
    expect(env.logs.join('')).toContain('SQLITE_CORRUPT');
  });
});

describe('operator API: OpenAPI document', () => {
  // Runs after the tests above (vitest runs a file's tests in order): every refusal they met is
  // listed under its route, method and status in /openapi.json.
  it('lists every refusal the operator routes gave in this file under its route and status', async () => {
    env = await testEnv();
    const doc = (await env.app.inject({ method: 'GET', url: '/openapi.json' })).json();
    expect(refusals.size).toBeGreaterThanOrEqual(8);
    const missing = [...refusals].filter((refusal) => {
      const [method, route, status, problem] = refusal.split(' ') as [string, string, string, string];
      const path = route.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
      const description = doc.paths[path]?.[method.toLowerCase()]?.responses?.[status]?.description ?? '';
      return !description.includes(`\`${problem}\``);
    });
    expect(missing).toEqual([]);
  });
});
