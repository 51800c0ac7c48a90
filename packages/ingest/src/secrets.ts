import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { defineBrand } from '@sigpost/protocol';

// Producer secrets at rest. HMAC verification needs the raw secret on the server (unlike a password,
// it cannot be stored as a hash), so the store keeps it encrypted with AES-256-GCM under a
// key-encryption key that lives outside the database: a dump of the database alone is useless.
// See docs/operations.md, "Storage and secrets".

/** Bytes of the key-encryption key (AES-256). */
export const SECRET_KEY_BYTES = 32;
/** Environment variable holding the key-encryption key as base64 of 32 bytes. */
export const SECRET_KEY_ENV = 'SIGPOST_SECRET_KEY';
/**
 * Environment variable holding earlier key-encryption keys, comma-separated (base64 of 32 bytes
 * each): secrets sealed under them can still be opened while `sigpost producers reseal` moves them
 * to the current key. Nothing is sealed under them.
 */
export const PREVIOUS_SECRET_KEYS_ENV = 'SIGPOST_PREVIOUS_SECRET_KEYS';

const VERSION = 'v1';
const IV_BYTES = 12; // GCM's native nonce size (NIST SP 800-38D)
const TAG_BYTES = 16;
const KEY_ID_BYTES = 6;
const SEALED_PATTERN = /^v1\.[A-Za-z0-9_-]{8}\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]*$/;

export type SecretBoxErrorCode =
  | 'SECRET_KEY_MISSING'
  | 'SECRET_KEY_INVALID'
  | 'SECRET_KEY_FILE'
  | 'SECRET_WRONG_KEY'
  | 'SECRET_CORRUPT';

/**
 * A key-encryption key could not be loaded, or a sealed secret could not be opened. The message
 * names the problem and where (variable, file, key id); it never contains a key or a secret.
 */
export class SecretBoxError extends Error {
  override readonly name = 'SecretBoxError' as const;
  readonly code: SecretBoxErrorCode;

  constructor(message: string, options: { readonly code: SecretBoxErrorCode; readonly cause?: unknown }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = options.code;
  }
}

/** True for any `SecretBoxError`, also one thrown by another installed copy of this package. */
export const isSecretBoxError = defineBrand(SecretBoxError, 'sigpost.SecretBoxError');

/** Options of `SecretBox.fromKeyFile`. */
export interface KeyFileOptions {
  /** Create the file (and its directory) with a fresh random key when it does not exist. */
  readonly create: boolean;
}

/**
 * Encrypts producer secrets for storage (AES-256-GCM) with a 32-byte key kept outside the database.
 *
 * Sealed form: `v1.<keyId>.<iv>.<tag>.<ciphertext>`, each part base64url. `keyId` is a
 * fingerprint of the key (not the key), so opening with the wrong key says so instead of
 * reporting corruption.
 *
 * @example
 * const box = process.env.SIGPOST_SECRET_KEY
 *   ? SecretBox.fromEnv(process.env)
 *   : SecretBox.fromKeyFile('./data/sigpost.key', { create: true });
 * const stored = box.seal(generateSecret());
 * const secret = box.open(stored);
 * @see docs/operations.md
 */
export class SecretBox {
  /** Fingerprint of the key (base64url, 8 characters): safe to log, names the key in errors. */
  readonly keyId: string;
  readonly #key: Buffer;
  readonly #aad: Buffer;
  /** Earlier keys by key id: they open what they sealed, and seal nothing. */
  readonly #previous = new Map<string, SecretBox>();

  private constructor(key: Buffer) {
    this.#key = key;
    this.keyId = createHmac('sha256', key)
      .update('sigpost key id')
      .digest()
      .subarray(0, KEY_ID_BYTES)
      .toString('base64url');
    this.#aad = Buffer.from(`${VERSION}.${this.keyId}`);
  }

  /**
   * A box for a key given as bytes. Throws SecretBoxError `SECRET_KEY_INVALID` unless it is 32 bytes.
   * @example
   * const box = SecretBox.fromKey(randomBytes(32));
   */
  static fromKey(key: Uint8Array): SecretBox {
    if (!(key instanceof Uint8Array) || key.byteLength !== SECRET_KEY_BYTES) {
      const received = key instanceof Uint8Array ? `${key.byteLength} bytes` : typeof key;
      throw new SecretBoxError(
        `Invalid secret key: expected ${SECRET_KEY_BYTES} bytes, received ${received}`,
        { code: 'SECRET_KEY_INVALID' },
      );
    }
    return new SecretBox(Buffer.from(key));
  }

