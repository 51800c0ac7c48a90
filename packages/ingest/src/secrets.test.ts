import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { generateSecret, hashToken, isSealedSecret, SecretBox } from './secrets.js';

const dir = mkdtempSync(join(tmpdir(), 'sigpost-secrets-'));
let n = 0;
const nextDir = () => join(dir, `case-${++n}`);

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const KEY = Buffer.alloc(32, 1);
const OTHER_KEY = Buffer.alloc(32, 2);
const SECRET = 'producer-secret-ü-0123456789';

describe('SecretBox.seal / open', () => {
  const box = SecretBox.fromKey(KEY);

  it('opens what it sealed', () => {
    expect(box.open(box.seal(SECRET))).toBe(SECRET);
  });

  it('seals to v1.<keyId>.<iv>.<tag>.<ciphertext> without the secret in it', () => {
    const sealed = box.seal(SECRET);
    expect(sealed).toMatch(/^v1\.[A-Za-z0-9_-]{8}\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]+$/);
    expect(sealed.split('.')[1]).toBe(box.keyId);
    expect(sealed).not.toContain(SECRET);
    expect(isSealedSecret(sealed)).toBe(true);
  });

  it('uses a fresh IV each time, so one secret seals differently twice', () => {
    expect(box.seal(SECRET)).not.toBe(box.seal(SECRET));
  });

  it('seals and opens an empty secret', () => {
    expect(box.open(box.seal(''))).toBe('');
  });

  it('refuses to open with another key, naming both key ids', () => {
    const sealed = box.seal(SECRET);
    const other = SecretBox.fromKey(OTHER_KEY);
    expect(() => other.open(sealed)).toThrow(
      expect.objectContaining({
        name: 'SecretBoxError',
        code: 'SECRET_WRONG_KEY',
        message: `Cannot open sealed secret: it was sealed with key ${box.keyId}, but the loaded keys are ${other.keyId} (check SIGPOST_SECRET_KEY, SIGPOST_PREVIOUS_SECRET_KEYS or the key file)`,
      }),
    );
  });

  it('refuses a ciphertext altered by one bit', () => {
    const sealed = box.seal(SECRET);
    const parts = sealed.split('.');
    const ciphertext = Buffer.from(parts[4]!, 'base64url');
    ciphertext[0] = ciphertext[0]! ^ 1;
    parts[4] = ciphertext.toString('base64url');
    expect(() => box.open(parts.join('.'))).toThrow(
      expect.objectContaining({
        code: 'SECRET_CORRUPT',
        message: `Cannot open sealed secret sealed with key ${box.keyId}: authentication failed (the stored value is corrupt or was altered)`,
      }),
    );
  });

  it('refuses a sealed value whose key id was rewritten to the loaded key', () => {
    // The key id is authenticated data: pasting another key's id does not make its ciphertext open.
    const foreign = SecretBox.fromKey(OTHER_KEY).seal(SECRET).split('.');
    foreign[1] = box.keyId;
    expect(() => box.open(foreign.join('.'))).toThrow(expect.objectContaining({ code: 'SECRET_CORRUPT' }));
  });

  it.each([
    ['an unknown version', 'v2.AAAAAAAA.AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA.AAAA'],
    ['a raw secret', SECRET],
    ['a missing part', 'v1.AAAAAAAA.AAAAAAAAAAAAAAAA.AAAA'],
  ])('refuses %s, without echoing it', (_name, value) => {
    const error = (() => {
      try {
        box.open(value);
      } catch (e) {
        return e as Error & { code: string };
      }
      throw new Error('open() accepted it');
    })();
    expect(error.code).toBe('SECRET_CORRUPT');
    expect(error.message).toBe(
      'Cannot open sealed secret: expected v1.<keyId>.<iv>.<tag>.<ciphertext> (base64url parts)',
    );
  });

  it('refuses a key that is not 32 bytes', () => {
    expect(() => SecretBox.fromKey(Buffer.alloc(16))).toThrow(
      expect.objectContaining({
        code: 'SECRET_KEY_INVALID',
        message: 'Invalid secret key: expected 32 bytes, received 16 bytes',
      }),
    );
  });
});

