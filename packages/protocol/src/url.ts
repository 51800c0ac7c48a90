// The check of a server URL given to a client (the SDK's base URL, the stream URL, a Bot API URL).

/** What is wrong with a URL, in the order `checkUrl` looks: the first one found is reported. */
export type UrlProblem = 'not-a-url' | 'credentials' | 'scheme' | 'query' | 'fragment';

export interface UrlRules {
  /** Accepted schemes, with their colon (`'https:'`). */
  readonly schemes: readonly string[];
  /** Accept a query (the caller checks it itself). @default false */
  readonly query?: boolean;
  /** Accept a fragment. @default false */
  readonly fragment?: boolean;
}

/**
 * Checks an absolute URL against `rules`. Credentials are refused first, since a URL ends up in
 * messages and logs; a `?` or `#` with nothing after it counts as a query or fragment. The caller
 * words the problem (never echo a URL with credentials or a query: either may hold a secret).
 *
 * @example
 * checkUrl('https://sigpost.example.com/', { schemes: ['http:', 'https:'] }); // { ok: true, url: URL }
 * checkUrl('ftp://example.com', { schemes: ['http:', 'https:'] }); // { ok: false, problem: 'scheme', url: URL }
 */
export function checkUrl(
  text: string,
  rules: UrlRules,
):
  | { readonly ok: true; readonly url: URL }
  | { readonly ok: false; readonly problem: UrlProblem; readonly url?: URL } {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return { ok: false, problem: 'not-a-url' };
  }
  if (url.username !== '' || url.password !== '') return { ok: false, problem: 'credentials', url };
  if (!rules.schemes.includes(url.protocol)) return { ok: false, problem: 'scheme', url };
  if (!rules.query && (url.search !== '' || text.includes('?'))) return { ok: false, problem: 'query', url };
  if (!rules.fragment && (url.hash !== '' || text.includes('#')))
    return { ok: false, problem: 'fragment', url };
  return { ok: true, url };
}
