// GET /api/v1/stream: the WebSocket endpoint of the live stream (docs/stream.md). The upgrade is
// handled on the node server's 'upgrade' event (ws with `noServer`), so every refusal is a plain
// HTTP problem+json answer written to the socket before any WebSocket frame.
import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { PROBLEM_CONTENT_TYPE, PROBLEMS, type ProblemCode, problem } from '@sigpost/protocol';
import type { FastifyInstance } from 'fastify';
import { WebSocketServer } from 'ws';
import type { StreamSession } from '../console/sessions.js';
import type { AppContext } from '../context.js';
import { isHttpProblem, sendProblem } from '../problems.js';
import { hashToken } from '../secrets.js';
import { isStoreError } from '../store/errors.js';
import { type AuthOutcome, StreamHub } from './hub.js';
import {
  CLOSE,
  type Principal,
  parseStreamQuery,
  resolveScope,
  type Scope,
  STREAM_PATH,
  type StreamQuery,
  StreamRefusal,
} from './messages.js';
import { StreamMetrics } from './metrics.js';

/** Largest frame a subscriber may send (its only message is the auth message). */
export const MAX_INBOUND_FRAME_BYTES = 4_096;
const BEARER = /^Bearer ([\x21-\x7e]{1,512})$/i;
const DAY_MS = 86_400_000;

/**
 * Wires the stream into the app: the upgrade handler on `app.server`, the hub (started when the app
 * is ready, closed with 1001 before the server closes), a plain-HTTP answer for a GET without
 * Upgrade, and the retention purge when `signalRetentionDays` > 0.
 */
