import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Clock } from '../clock.js';
import { HttpProblem } from '../problems.js';
import type { Store } from '../store/store.js';

/** Name of the session cookie on plain HTTP. */
export const SESSION_COOKIE = 'sigpost_session';
/** Name of the session cookie over HTTPS: the `__Host-` prefix pins it to this host, path `/`, Secure. */
export const SECURE_SESSION_COOKIE = '__Host-sigpost_session';
/** Header carrying the session's CSRF token on every state change. */
export const CSRF_HEADER = 'x-csrf-token';

/** Lifetimes of a console session. */
export interface SessionLimits {
  /** A session ends this long after sign-in, whatever happens. @default 12 h */
  readonly absoluteMs: number;
  /** A session ends after this long without a request. @default 30 min */
  readonly idleMs: number;
  /** At most this many live sessions per server; signing in past it ends the oldest. @default 10,000 */
  readonly maxSessions: number;
}

export const SESSION_LIMITS: SessionLimits = Object.freeze({
  absoluteMs: 12 * 60 * 60 * 1000,
  idleMs: 30 * 60 * 1000,
  maxSessions: 10_000,
});

interface Session {
  /** Name of the operator token used to sign in (shown, and recorded on decisions). */
  readonly operator: string;
  /** Hex SHA-256 of that token: every request checks it is still valid, so revoking it ends the session. */
  readonly tokenHash: string;
  readonly csrf: string;
  readonly createdAt: number;
  lastSeenAt: number;
}

/** A console session holding a stream connection (see `ConsoleSessions.authenticateStream`). */
export interface StreamSession {
  readonly operator: string;
  /** Hex SHA-256 of the operator token the session signed in with. */
  readonly tokenHash: string;
  /** Touches the session; false once it has ended. */
  readonly keepAlive: () => boolean;
}

/** What the console's JavaScript learns about its own session (`GET /console/session`). */
export interface SessionInfo {
  readonly operator: string;
  readonly csrf_token: string;
  /** RFC 3339: when the session ends at the latest (sign-in + 12 h). */
  readonly expires_at: string;
  readonly idle_timeout_seconds: number;
}

const SESSION_ID = /^[A-Za-z0-9_-]{43}$/;

/** What session checks read of a request: its headers (a fastify request or a raw upgrade request). */
export interface HeaderBearer {
  readonly headers: IncomingHttpHeaders;
}
const UNSAFE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

function sameString(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** The value of one cookie in a Cookie header, or undefined. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** True when the request reached us over HTTPS (directly, or through a proxy that says so). */
export function isHttps(request: FastifyRequest): boolean {
  // A forged X-Forwarded-Proto only makes the cookie Secure, which a plain-HTTP browser then drops.
  const forwarded = request.headers['x-forwarded-proto'];
  return request.protocol === 'https' || (typeof forwarded === 'string' && forwarded.trim() === 'https');
}

/**
 * Refuses a cross-site state change: the browser's `Origin` (always sent on a POST or DELETE from
 * script) must name this host, and `Sec-Fetch-Site`, when sent, must be `same-origin`.
 */
export function assertSameOrigin(request: HeaderBearer): void {
  const origin = request.headers.origin;
  const host = request.headers.host;
  let originHost: string | undefined;
  try {
    originHost = typeof origin === 'string' && origin !== 'null' ? new URL(origin).host : undefined;
  } catch {
    originHost = undefined;
  }
  if (originHost === undefined || host === undefined || originHost !== host) {
    throw new HttpProblem(
      'the request did not come from this console (its Origin header is missing or names another site)',
      { code: 'csrf-rejected' },
    );
  }
  const site = request.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin') {
    throw new HttpProblem(`the request came from a ${String(site)} page, not this console`, {
      code: 'csrf-rejected',
    });
  }
}

/**
 * Console sessions, kept in this process's memory: they do not survive a restart and are not shared
 * between servers (behind a load balancer, pin an operator's browser to one server or sign in again).
 * The browser holds a random 256-bit session id in an HttpOnly, SameSite=Strict cookie; only its
 * SHA-256 is kept here. The operator token itself is never kept: only its hash, to check on every
 * request that it has not been revoked.
 */
export class ConsoleSessions {
  readonly #sessions = new Map<string, Session>();
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #limits: SessionLimits;

  constructor(store: Store, clock: Clock, limits: Partial<SessionLimits> = {}) {
    this.#store = store;
    this.#clock = clock;
    this.#limits = { ...SESSION_LIMITS, ...limits };
  }

  /** Live sessions in this process. */
  get size(): number {
    return this.#sessions.size;
  }

  /** Starts a session for a verified operator token; sets the cookie and returns what the page needs. */
  create(reply: FastifyReply, operator: string, tokenHash: string): SessionInfo {
    const now = this.#clock.now();
    this.#sweep(now);
    while (this.#sessions.size >= this.#limits.maxSessions) {
      const oldest = this.#sessions.keys().next().value;
      if (oldest === undefined) break;
      this.#sessions.delete(oldest);
    }
    const id = randomBytes(32).toString('base64url');
    const session: Session = {
      operator,
      tokenHash,
      csrf: randomBytes(32).toString('base64url'),
      createdAt: now,
      lastSeenAt: now,
    };
    this.#sessions.set(sha256(id), session);
    const secure = isHttps(reply.request);
    reply.header(
      'set-cookie',
      `${secure ? SECURE_SESSION_COOKIE : SESSION_COOKIE}=${id}; Path=/; HttpOnly; SameSite=Strict; ` +
        `Max-Age=${Math.floor(this.#limits.absoluteMs / 1000)}${secure ? '; Secure' : ''}`,
    );
    return this.#info(session);
  }