describe('SecretBox.fromEnv', () => {
  it('reads SIGPOST_SECRET_KEY as base64 of 32 bytes', () => {
    const box = SecretBox.fromEnv({ SIGPOST_SECRET_KEY: KEY.toString('base64') });
    expect(box.keyId).toBe(SecretBox.fromKey(KEY).keyId);
  });

  it('refuses a missing SIGPOST_SECRET_KEY', () => {
    expect(() => SecretBox.fromEnv({})).toThrow(
      expect.objectContaining({
        code: 'SECRET_KEY_MISSING',
        message:
          'SIGPOST_SECRET_KEY is not set: expected base64 of 32 bytes (generate one with `openssl rand -base64 32`)',
      }),
    );
  });

  it('refuses a key of the wrong length, giving its length only', () => {
    const value = Buffer.alloc(31, 9).toString('base64');
    let message = '';
    try {
      SecretBox.fromEnv({ SIGPOST_SECRET_KEY: value });
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toBe(
      'Invalid secret key in SIGPOST_SECRET_KEY: expected base64 of 32 bytes, received 31 bytes',
    );
    expect(message).not.toContain(value);
  });

  it('refuses a value that is not base64', () => {
    expect(() => SecretBox.fromEnv({ SIGPOST_SECRET_KEY: 'not base64 at all!' })).toThrow(
      expect.objectContaining({
        code: 'SECRET_KEY_INVALID',
        message:
          'Invalid secret key in SIGPOST_SECRET_KEY: expected base64 of 32 bytes, received 18 characters that are not base64',
      }),
    );
  });
});

describe('SecretBox with previous keys (key-encryption key rotation)', () => {
  const box = SecretBox.fromKey(KEY);

  it('seals under the current key and opens what the previous key sealed', () => {
    const old = SecretBox.fromKey(OTHER_KEY);
    const sealedBefore = old.seal(SECRET);
    const rotated = box.withPreviousKeys([OTHER_KEY]);
    expect(rotated.keyId).toBe(box.keyId);
    expect(rotated.previousKeyIds).toEqual([old.keyId]);
    expect(rotated.open(sealedBefore)).toBe(SECRET);
    const sealedNow = rotated.seal(SECRET);
    expect(rotated.isSealedUnderCurrentKey(sealedNow)).toBe(true);
    expect(rotated.isSealedUnderCurrentKey(sealedBefore)).toBe(false);
    // The old key alone cannot open what is sealed now.
    expect(() => old.open(sealedNow)).toThrow(expect.objectContaining({ code: 'SECRET_WRONG_KEY' }));
  });

  it('reads SIGPOST_PREVIOUS_SECRET_KEYS, comma-separated, empty entries ignored', () => {
    const third = Buffer.alloc(32, 9);
    const fromEnv = SecretBox.fromEnv({
      SIGPOST_SECRET_KEY: Buffer.from(KEY).toString('base64'),
      SIGPOST_PREVIOUS_SECRET_KEYS: ` ${Buffer.from(OTHER_KEY).toString('base64')}, ,${third.toString('base64')}`,
    });
    expect(fromEnv.previousKeyIds).toEqual([
      SecretBox.fromKey(OTHER_KEY).keyId,
      SecretBox.fromKey(third).keyId,
    ]);
    expect(fromEnv.open(SecretBox.fromKey(third).seal(SECRET))).toBe(SECRET);
  });

  it('names the position of a malformed previous key, never its text', () => {
    expect(() =>
      SecretBox.fromEnv({
        SIGPOST_SECRET_KEY: Buffer.from(KEY).toString('base64'),
        SIGPOST_PREVIOUS_SECRET_KEYS: `${Buffer.from(OTHER_KEY).toString('base64')},c2hvcnQ=`,
      }),
    ).toThrow(
      expect.objectContaining({
        code: 'SECRET_KEY_INVALID',
        message:
          'Invalid secret key in SIGPOST_PREVIOUS_SECRET_KEYS (key 2 of 2): expected base64 of 32 bytes, received 5 bytes',
      }),
    );
  });
});

describe('SecretBox.fromKeyFile', () => {
  it('creates a missing key file (and its directory) with mode 0600', () => {
    const path = join(nextDir(), 'data', 'sigpost.key');
    const box = SecretBox.fromKeyFile(path, { create: true });
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(Buffer.from(readFileSync(path, 'utf8').trim(), 'base64')).toHaveLength(32);
    expect(box.open(box.seal(SECRET))).toBe(SECRET);
  });

  it('reuses an existing key file, so earlier secrets still open', () => {
    const path = join(nextDir(), 'sigpost.key');
    const sealed = SecretBox.fromKeyFile(path, { create: true }).seal(SECRET);
    expect(SecretBox.fromKeyFile(path, { create: true }).open(sealed)).toBe(SECRET);
    expect(SecretBox.fromKeyFile(path, { create: false }).open(sealed)).toBe(SECRET);
  });

  it('refuses a missing key file when it may not create one', () => {
    const path = join(nextDir(), 'sigpost.key');
    expect(() => SecretBox.fromKeyFile(path, { create: false })).toThrow(
      expect.objectContaining({
        code: 'SECRET_KEY_FILE',
        message: `Secret key file ${path} does not exist (set SIGPOST_SECRET_KEY, or create the file with \`openssl rand -base64 32 > ${path} && chmod 600 ${path}\`)`,
      }),
    );
  });

  it('refuses a key file of the wrong length', () => {
    const path = join(dir, `short-${++n}.key`);
    writeFileSync(path, `${Buffer.alloc(24, 3).toString('base64')}\n`, { mode: 0o600 });
    expect(() => SecretBox.fromKeyFile(path, { create: true })).toThrow(
      expect.objectContaining({
        code: 'SECRET_KEY_INVALID',
        message: `Invalid secret key in secret key file ${path}: expected base64 of 32 bytes, received 24 bytes`,
      }),
    );
  });

  it.runIf(process.platform !== 'win32')('refuses a key file that group or others can read', () => {
    const path = join(dir, `open-${++n}.key`);
    writeFileSync(path, `${KEY.toString('base64')}\n`, { mode: 0o600 });
    chmodSync(path, 0o644);
    expect(() => SecretBox.fromKeyFile(path, { create: false })).toThrow(
      expect.objectContaining({
        code: 'SECRET_KEY_FILE',
        message: `Secret key file ${path} is readable by group or others (mode 0644); run \`chmod 600 ${path}\``,
      }),
    );
  });
});

describe('generateSecret and hashToken', () => {
  it('generates 32 random bytes as base64url', () => {
    const secret = generateSecret();
    expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(secret, 'base64url')).toHaveLength(32);
    expect(generateSecret()).not.toBe(secret);
  });

  it('hashes a token to hex SHA-256', () => {
    // FIPS 180-2 test vector for "abc".
    expect(hashToken('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });
});
