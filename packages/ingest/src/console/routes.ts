import { createHash, timingSafeEqual } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { TokenBuckets } from '../checks/rate-limit.js';
import type { AppContext } from '../context.js';
import { HttpProblem, isHttpProblem } from '../problems.js';
import { hashToken } from '../secrets.js';
import { isSignalId } from '../signals.js';
import { assertSameOrigin } from './sessions.js';
import { statsReader } from './stats.js';

/** Where the console lives. */
export const CONSOLE_PATH = '/console';

/** Sign-in attempts per client address: a burst of 10, then one every 6 s (10 a minute). */
export const SIGN_IN_LIMIT = Object.freeze({ perSecond: 1 / 6, burst: 10 });

/**
 * The console's Content-Security-Policy: everything from this server, no inline script or style, no
 * framing, forms post only here.
 */
export const CONSOLE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': CONSOLE_CSP,
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'permissions-policy': 'camera=(), microphone=(), geolocation=()',
};

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

/** Client-side routes: each answers the same page, which draws the view from the URL. */
const PAGES = ['/', '/signals', '/signals/:id', '/producers', '/stats', '/sign-in'];

interface Asset {
  readonly body: Buffer;
  readonly type: string;
  readonly etag: string;
}

/** The folder of the console's browser files (packages/ingest/web), from src/console or dist/console. */
const WEB_DIR = fileURLToPath(new URL('../../web/', import.meta.url));

