import { describe, expect, it } from 'vitest';
import { checkUrl } from './url.js';

const HTTP = { schemes: ['http:', 'https:'] } as const;

describe('checkUrl', () => {
  it('accepts an absolute URL of an accepted scheme', () => {
    const checked = checkUrl('https://sigpost.example.com/base/', HTTP);
    expect(checked.ok && checked.url.href).toBe('https://sigpost.example.com/base/');
  });

  it('names the first problem: not a URL, credentials (before the scheme), scheme, query, fragment', () => {
    expect(checkUrl('sigpost.example.com', HTTP)).toEqual({ ok: false, problem: 'not-a-url' });
    expect(checkUrl('ftp://u:p@example.com', HTTP)).toMatchObject({ ok: false, problem: 'credentials' });
    expect(checkUrl('ftp://example.com', HTTP)).toMatchObject({ ok: false, problem: 'scheme' });
    expect(checkUrl('https://example.com/?', HTTP)).toMatchObject({ ok: false, problem: 'query' });
    expect(checkUrl('https://example.com/?token=x', HTTP)).toMatchObject({ ok: false, problem: 'query' });
    expect(checkUrl('https://example.com/#', HTTP)).toMatchObject({ ok: false, problem: 'fragment' });
  });

  it('lets a caller accept a query or a fragment', () => {
    expect(checkUrl('wss://example.com/?a=1#b', { schemes: ['wss:'], query: true, fragment: true }).ok).toBe(
      true,
    );
  });
});
