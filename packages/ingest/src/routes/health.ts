import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../context.js';
import { HttpProblem } from '../problems.js';

/** `GET /healthz` (the process answers), `GET /readyz` (the store answers, not shutting down), `GET /metrics`. */
export function registerHealthRoutes(app: FastifyInstance, ctx: AppContext): void {
  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (request) => {
    if (ctx.draining) throw new HttpProblem('the server is shutting down', { code: 'store-unavailable' });
    try {
      await ctx.store.ping();
    } catch (error) {
      request.log.warn({ err: error }, 'readiness check: the store does not answer');
      throw new HttpProblem(`the ${ctx.store.kind} store does not answer`, {
        code: 'store-unavailable',
        cause: error,
      });
    }
    return { status: 'ready', store: ctx.store.kind };
  });

  app.get('/metrics', async (_request, reply) => {
    const text = await ctx.metrics.registry.metrics();
    return reply.type(ctx.metrics.registry.contentType).send(text);
  });
}