function asset(body: Buffer, file: string): Asset {
  const type = TYPES[extname(file)] ?? 'application/octet-stream';
  return { body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` };
}

/** Reads the browser files once: ours from web/, preact + htm (one ES module) from node_modules. */
function loadAssets(): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  for (const file of readdirSync(WEB_DIR)) {
    if (TYPES[extname(file)]) assets.set(file, asset(readFileSync(join(WEB_DIR, file)), file));
  }
  // htm's package.json is not exported: find the package from its main entry (dist/htm.js).
  const htmRoot = dirname(dirname(createRequire(import.meta.url).resolve('htm')));
  const vendored = join(htmRoot, 'preact', 'standalone.module.js');
  assets.set('vendor/preact-htm.js', asset(readFileSync(vendored), vendored));
  return assets;
}

function secured(reply: FastifyReply): FastifyReply {
  for (const [name, value] of Object.entries(SECURITY_HEADERS)) reply.header(name, value);
  return reply;
}

const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const TOKEN_SHAPE = /^sgp_[A-Za-z0-9_-]{16,128}$/;

/**
 * The operator console: the page (`GET /console` and its client-side routes), its static files under
 * `/console/assets/`, and sessions at `/console/session` (POST signs in with an operator token, GET
 * tells the page who is signed in and its CSRF token, DELETE signs out). The page calls the operator
 * API with the session cookie and the CSRF token (see ./sessions.ts).
 */
export function registerConsoleRoutes(app: FastifyInstance, ctx: AppContext): void {
  const assets = loadAssets();
  const page = assets.get('index.html');
  if (!page) throw new Error(`the console's index.html is missing from ${WEB_DIR}`);
  const signIns = new TokenBuckets(SIGN_IN_LIMIT);
  const sessions = ctx.consoleSessions;

  app.register(
    async (scope) => {
      scope.addHook('onSend', async (_request, reply, payload) => {
        secured(reply);
        return payload;
      });

      for (const path of PAGES) {
        scope.get(path, async (_request, reply) =>
          reply.type(page.type).header('cache-control', 'no-store').send(page.body),
        );
      }

      scope.get<{ Params: { '*': string } }>('/assets/*', async (request, reply) => {
        const found = assets.get(request.params['*']);
        if (!found)
          throw new HttpProblem(`no console file ${request.params['*'].slice(0, 100)}`, {
            code: 'not-found',
          });
        reply.header('etag', found.etag).header('cache-control', 'no-cache');
        if (request.headers['if-none-match'] === found.etag) return reply.code(304).send();
        return reply.type(found.type).send(found.body);
      });

      scope.post('/session', async (request, reply) => {
        assertSameOrigin(request);
        const limited = signIns.take(request.ip, ctx.clock.now());
        if (!limited.allowed) {
          throw new HttpProblem(
            `too many sign-in attempts from your address; try again in ${limited.retryAfterSeconds} s`,
            {
              code: 'too-many-sign-in-attempts',
              headers: { 'Retry-After': String(limited.retryAfterSeconds) },
            },
          );
        }
        const token = readSignInToken(request.body, request.headers['content-type']);
        const hash = hashToken(token ?? '');
        const found = token === undefined ? undefined : await ctx.store.findTokenByHash(hash);
        if (!found || !timingSafeEqual(Buffer.from(found.hash, 'hex'), Buffer.from(hash, 'hex'))) {
          throw new HttpProblem(
            'that operator token is not valid: check it was copied whole (sgp_…) and has not been revoked; ' +
              '`sigpost tokens create --name NAME` makes a new one',
            { code: 'operator-unauthorized' },
          );
        }
        request.sigpost.operator = found.name;
        // A sign-in always starts a new session id (no fixation); the browser's previous one ends.
        await sessions.resume(request).then(
          (previous) => previous && sessions.forget(previous.key),
          () => undefined,
        );
        return reply.header('cache-control', 'no-store').send(sessions.create(reply, found.name, hash));
      });

      // 200 either way, so that a page opened before signing in logs no error: `signed_in` says which.
      scope.get('/session', async (request, reply) => {
        reply.header('cache-control', 'no-store');
        let found: Awaited<ReturnType<typeof sessions.resume>>;
        try {
          found = await sessions.resume(request);
        } catch (error) {
          if (!(isHttpProblem(error) && error.code === 'operator-unauthorized')) throw error;
          sessions.end(reply, undefined);
          return reply.send({ signed_in: false, detail: error.detail });
        }
        if (!found) return reply.send({ signed_in: false, detail: null });
        request.sigpost.operator = found.info.operator;
        return reply.send({ signed_in: true, ...found.info });
      });

      /** The signed-in operator's name; 401 when the request has no live session. */
      const signedIn = async (request: FastifyRequest): Promise<string> => {
        const found = await sessions.resume(request);
        if (!found)
          throw new HttpProblem('not signed in: sign in with an operator token', {
            code: 'operator-unauthorized',
          });
        request.sigpost.operator = found.info.operator;
        return found.info.operator;
      };

      // The server's own metrics, for the Stats view (cumulative; the page computes rates).
      const readStats = statsReader(ctx.metrics, ctx.store, () => ctx.clock.now());
      scope.get('/data/stats', async (request, reply) => {
        await signedIn(request);
        reply.header('cache-control', 'no-store');
        return readStats();
      });

      // The exact signed body and the stored 201, for the signal detail view (the operator API shows
      // the body parsed, and not the answer).
      scope.get<{ Params: { id: string } }>('/data/signals/:id', async (request, reply) => {
        await signedIn(request);
        const id = request.params.id;
        const record = isSignalId(id) ? await ctx.store.getSignal(id) : undefined;
        if (!record)
          throw new HttpProblem(`Signal ${JSON.stringify(id.slice(0, 100))} does not exist`, {
            code: 'not-found',
          });
        const kept = await ctx.store.getSignalResponse(record.id);
        reply.header('cache-control', 'no-store');
        return {
          signal_id: record.id,
          raw_body: record.body,
          response: kept ?? null,
          response_note: kept
            ? null
            : record.idempotencyKey === null
              ? 'The producer sent no idempotency key, so its answer was not kept.'
              : 'The answer is kept with the idempotency record, which has expired.',
        };
      });

      scope.delete('/session', async (request, reply) => {
        let key: string | undefined;
        try {
          key = (await sessions.resume(request))?.key;
        } catch (error) {
          // Signing out of a session that already ended: nothing to protect, just drop the cookie.
          if (!(isHttpProblem(error) && error.code === 'operator-unauthorized')) throw error;
        }
        if (key !== undefined) sessions.assertCsrf(request, key);
        sessions.end(reply, key);
        return reply.code(204).send();
      });
    },
    { prefix: CONSOLE_PATH },
  );
}

/** The token of a sign-in body `{"token": "sgp_…"}`; undefined when it is not token-shaped. */
function readSignInToken(body: unknown, contentType: string | undefined): string | undefined {
  const type = (contentType ?? '').split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/json') {
    throw new HttpProblem('Content-Type must be application/json', { code: 'unsupported-media-type' });
  }
  let json: unknown;
  try {
    json = JSON.parse(UTF8.decode(Buffer.isBuffer(body) ? body : Buffer.alloc(0)));
  } catch (error) {
    throw new HttpProblem('request body is not valid UTF-8 JSON', { code: 'malformed-json', cause: error });
  }
  const token = (json as { token?: unknown } | null)?.token;
  if (typeof token !== 'string' || token.trim() === '') {
    throw new HttpProblem('token: expected an operator token (sgp_…)', { code: 'invalid-request' });
  }
  const trimmed = token.trim();
  return TOKEN_SHAPE.test(trimmed) ? trimmed : undefined;
}
