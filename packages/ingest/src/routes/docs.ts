import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../context.js';
import { buildOpenApiDocument, renderDocsHtml } from '../openapi.js';

/** `GET /openapi.json` (OpenAPI 3.1) and `GET /docs` (a self-contained HTML reference rendered from it). */
export function registerDocsRoutes(app: FastifyInstance, ctx: AppContext): void {
  // Built once per app: the document only depends on the configuration.
  const doc = buildOpenApiDocument(ctx.config);
  const json = JSON.stringify(doc);
  const html = renderDocsHtml(doc);
  app.get('/openapi.json', async (_request, reply) =>
    reply.type('application/json; charset=utf-8').send(json),
  );
  app.get('/docs', async (_request, reply) => reply.type('text/html; charset=utf-8').send(html));
}
