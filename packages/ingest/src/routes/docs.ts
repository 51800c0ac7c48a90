import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { Marked, type Tokens } from 'marked';
import type { AppContext } from '../context.js';
import { buildOpenApiDocument, escapeHtml, renderDocsHtml } from '../openapi.js';
import { HttpProblem } from '../problems.js';

/**
 * Where `docs/protocol.md` is looked for, first found wins: the copy inside the package (`npm pack`
 * puts it there, see the package's `prepack` script; the path is the same from `src/routes` and from
 * `dist/routes`), then the repository's own, for a checkout (where the copy does not exist).
 */
export const PROTOCOL_DOC_CANDIDATES: readonly string[] = [
  fileURLToPath(new URL('../../docs/protocol.md', import.meta.url)),
  fileURLToPath(new URL('../../../../docs/protocol.md', import.meta.url)),
];

/** The wire protocol's Markdown, from the first of `candidates` that exists; undefined when none does. */
export function readProtocolDoc(
  candidates: readonly string[] = PROTOCOL_DOC_CANDIDATES,
): { path: string; markdown: string } | undefined {
  for (const path of candidates) {
    try {
      return { path, markdown: readFileSync(path, 'utf8') };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
  return undefined;
}

function slug(text: string): string {
  return text
    .toLowerCase()
    .replace(/<[^>]*>/g, '')
    .replace(/&#?\w+;/g, '')
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '');
}

/**
 * A Markdown document as a self-contained HTML page (no scripts, nothing loaded from elsewhere; raw
 * HTML in the Markdown is shown as text). Headings get ids, so `#golden-vectors` links work.
 */
export function renderMarkdownPage(markdown: string, title: string): string {
  const marked = new Marked({
    gfm: true,
    async: false,
    renderer: {
      heading(this: { parser: { parseInline(tokens: Tokens.Generic[]): string } }, token: Tokens.Heading) {
        const inner = this.parser.parseInline(token.tokens);
        return `<h${token.depth} id="${slug(inner)}">${inner}</h${token.depth}>\n`;
      },
      html(token: Tokens.HTML | Tokens.Tag) {
        return escapeHtml(token.text);
      },
    },
  });
  const body = marked.parse(markdown) as string;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>
body{font:15px/1.5 system-ui,sans-serif;max-width:960px;margin:2rem auto;padding:0 1rem;color:#1d1d1f}
code{font:13px ui-monospace,monospace;background:#f2f2f5;padding:0 .25em;border-radius:3px}
pre{background:#f2f2f5;padding:.75rem;overflow-x:auto;border-radius:4px}pre code{padding:0}
table{border-collapse:collapse;width:100%;margin:.5rem 0}td,th{border:1px solid #ddd;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f7f7f9}
</style></head><body>
<p><a href="/docs">API reference</a> · <a href="/openapi.json">/openapi.json</a></p>
${body}</body></html>`;
}

/**
 * `GET /openapi.json` (OpenAPI 3.1), `GET /docs` (a self-contained HTML reference rendered from it) and
 * `GET /docs/protocol` (docs/protocol.md, rendered).
 */
export function registerDocsRoutes(app: FastifyInstance, ctx: AppContext): void {
  // Built once per app: the documents only depend on the configuration and the installed files.
  const doc = buildOpenApiDocument(ctx.config);
  const json = JSON.stringify(doc);
  const html = renderDocsHtml(doc);
  const protocol = readProtocolDoc();
  const protocolHtml = protocol
    ? renderMarkdownPage(protocol.markdown, 'Sigpost wire protocol v1')
    : undefined;
  if (!protocol) {
    app.log.warn(
      { looked_in: PROTOCOL_DOC_CANDIDATES },
      'docs/protocol.md is not installed with this server; /docs/protocol will answer 404',
    );
  }
  app.get('/openapi.json', async (_request, reply) =>
    reply.type('application/json; charset=utf-8').send(json),
  );
  app.get('/docs', async (_request, reply) => reply.type('text/html; charset=utf-8').send(html));
  app.get('/docs/protocol', async (_request, reply) => {
    if (protocolHtml === undefined) {
      throw new HttpProblem(
        'docs/protocol.md is not installed with this server; read it in the Sigpost repository',
        { code: 'not-found' },
      );
    }
    return reply.type('text/html; charset=utf-8').send(protocolHtml);
  });
}