  /**
   * A box whose key is `SIGPOST_SECRET_KEY` (base64 of 32 bytes, e.g. `openssl rand -base64 32`).
   * @default env = process.env
   * @example
   * const box = SecretBox.fromEnv({ SIGPOST_SECRET_KEY: 'q2Zr…=' });
   */
  static fromEnv(env: Readonly<Record<string, string | undefined>> = process.env): SecretBox {
    const value = env[SECRET_KEY_ENV];
    if (value === undefined || value.trim() === '') {
      throw new SecretBoxError(
        `${SECRET_KEY_ENV} is not set: expected base64 of ${SECRET_KEY_BYTES} bytes (generate one with \`openssl rand -base64 32\`)`,
        { code: 'SECRET_KEY_MISSING' },
      );
    }
    return SecretBox.fromKey(decodeKey(value, SECRET_KEY_ENV)).withPreviousKeysFromEnv(env);
  }

  /**
   * This box, also able to open secrets sealed under the earlier keys in
   * `SIGPOST_PREVIOUS_SECRET_KEYS` (comma-separated base64 of 32 bytes each; unset or empty: none).
   * Throws SecretBoxError `SECRET_KEY_INVALID` naming the position of a malformed key.
   * @example
   * const box = SecretBox.fromKeyFile('./data/sigpost.key', { create: false }).withPreviousKeysFromEnv(process.env);
   */
  withPreviousKeysFromEnv(env: Readonly<Record<string, string | undefined>>): SecretBox {
    const list = (env[PREVIOUS_SECRET_KEYS_ENV] ?? '').split(',').map((k) => k.trim());
    const keys = list.flatMap((text, i) =>
      text === '' ? [] : [decodeKey(text, `${PREVIOUS_SECRET_KEYS_ENV} (key ${i + 1} of ${list.length})`)],
    );
    return this.withPreviousKeys(keys);
  }