  /**
   * The session named by the request's cookie, still valid and touched, or `undefined` when the
   * request carries no session cookie. Throws `operator-unauthorized` for an unknown, expired or
   * revoked session.
   */
  async resume(request: HeaderBearer): Promise<{ key: string; info: SessionInfo } | undefined> {
    const cookies = request.headers.cookie;
    const id = readCookie(cookies, SECURE_SESSION_COOKIE) ?? readCookie(cookies, SESSION_COOKIE);
    if (id === undefined) return undefined;
    const expired = () =>
      new HttpProblem(
        'your console session has ended (signed out, expired or the server restarted); sign in again',
        { code: 'operator-unauthorized' },
      );
    if (!SESSION_ID.test(id)) throw expired();
    const key = sha256(id);
    const session = this.#sessions.get(key);
    const now = this.#clock.now();
    if (!session || this.#isExpired(session, now)) {
      this.#sessions.delete(key);
      throw expired();
    }
    const token = await this.#store.findTokenByHash(session.tokenHash);
    if (!token || !sameString(token.hash, session.tokenHash)) {
      this.#sessions.delete(key);
      throw new HttpProblem(
        'the operator token this session signed in with was revoked; sign in with a valid token',
        { code: 'operator-unauthorized' },
      );
    }
    session.lastSeenAt = now;
    return { key, info: this.#info(session) };
  }

  /**
   * Authenticates a request by its session cookie, for the operator API: `undefined` when there is no
   * session cookie (the caller then asks for a bearer token), else the operator's name. State changes
   * also need the session's CSRF token in `X-CSRF-Token` and a same-origin `Origin`, else 403
   * `csrf-rejected`.
   */
  async authenticate(request: FastifyRequest): Promise<string | undefined> {
    const found = await this.resume(request);
    if (found === undefined) return undefined;
    if (UNSAFE_METHODS.has(request.method)) this.assertCsrf(request, found.key);
    return found.info.operator;
  }

  /**
   * For the live stream's WebSocket upgrade (`GET /api/v1/stream`, a raw node request): the operator
   * signed in by the request's session cookie, or `undefined` without one. Throws
   * `operator-unauthorized` for an ended session and `csrf-rejected` when `Origin` does not name this
   * host (a page on another site, even a same-site one on another port, must not open the console's
   * stream with its cookie: cross-site WebSocket hijacking).
   */
  async authenticateUpgrade(request: HeaderBearer): Promise<string | undefined> {
    return (await this.authenticateStream(request))?.operator;
  }

  /**
   * `authenticateUpgrade` with what the stream keeps for the connection's lifetime: the operator
   * token's hash (the stream closes the connection when that token is revoked) and `keepAlive`,
   * which the stream calls every few seconds: it counts an open stream as activity (the feed needs
   * no request, and a watched console must not idle out, as it did not while it polled) and answers
   * false once the session has ended (signed out, or 12 h after sign-in), so the stream closes.
   */
  async authenticateStream(request: HeaderBearer): Promise<StreamSession | undefined> {
    const found = await this.resume(request);
    if (found === undefined) return undefined;
    assertSameOrigin(request);
    const session = this.#sessions.get(found.key);
    if (session === undefined) return undefined;
    return {
      operator: session.operator,
      tokenHash: session.tokenHash,
      keepAlive: () => {
        const now = this.#clock.now();
        if (this.#sessions.get(found.key) !== session || now - session.createdAt >= this.#limits.absoluteMs) {
          return false;
        }
        session.lastSeenAt = now;
        return true;
      },
    };
  }

  /** Checks the CSRF token of the session stored under `key` and the request's origin. */
  assertCsrf(request: FastifyRequest, key: string): void {
    const session = this.#sessions.get(key);
    const sent = request.headers[CSRF_HEADER];
    if (!session || typeof sent !== 'string' || !sameString(sent, session.csrf)) {
      throw new HttpProblem(
        `a console state change needs the session's CSRF token in the ${CSRF_HEADER} header; reload the console`,
        { code: 'csrf-rejected' },
      );
    }
    assertSameOrigin(request);
  }

  /** Ends the session stored under `key` (the caller sets or clears the cookie). */
  forget(key: string): void {
    this.#sessions.delete(key);
  }

  /** Ends the session stored under `key` and tells the browser to drop its cookie. */
  end(reply: FastifyReply, key: string | undefined): void {
    if (key !== undefined) this.#sessions.delete(key);
    const secure = isHttps(reply.request);
    reply.header(
      'set-cookie',
      `${secure ? SECURE_SESSION_COOKIE : SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0${secure ? '; Secure' : ''}`,
    );
  }

  #info(session: Session): SessionInfo {
    return {
      operator: session.operator,
      csrf_token: session.csrf,
      expires_at: new Date(session.createdAt + this.#limits.absoluteMs).toISOString(),
      idle_timeout_seconds: Math.floor(this.#limits.idleMs / 1000),
    };
  }

  #isExpired(session: Session, now: number): boolean {
    return (
      now - session.lastSeenAt >= this.#limits.idleMs || now - session.createdAt >= this.#limits.absoluteMs
    );
  }

  #sweep(now: number): void {
    for (const [key, session] of this.#sessions) {
      if (this.#isExpired(session, now)) this.#sessions.delete(key);
    }
  }
}