export function registerStream(app: FastifyInstance, ctx: AppContext): StreamHub {
  const hub = new StreamHub({ store: ctx.store, config: ctx.config, log: app.log });
  hub.metrics = new StreamMetrics(ctx.metrics.registry, hub);
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: MAX_INBOUND_FRAME_BYTES,
    perMessageDeflate: false,
    clientTracking: false,
  });

  const lookup = async (token: string): Promise<Principal | undefined> => {
    const hash = hashToken(token);
    const same = (stored: string) => timingSafeEqual(Buffer.from(stored, 'hex'), Buffer.from(hash, 'hex'));
    const subscriber = await ctx.store.findSubscriberByHash(hash);
    if (subscriber !== undefined && same(subscriber.hash)) {
      return {
        kind: 'subscriber',
        id: subscriber.id,
        hash: subscriber.hash,
        producers: subscriber.producers,
        statuses: subscriber.statuses,
      };
    }
    const operator = await ctx.store.findTokenByHash(hash);
    if (operator !== undefined && same(operator.hash)) {
      return { kind: 'operator', id: operator.id, hash: operator.hash, producers: null, statuses: null };
    }
    return undefined;
  };

  /** Authorizes a token for a query: the principal and its scope, or the refusal. */
  const authorize = async (
    token: string,
    query: StreamQuery,
  ): Promise<{ principal: Principal; scope: Scope }> => {
    const principal = await lookup(token);
    if (principal === undefined) {
      throw new StreamRefusal(
        'invalid-subscriber-token',
        'the token is not a valid subscriber or operator token (it may have been revoked); create one with `sigpost subscribers create`',
        { 'WWW-Authenticate': 'Bearer realm="sigpost"' },
      );
    }
    const scope = resolveScope(principal, query);
    if (hub.connectionsOf(principal.id) >= ctx.config.streamMaxConnectionsPerToken) {
      throw new StreamRefusal(
        'too-many-connections',
        `this token already has ${ctx.config.streamMaxConnectionsPerToken} open stream connections (the limit); close one first`,
        { 'Retry-After': '5' },
      );
    }
    return { principal, scope };
  };

  /**
   * The operator console's session cookie (same origin only: cross-site WebSocket hijacking is
   * refused 403 `csrf-rejected`; an ended session 401 `operator-unauthorized`). Undefined without a
   * session cookie: the browser then authenticates by its first message.
   */
  const authorizeSession = async (
    request: IncomingMessage,
    query: StreamQuery,
  ): Promise<{ principal: Principal; scope: Scope } | undefined> => {
    let session: StreamSession | undefined;
    try {
      session = await ctx.consoleSessions.authenticateStream(request);
    } catch (error) {
      if (isHttpProblem(error)) throw new StreamRefusal(error.code, error.detail);
      throw error;
    }
    if (session === undefined) return undefined;
    const operator = await ctx.store.findTokenByHash(session.tokenHash);
    if (operator === undefined) {
      throw new StreamRefusal(
        'operator-unauthorized',
        'the operator token this session signed in with was revoked; sign in with a valid token',
      );
    }
    const principal: Principal = {
      kind: 'operator',
      id: operator.id,
      hash: operator.hash,
      producers: null,
      statuses: null,
      keepAlive: session.keepAlive,
    };
    const scope = resolveScope(principal, query);
    if (hub.connectionsOf(principal.id) >= ctx.config.streamMaxConnectionsPerToken) {
      throw new StreamRefusal(
        'too-many-connections',
        `this operator already has ${ctx.config.streamMaxConnectionsPerToken} open stream connections (the limit); close a console tab first`,
        { 'Retry-After': '5' },
      );
    }
    return { principal, scope };
  };

  const onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => {});
    const refused = (code: ProblemCode, detail: string, headers: Readonly<Record<string, string>> = {}) => {
      ctx.metrics.countRequest(STREAM_PATH, PROBLEMS[code].status >= 500 ? 'error' : 'refused', code);
      refuse(socket, code, detail, headers);
    };
    handleUpgrade(request, socket, head).then(
      () => ctx.metrics.countRequest(STREAM_PATH, 'ok', ''),
      (error: unknown) => {
        if (error instanceof StreamRefusal) {
          refused(error.code, error.message, error.headers);
          return;
        }
        if (isStoreError(error) && error.code === 'STORE_UNAVAILABLE') {
          app.log.error({ err: error }, 'the store is unavailable');
          refused('store-unavailable', 'the signal store is unavailable; retry later', {
            'Retry-After': '1',
          });
          return;
        }
        app.log.error({ err: error }, 'stream upgrade failed');
        refused('internal', 'the server failed to process the request; retry later');
      },
    );
  };

  const handleUpgrade = async (request: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> => {
    const url = new URL(request.url ?? '/', 'http://sigpost.invalid');
    if (url.pathname !== STREAM_PATH) {
      throw new StreamRefusal(
        'not-found',
        `no WebSocket endpoint at ${url.pathname.slice(0, 200)}; the stream is ${STREAM_PATH}`,
      );
    }
    if (ctx.draining || !hub.started) {
      throw new StreamRefusal('store-unavailable', 'the server is shutting down or starting; retry shortly', {
        'Retry-After': '1',
      });
    }
    // What ws would refuse with a bare text answer, refused here as problems.
    if ((request.headers.upgrade ?? '').toLowerCase() !== 'websocket') {
      throw new StreamRefusal('invalid-stream-request', 'expected Upgrade: websocket');
    }
    if (request.headers['sec-websocket-version'] !== '13') {
      throw new StreamRefusal('invalid-stream-request', 'expected Sec-WebSocket-Version: 13 (RFC 6455)', {
        'Sec-WebSocket-Version': '13',
      });
    }
    if (!/^[+/0-9A-Za-z]{22}==$/.test(request.headers['sec-websocket-key'] ?? '')) {
      throw new StreamRefusal(
        'invalid-stream-request',
        'expected Sec-WebSocket-Key: the base64 of 16 random bytes (RFC 6455)',
      );
    }
    if (request.method !== 'GET') {
      throw new StreamRefusal(
        'method-not-allowed',
        `${request.method} is not allowed on ${STREAM_PATH}; use GET`,
      );
    }
    const query = parseStreamQuery(url.searchParams);
    const authorization = request.headers.authorization;
    let granted: { principal: Principal; scope: Scope } | undefined;
    if (authorization !== undefined) {
      const token = BEARER.exec(authorization)?.[1];
      if (token === undefined) {
        throw new StreamRefusal(
          'invalid-subscriber-token',
          'send Authorization: Bearer <token> (create a token with `sigpost subscribers create`)',
          { 'WWW-Authenticate': 'Bearer realm="sigpost"' },
        );
      }
      granted = await authorize(token, query);
    } else {
      granted = await authorizeSession(request, query);
    }
    wss.handleUpgrade(request, socket, head, (ws) => {
      if (granted !== undefined) {
        // Counted now; another upgrade of the same token may have been granted meanwhile.
        if (hub.connectionsOf(granted.principal.id) >= ctx.config.streamMaxConnectionsPerToken) {
          ws.close(CLOSE.slowConsumer, 'too many connections for this token');
          return;
        }
        hub.accept(ws, query, granted.principal, granted.scope, browserAuth(query));
      } else {
        hub.accept(ws, query, undefined, undefined, browserAuth(query));
      }
    });
  };

  /** A browser's auth message: the same checks as the header path, answered with close codes. */
  const browserAuth =
    (query: StreamQuery) =>
    async (token: string): Promise<AuthOutcome> => {
      try {
        return await authorize(token, query);
      } catch (error) {
        if (!(error instanceof StreamRefusal)) throw error;
        const close =
          error.code === 'stream-scope-forbidden'
            ? CLOSE.revoked
            : error.code === 'too-many-connections'
              ? CLOSE.slowConsumer
              : CLOSE.unauthorized;
        return { close, reason: error.code };
      }
    };

  app.server.on('upgrade', onUpgrade);

  // A plain GET (no Upgrade header) is routed by fastify: say how to connect.
  app.get(STREAM_PATH, async (_request, reply) =>
    sendProblem(
      reply,
      'invalid-stream-request',
      `${STREAM_PATH} is a WebSocket endpoint: connect with a WebSocket client (Upgrade: websocket), see docs/stream.md`,
    ),
  );

  let retentionTimer: NodeJS.Timeout | undefined;
  app.addHook('onReady', async () => {
    await hub.start();
    const days = ctx.config.signalRetentionDays;
    if (days > 0) {
      const purge = () => {
        ctx.store.purgeSignals(Math.floor(ctx.clock.now()) - days * DAY_MS).then(
          (deleted) => {
            if (deleted > 0) app.log.info({ deleted, retention_days: days }, 'purged signals past retention');
          },
          (error: unknown) =>
            app.log.warn({ err: error }, 'purging signals past retention failed; will retry'),
        );
      };
      retentionTimer = setInterval(purge, ctx.config.purgeIntervalSeconds * 1000);
      retentionTimer.unref();
    }
  });
  app.addHook('preClose', async () => {
    clearInterval(retentionTimer);
    app.server.off('upgrade', onUpgrade);
    await hub.close();
  });
  return hub;
}

/** Writes an HTTP problem+json answer to a socket that was not upgraded, and closes it. */
function refuse(
  socket: Duplex,
  code: ProblemCode,
  detail: string,
  headers: Readonly<Record<string, string>> = {},
): void {
  if (socket.destroyed) return;
  const status = PROBLEMS[code].status;
  const body = JSON.stringify(problem(code, detail));
  const lines = [
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}`,
    `Content-Type: ${PROBLEM_CONTENT_TYPE}`,
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Connection: close',
    ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
  ];
  socket.end(`${lines.join('\r\n')}\r\n\r\n${body}`);
}