  /**
   * A box that seals under this box's key and opens secrets sealed under it or any of `keys`.
   * @example
   * const box = SecretBox.fromKey(newKey).withPreviousKeys([oldKey]);
   */
  withPreviousKeys(keys: readonly Uint8Array[]): SecretBox {
    const box = new SecretBox(this.#key);
    for (const [id, previous] of this.#previous) box.#previous.set(id, previous);
    for (const key of keys) {
      const previous = SecretBox.fromKey(key);
      if (previous.keyId !== box.keyId) box.#previous.set(previous.keyId, previous);
    }
    return box;
  }

  /** Ids of the earlier keys this box can open with (see `withPreviousKeys`). */
  get previousKeyIds(): string[] {
    return [...this.#previous.keys()];
  }

  /** True when `sealed` was sealed under this box's own (current) key. */
  isSealedUnderCurrentKey(sealed: string): boolean {
    return isSealedSecret(sealed) && sealed.split('.')[1] === this.keyId;
  }

  /**
   * A box whose key is read from a file holding base64 of 32 bytes. With `create: true`, a missing
   * file is created (mode 0600, its directory 0700) with a fresh random key. A file that group or
   * others may read is refused, as ssh refuses a readable private key.
   * @example
   * const box = SecretBox.fromKeyFile('./data/sigpost.key', { create: true });
   */
  static fromKeyFile(path: string, options: KeyFileOptions): SecretBox {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (error) {
      if (!isErrno(error, 'ENOENT')) {
        throw new SecretBoxError(`Cannot read secret key file ${path}`, {
          code: 'SECRET_KEY_FILE',
          cause: error,
        });
      }
      if (!options.create) {
        throw new SecretBoxError(
          `Secret key file ${path} does not exist (set ${SECRET_KEY_ENV}, or create the file with \`openssl rand -base64 32 > ${path} && chmod 600 ${path}\`)`,
          { code: 'SECRET_KEY_FILE', cause: error },
        );
      }
      text = createKeyFile(path);
    }
    assertPrivate(path);
    return SecretBox.fromKey(decodeKey(text, `secret key file ${path}`));
  }

  /** Encrypts a secret with a fresh random IV. */
  seal(secret: string): string {
    if (typeof secret !== 'string') {
      throw new TypeError(`Expected \`secret\` to be a string, received ${typeof secret}`);
    }
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(this.#aad);
    const ciphertext = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final()]);
    const tag = cipher.getAuthTag();
    return `${VERSION}.${this.keyId}.${iv.toString('base64url')}.${tag.toString('base64url')}.${ciphertext.toString('base64url')}`;
  }

  /**
   * Decrypts a sealed secret. Throws SecretBoxError `SECRET_WRONG_KEY` when it was sealed with
   * another key, `SECRET_CORRUPT` when it is malformed or fails authentication.
   */
  open(sealed: string): string {
    if (typeof sealed !== 'string' || !SEALED_PATTERN.test(sealed)) {
      throw new SecretBoxError(
        `Cannot open sealed secret: expected ${VERSION}.<keyId>.<iv>.<tag>.<ciphertext> (base64url parts)`,
        { code: 'SECRET_CORRUPT' },
      );
    }
    const [, keyId, iv, tag, ciphertext] = sealed.split('.') as [string, string, string, string, string];
    if (keyId !== this.keyId) {
      const previous = this.#previous.get(keyId);
      if (previous !== undefined) return previous.open(sealed);
      const loaded = [this.keyId, ...this.#previous.keys()].join(', ');
      throw new SecretBoxError(
        `Cannot open sealed secret: it was sealed with key ${keyId}, but the loaded keys are ${loaded} (check ${SECRET_KEY_ENV}, ${PREVIOUS_SECRET_KEYS_ENV} or the key file)`,
        { code: 'SECRET_WRONG_KEY' },
      );
    }
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.#key, Buffer.from(iv, 'base64url'), {
        authTagLength: TAG_BYTES,
      });
      decipher.setAAD(this.#aad);
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      return Buffer.concat([
        decipher.update(Buffer.from(ciphertext, 'base64url')),
        decipher.final(),
      ]).toString('utf8');
    } catch (error) {
      throw new SecretBoxError(
        `Cannot open sealed secret sealed with key ${keyId}: authentication failed (the stored value is corrupt or was altered)`,
        { code: 'SECRET_CORRUPT', cause: error },
      );
    }
  }
}

/** True when `value` has the shape of `SecretBox.seal` output (it is not decrypted). */
export function isSealedSecret(value: unknown): value is string {
  return typeof value === 'string' && SEALED_PATTERN.test(value);
}

/**
 * A new random producer secret: 32 random bytes, base64url (43 characters).
 * @example
 * const secret = generateSecret(); // 'oM1v…' — show it once, store only `box.seal(secret)`
 */
export function generateSecret(): string {
  return randomBytes(32).toString('base64url');
}

/**
 * Hex SHA-256 of an operator token: what the store keeps instead of the token.
 * @example
 * await store.findTokenByHash(hashToken(bearer));
 */
export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

function decodeKey(text: string, where: string): Buffer {
  const trimmed = text.trim();
  const key = Buffer.from(trimmed, 'base64');
  // Buffer.from ignores characters outside the alphabet; re-encoding proves the text was clean base64.
  if (key.toString('base64') !== trimmed || key.byteLength !== SECRET_KEY_BYTES) {
    throw new SecretBoxError(
      `Invalid secret key in ${where}: expected base64 of ${SECRET_KEY_BYTES} bytes, received ${describeKeyText(trimmed, key)}`,
      { code: 'SECRET_KEY_INVALID' },
    );
  }
  return key;
}

function describeKeyText(text: string, decoded: Buffer): string {
  return /^[A-Za-z0-9+/]*={0,2}$/.test(text)
    ? `${decoded.byteLength} bytes`
    : `${text.length} characters that are not base64`;
}

function createKeyFile(path: string): string {
  const text = `${randomBytes(SECRET_KEY_BYTES).toString('base64')}\n`;
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    // 'wx' fails if another process created the file meanwhile: then use its key, never overwrite one.
    writeFileSync(path, text, { mode: 0o600, flag: 'wx' });
    return text;
  } catch (error) {
    if (isErrno(error, 'EEXIST')) return readFileSync(path, 'utf8');
    throw new SecretBoxError(`Cannot create secret key file ${path}`, {
      code: 'SECRET_KEY_FILE',
      cause: error,
    });
  }
}

function assertPrivate(path: string): void {
  if (process.platform === 'win32') return;
  const mode = statSync(path).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    throw new SecretBoxError(
      `Secret key file ${path} is readable by group or others (mode ${mode.toString(8).padStart(4, '0')}); run \`chmod 600 ${path}\``,
      { code: 'SECRET_KEY_FILE' },
    );
  }
}

function isErrno(error: unknown, code: string): boolean {
  return error instanceof Error && (error as NodeJS.ErrnoException).code === code;
}
