import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { HEADERS, INGEST_PATH, PROBLEM_CONTENT_TYPE, PROBLEMS, problem } from '@sigpost/protocol';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import { Batcher } from './batcher.js';
import { InFlightKeys } from './checks/idempotency.js';
import { startExpiryPurge } from './checks/purge.js';
import { TokenBuckets } from './checks/rate-limit.js';
import { type SecretOpener, SignatureVerifier } from './checks/signature.js';
import { type Clock, systemClock } from './clock.js';
import { resolveConfig, type ServerConfig, type ServerConfigInput } from './config.js';
import { registerConsoleRoutes } from './console/routes.js';
import { ConsoleSessions } from './console/sessions.js';
import type { AppContext, RequestState } from './context.js';
import { IngestMetrics } from './metrics.js';
import {
  endWithResponse,
  MAX_HEADER_BYTES,
  makeClientErrorHandler,
  makeErrorHandler,
  rawProblemResponse,
  sendProblem,
} from './problems.js';
import { registerDocsRoutes } from './routes/docs.js';
import { registerHealthRoutes } from './routes/health.js';
import { registerIngestRoute } from './routes/ingest.js';
import { registerOperatorRoutes } from './routes/operator.js';
import type { Store } from './store/store.js';
import { registerStream } from './stream/endpoint.js';

/** What `buildApp` needs. */
export interface AppDeps {
  /** Where producers, signals, idempotency records and tokens live. The app never closes it. */
  readonly store: Store;
  /** Opens the sealed producer secrets read from the store (a `SecretBox`). */
  readonly secretBox: SecretOpener;
  /** @default the system wall clock */
  readonly clock?: Clock;
  /** A pino logger. Signatures, secrets and tokens are redacted as a second guard; headers are never logged. @default no logging */
  readonly logger?: FastifyBaseLogger;
  /** Options over `DEFAULTS` (see `resolveConfig`). */
  readonly config?: ServerConfigInput;
}

/** Log paths censored even if some code logged them by mistake. */
const REDACT = [
  'secret',
  '*.secret',
  'token',
  '*.token',
  'signature',
  '*.signature',
  'headers.authorization',
  'headers["x-signature"]',
  'req.headers.authorization',
  'req.headers["x-signature"]',
];

/**
 * Builds the ingest server's fastify app without listening: tests drive it with `app.inject()`,
 * `startServer` listens. Routes: `POST /api/v1/signals/ingest`, the operator API under
 * `/api/v1/operator`, the operator console at `/console`, the live stream `/api/v1/stream`, `/healthz`,
 * `/readyz`, `/metrics`, `/openapi.json`, `/docs`, `/docs/protocol`.
 *
 * @example
 * const app = buildApp({ store, secretBox: SecretBox.fromEnv() });
 * const res = await app.inject({ method: 'GET', url: '/healthz' });
 * @see ../README.md
 */
