import { describe, expect, it } from 'vitest';
import { describeLocation, keyFileFor, resolveStoreLocation } from './store-options.js';

const PG = 'postgres://sigpost:s3cret-pw@db.internal:6432/sigpost';

describe('resolveStoreLocation', () => {
  it('uses ./data/sigpost.db and its key file when neither --db nor DATABASE_URL is given', () => {
    expect(resolveStoreLocation(undefined, {})).toEqual({
      kind: 'sqlite',
      path: './data/sigpost.db',
      keyFile: 'data/sigpost.key',
    });
  });

  it('uses DATABASE_URL when --db is not given', () => {
    expect(resolveStoreLocation(undefined, { DATABASE_URL: PG })).toEqual({
      kind: 'postgres',
      url: PG,
      schema: undefined,
    });
  });

  it('prefers --db over DATABASE_URL', () => {
    expect(resolveStoreLocation('/srv/sigpost/state.sqlite', { DATABASE_URL: PG })).toEqual({
      kind: 'sqlite',
      path: '/srv/sigpost/state.sqlite',
      keyFile: '/srv/sigpost/state.key',
    });
  });

  it('takes a postgres:// URL given as --db, with the schema of SIGPOST_DB_SCHEMA', () => {
    expect(resolveStoreLocation(PG, { SIGPOST_DB_SCHEMA: 'desk_a' })).toEqual({
      kind: 'postgres',
      url: PG,
      schema: 'desk_a',
    });
  });

  it('ignores an empty DATABASE_URL', () => {
    expect(resolveStoreLocation(undefined, { DATABASE_URL: '' }).kind).toBe('sqlite');
  });

  it('names only the scheme of a DATABASE_URL that is not PostgreSQL, never its password', () => {
    expect(() => resolveStoreLocation(undefined, { DATABASE_URL: 'mysql://root:pw@db/x' })).toThrow(
      'DATABASE_URL expects a postgres:// or postgresql:// URL, received a mysql: URL',
    );
    expect(() => resolveStoreLocation(undefined, { DATABASE_URL: 'db.internal' })).toThrow(
      'DATABASE_URL expects a postgres:// or postgresql:// URL, received text that is not a URL',
    );
  });
});

describe('keyFileFor', () => {
  it.each([
    ['./data/sigpost.db', 'data/sigpost.key'],
    ['/var/lib/sigpost/prod.sqlite3', '/var/lib/sigpost/prod.key'],
    ['state', 'state.key'],
    ['/srv/.hidden', '/srv/.hidden.key'],
  ])('puts the key of %s in %s', (db, key) => {
    expect(keyFileFor(db)).toBe(key);
  });
});

describe('describeLocation', () => {
  it('names a PostgreSQL database by host, port, database and schema, without user or password', () => {
    const text = describeLocation({ kind: 'postgres', url: PG, schema: 'desk_a' });
    expect(text).toBe('PostgreSQL database db.internal:6432/sigpost (schema desk_a)');
  });

  it('names a SQLite database by its path', () => {
    expect(describeLocation({ kind: 'sqlite', path: 'x.db', keyFile: 'x.key' })).toBe('SQLite database x.db');
  });
});
