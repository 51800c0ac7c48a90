// The console's calls to its server: the session (sign in/out) and the operator API, with the session
// cookie and, on every state change, the session's CSRF token. The operator token is sent once, in the
// sign-in request body; it is never stored by the page.

const OPERATOR = '/api/v1/operator';

/** A refusal from the server, with its problem+json body when there is one. */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail ?? problem?.title ?? `the server answered ${status}`);
    this.name = 'ApiError';
    this.status = status;
    this.problem = problem;
  }
}

let csrfToken = null;

async function call(method, path, body) {
  const headers = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && csrfToken) headers['x-csrf-token'] = csrfToken;
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      credentials: 'same-origin',
      cache: 'no-store',
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  } catch {
    throw new ApiError(0, { title: 'Network error', detail: 'the server could not be reached; retrying' });
  }
  if (response.status === 204) return null;
  const text = await response.text();
  let json = null;
  try {
    json = text === '' ? null : JSON.parse(text);
  } catch {
    json = null;
  }
  if (!response.ok) throw new ApiError(response.status, json);
  return json;
}

/** Who is signed in: `{ signed_in: true, operator, … }`, or `{ signed_in: false, detail }`. */
export async function currentSession() {
  const session = await call('GET', '/console/session');
  csrfToken = session.signed_in ? session.csrf_token : null;
  return session;
}

export async function signIn(token) {
  const session = await call('POST', '/console/session', { token });
  csrfToken = session.csrf_token;
  return session;
}

export async function signOut() {
  await call('DELETE', '/console/session');
  csrfToken = null;
}

/** One page of signals; `filters` are the operator API's query parameters. */
export function listSignals(filters = {}) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(filters)) if (value) query.set(key, value);
  const qs = query.toString();
  return call('GET', `${OPERATOR}/signals${qs ? `?${qs}` : ''}`);
}

export const getSignal = (id) => call('GET', `${OPERATOR}/signals/${encodeURIComponent(id)}`);
/** The signal's live-stream events, oldest first (its history): `{ items: [{ type, seq, at, signal }] }`. */
export const getSignalEvents = (id) => call('GET', `${OPERATOR}/signals/${encodeURIComponent(id)}/events`);
/** The exact signed body and the 201 the producer got (console-only view). */
export const getSignalRecord = (id) => call('GET', `/console/data/signals/${encodeURIComponent(id)}`);
export const approve = (id) => call('POST', `${OPERATOR}/signals/${encodeURIComponent(id)}/approve`);
export const reject = (id, reason) =>
  call('POST', `${OPERATOR}/signals/${encodeURIComponent(id)}/reject`, { reason });
export const listProducers = () => call('GET', `${OPERATOR}/producers`);
/** The server's own metrics, cumulative since it started (see src/console/stats.ts). */
export const getStats = () => call('GET', '/console/data/stats');