export function buildApp(deps: AppDeps): FastifyInstance {
  const config: ServerConfig = resolveConfig(deps.config);
  const clock = deps.clock ?? systemClock;
  const logger = deps.logger?.child({}, { redact: { paths: REDACT, censor: '[redacted]' } });
  // The one line per request is built here from fixed, known fields (no secret can be among them),
  // so it skips the redaction pass every other line takes: a few µs per request under load.
  const accessLog = deps.logger;
  // Skips building a log line when nothing would print it (no logger, or level > info).
  const levels = logger as unknown as { isLevelEnabled?: (level: string) => boolean } | undefined;
  const infoEnabled = () => levels?.isLevelEnabled?.('info') ?? false;
  let metrics: IngestMetrics | undefined;
  const clientErrors = makeClientErrorHandler(config, (code, parserCode, requestStarted) => {
    // A request fastify was reading is counted and logged by its own hooks (see makeErrorHandler).
    if (requestStarted) return;
    metrics?.countRequest('(unparsed)', 'refused', code);
    if (infoEnabled()) {
      app.log.info(
        { route: '(unparsed)', http_code: PROBLEMS[code].status, problem: code, parser_error: parserCode },
        'request refused by the HTTP parser',
      );
    }
  });
  const app = Fastify({
    ...(logger ? { loggerInstance: logger } : { logger: false }),
    bodyLimit: config.maxBodyBytes,
    // Bounded waits (fastify's default is to wait for a body forever): see docs/operations.md.
    requestTimeout: config.requestTimeoutMs,
    keepAliveTimeout: config.keepAliveTimeoutMs,
    http: {
      headersTimeout: config.headersTimeoutMs,
      requestTimeout: config.requestTimeoutMs,
      // How often node looks for requests over their timeout: a tenth of the shorter one, at most 1 s.
      connectionsCheckingInterval: Math.max(
        10,
        Math.min(1_000, Math.floor(Math.min(config.headersTimeoutMs, config.requestTimeoutMs) / 10)),
      ),
      maxHeaderSize: MAX_HEADER_BYTES,
      // Node answers a missing Host with a bare 400; the onRequest hook answers it as a problem.
      requireHostHeader: false,
    },
    // The HTTP parser's refusals (malformed requests, 431, 408) as problem+json, written on the socket.
    clientErrorHandler: clientErrors.handler,
    // One line per request is written by the onResponse hook below, with the seed's fields.
    logController: new LogController({ disableRequestLogging: true }),
    // Our own draining answer (problem+json) replaces fastify's plain 503.
    return503OnClosing: false,
    // Errors raised before routing (a malformed URL) skip the error handler; answer them as problems too.
    frameworkErrors: (error, _request, reply) => {
      if (error.code === 'FST_ERR_BAD_URL') {
        sendProblem(reply, 'invalid-request', 'the request URL is not valid (malformed percent-encoding)');
      } else if (error.code === 'FST_ERR_MAX_PARAM_LENGTH') {
        sendProblem(reply, 'invalid-request', 'a path segment is longer than 100 characters; check the id');
      } else {
        reply.log.error({ err: error }, 'request failed before routing');
        sendProblem(reply, 'internal', 'the server failed to process the request; retry later');
      }
    },
  }) as unknown as FastifyInstance;

  metrics = new IngestMetrics(deps.store);
  guardServer(app, config, metrics);
  const ctx: AppContext = {
    store: deps.store,
    config,
    clock,
    metrics,
    batcher: new Batcher(deps.store, {
      maxBatchSize: config.maxBatchSize,
      // As many as the store can commit together (SQLite's writer thread: 4; PostgreSQL: 1).
      maxInFlight: deps.store.acceptBatchesInFlight ?? 1,
      observe: (size) => metrics.batchSize.observe(size),
    }),
    verifier: new SignatureVerifier({
      store: deps.store,
      opener: deps.secretBox,
      cacheMs: config.secretCacheMs,
      clock,
      log: app.log,
    }),
    buckets: new TokenBuckets(config.rateLimit),
    consoleSessions: new ConsoleSessions(deps.store, clock),
    inFlight: new InFlightKeys(),
    draining: false,
  };
  app.decorate('sigpost', ctx);
  app.decorateRequest('sigpost', null as unknown as RequestState);

  // Every body is read as raw bytes under the body limit; JSON is parsed by the routes themselves,
  // after the signature has been verified over exactly these bytes.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

  const routes: { pattern: RegExp; methods: string[] }[] = [];
  app.addHook('onRoute', (route) => {
    const methods = (Array.isArray(route.method) ? route.method : [route.method]).map(String);
    const source = route.url.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/:[A-Za-z0-9_]+/g, '[^/]+');
    routes.push({ pattern: new RegExp(`^${source}$`), methods });
  });

  app.addHook('onRequest', (request, reply, done) => {
    request.sigpost = {
      contentType: undefined,
      producerId: undefined,
      signalId: undefined,
      problem: undefined,
      outcome: undefined,
      operator: undefined,
      operatorChannel: undefined,
    };
    const refusal = requestLineOrHostFault(request.raw);
    if (refusal !== undefined) {
      reply.header('connection', 'close');
      sendProblem(reply, 'malformed-http', refusal);
      return;
    }
    if (ctx.draining) {
      reply.header('connection', 'close');
      sendProblem(
        reply,
        'store-unavailable',
        'the server is shutting down; retry shortly',
        {},
        { [HEADERS.retryAfter]: '1' },
      );
      return;
    }
    done();
  });

  app.addHook('onSend', (request, reply, payload, done) => {
    // Requests finishing during a graceful shutdown close their connection behind them.
    if (ctx.draining) reply.header('connection', 'close');
    // An answer given before the body was read whole (a refusal from the headers) closes the
    // connection: otherwise node keeps reading the rest to reuse it, and a slow or absent rest would
    // end in a second, unsolicited answer (408) on the same connection (RFC 9112 §9.6).
    const headers = request.headers;
    const hasBody =
      headers['transfer-encoding'] !== undefined ||
      (headers['content-length'] !== undefined && headers['content-length'] !== '0');
    if (hasBody && !request.raw.complete) reply.header('connection', 'close');
    done(null, payload);
  });

  app.addHook('onResponse', (request, reply, done) => {
    const state = request.sigpost;
    const route = request.routeOptions.url ?? '(unmatched)';
    const problem = state?.problem ?? '';
    const outcome = state?.outcome ?? (problem === '' ? 'ok' : reply.statusCode >= 500 ? 'error' : 'refused');
    metrics.countRequest(route, outcome, problem);
    if (route === INGEST_PATH) metrics.observeIngest(outcome, reply.elapsedTime / 1000);
    const failed = reply.statusCode >= 500;
    if (failed || infoEnabled()) {
      const fields = {
        method: request.method,
        route,
        http_code: reply.statusCode,
        duration_ms: Math.round(reply.elapsedTime * 1000) / 1000,
        ...(state?.producerId ? { producer_id: state.producerId } : {}),
        ...(state?.signalId ? { signal_id: state.signalId } : {}),
        ...(problem ? { problem } : {}),
        ...(state?.operator ? { operator: state.operator } : {}),
      };
      if (failed) request.log.error(fields, 'request failed');
      else if (accessLog) accessLog.info({ reqId: request.id, ...fields }, 'request completed');
    }
    done();
  });

  // A request whose connection closed before it was read whole never reaches onResponse.
  app.addHook('onRequestAbort', (request, done) => {
    const problem = clientErrors.refusalOf(request.raw.socket) ?? '';
    const route = request.routeOptions.url ?? '(unmatched)';
    metrics?.countRequest(route, problem === '' ? 'aborted' : 'refused', problem);
    if (infoEnabled()) {
      request.log.info(
        {
          method: request.method,
          route,
          ...(problem === '' ? {} : { http_code: PROBLEMS[problem].status, problem }),
        },
        problem === '' ? 'request aborted by the client' : 'request refused before it was read whole',
      );
    }
    done();
  });

  app.setErrorHandler(makeErrorHandler(config.maxBodyBytes, clientErrors.refusalOf));
  app.setNotFoundHandler((request, reply) => {
    const path = (request.url.split('?')[0] ?? '').slice(0, 200);
    const allowed = routes.filter((r) => r.pattern.test(path)).flatMap((r) => r.methods);
    if (allowed.length > 0) {
      const list = [...new Set(allowed)].sort().join(', ');
      sendProblem(
        reply,
        'method-not-allowed',
        `${request.method} is not allowed on ${path}; allowed: ${list}`,
        {},
        { Allow: list },
      );
      return;
    }
    sendProblem(reply, 'not-found', `no route for ${request.method} ${path}`);
  });

  registerIngestRoute(app, ctx);
  registerOperatorRoutes(app, ctx);
  registerHealthRoutes(app, ctx);
  registerDocsRoutes(app, ctx);
  registerStream(app, ctx); // GET /api/v1/stream (WebSocket), docs/stream.md
  registerConsoleRoutes(app, ctx);

  let stopPurge = () => {};
  app.addHook('onReady', async () => {
    stopPurge = startExpiryPurge(deps.store, clock, config.purgeIntervalSeconds, app.log);
  });
  app.addHook('onClose', async () => {
    stopPurge();
    // In-flight requests have completed by now (fastify runs onClose after them); this commits
    // anything still queued for the group commit.
    await ctx.batcher.drain();
  });
  return app;
}

/**
 * What llhttp lets through but RFC 9112 refuses: a request line claiming a version other than 1.x
 * (`GET / HTTP/2.0`; HTTP/2 has no request line, and 0.9 is long gone), no `Host` in an HTTP/1.1
 * request, or more than one `Host` (§3.2: 400; node keeps the first, a proxy in front may have routed
 * by the other). `undefined` when the request is fine.
 */
function requestLineOrHostFault(raw: IncomingMessage): string | undefined {
  if (raw.httpVersionMajor !== 1) {
    return `HTTP/${raw.httpVersion} is not served on this port, which serves HTTP/1.1 (and 1.0) only; send HTTP/1.1`;
  }
  const headers = raw.rawHeaders;
  let hosts = 0;
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i] as string;
    if (name.length === 4 && name.toLowerCase() === 'host') hosts++;
  }
  if (hosts > 1) {
    return `the request has ${hosts} Host headers; send exactly one (RFC 9112 §3.2)`;
  }
  if (hosts === 0 && raw.httpVersion === '1.1') {
    return 'an HTTP/1.1 request must have a Host header (RFC 9112 §3.2); send `Host: <server name>`';
  }
  return undefined;
}

/**
 * What node's HTTP server answers on its own, outside fastify, made problem+json too; and the caps on
 * open connections, in all and per client address (beyond them a new connection is closed as soon as
 * it is accepted, before reading anything: the cheapest refusal there is, counted in
 * `sigpost_connections_refused_total`).
 */
function guardServer(
  app: FastifyInstance,
  config: Pick<ServerConfig, 'maxConnections' | 'maxConnectionsPerAddress'>,
  metrics: IngestMetrics,
): void {
  const server = app.server;
  server.maxConnections = config.maxConnections;
  server.on('drop', () => metrics.connectionsRefused.inc());
  const perAddress = config.maxConnectionsPerAddress;
  if (perAddress > 0) {
    // Open connections by client address; an address leaves the map with its last connection.
    const open = new Map<string, number>();
    server.on('connection', (socket: Socket) => {
      const address = socket.remoteAddress;
      if (address === undefined) return; // already gone
      const count = open.get(address) ?? 0;
      if (count >= perAddress) {
        metrics.connectionsRefused.inc();
        socket.destroy();
        return;
      }
      open.set(address, count + 1);
      socket.once('close', () => {
        const left = (open.get(address) ?? 1) - 1;
        if (left === 0) open.delete(address);
        else open.set(address, left);
      });
    });
  }
  metrics.trackConnections(server);
  // `Expect: <anything but 100-continue>`: node's own answer is a bare 417.
  server.on('checkExpectation', (request: IncomingMessage, response: ServerResponse) => {
    const body = JSON.stringify(
      problem(
        'expectation-failed',
        'this server supports no Expect header but `Expect: 100-continue`; send the request without it',
      ),
    );
    response.writeHead(PROBLEMS['expectation-failed'].status, {
      'Content-Type': PROBLEM_CONTENT_TYPE,
      'Content-Length': Buffer.byteLength(body),
      Connection: 'close',
    });
    response.end(body);
    request.resume();
    metrics.countRequest('(unparsed)', 'refused', 'expectation-failed');
  });
  // CONNECT (a proxy tunnel request): node's own answer is to drop the connection.
  server.on('connect', (_request: IncomingMessage, socket: Duplex) => {
    endWithResponse(
      socket,
      rawProblemResponse('method-not-allowed', 'this is not a proxy: CONNECT is not allowed', {
        Allow: 'GET, HEAD, POST',
      }),
    );
    metrics.countRequest('(unparsed)', 'refused', 'method-not-allowed');
  });
}
