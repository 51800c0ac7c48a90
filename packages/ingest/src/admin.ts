import {
  describeValue,
  INSTRUMENT_PATTERN,
  isValidProducerId,
  MIN_SECRET_BYTES,
  STORED_SIGNAL_STATUSES,
} from '@sigpost/protocol';
import { type Clock, systemClock } from './clock.js';
import { ConflictError, type InputIssue, InvalidInputError, NotFoundError } from './errors.js';
import { newId } from './ids.js';
import { generateSecret, hashToken } from './secrets.js';
import { TOKEN_NAME_PATTERN } from './settings.js';
import {
  type ApprovalMode,
  type OperatorToken,
  type Producer,
  type Store,
  StoreConflictError,
  type StoredSignalStatus,
  StoreNotFoundError,
} from './store/store.js';

/** What `Admin` needs from a `SecretBox`: sealing a secret for storage. */
export interface SecretSealer {
  seal(secret: string): string;
}

/** What `Admin.resealSecrets` needs besides sealing: a `SecretBox` that also holds the earlier keys. */
export interface SecretResealer extends SecretSealer {
  readonly keyId: string;
  open(sealed: string): string;
  isSealedUnderCurrentKey(sealed: string): boolean;
}

/** What `Admin.resealSecrets` did. Never holds a secret. */
export interface ResealReport {
  /** The key every active secret is now sealed under (unless listed in `failed`). */
  readonly keyId: string;
  readonly resealed: number;
  readonly alreadyCurrent: number;
  /** Active secrets left as they were: not openable with the loaded keys, or changing meanwhile. */
  readonly failed: readonly { producerId: string; secretId: string; reason: string }[];
}

/** Most passes of `Admin.resealSecrets` over the producers (each after one that moved something). */
const MAX_RESEAL_PASSES = 5;

/** Longest accepted producer secret, in UTF-8 bytes. */
export const MAX_SECRET_BYTES = 1024;
/** Most instruments in one producer's allow-list. */
export const MAX_INSTRUMENTS = 1000;

/** Input of `Admin.addProducer`. */
export interface AddProducerInput {
  /** 1–64 characters of `[A-Za-z0-9._-]`. */
  readonly id: string;
  /** The shared secret (≥ 16 bytes). Omit it to have one generated (returned once). */
  readonly secret?: string;
  /** `auto` → signals are `received`; `manual` → `pending_approval`. @default 'auto' */
  readonly approval?: ApprovalMode;
  /** Allowed instruments; signals for others are stored as `rejected`. `null`/omitted: any. */
  readonly instruments?: readonly string[] | null;
}

/** A producer as listed to operators: secrets by id and age only. */
export interface ProducerSummary {
  readonly id: string;
  readonly approval: ApprovalMode;
  readonly instruments: readonly string[] | null;
  readonly createdAt: number;
  readonly secrets: readonly { readonly id: string; readonly createdAt: number }[];
}

/** A secret shown once, at creation or rotation. */
export interface IssuedSecret {
  readonly producerId: string;
  readonly secretId: string;
  /** The secret itself: show it once; the store keeps only its sealed form. */
  readonly secret: string;
  /** True when the server generated it (false when the caller supplied it). */
  readonly generated: boolean;
}

/** An operator token shown once, at creation. */
export interface IssuedToken {
  readonly id: string;
  readonly name: string;
  /** The bearer token: show it once; the store keeps only its SHA-256. */
  readonly token: string;
}

/** What `Admin.createSubscriber` takes. */
export interface AddSubscriberInput {
  /** A name for people (same characters as an operator token's name). */
  readonly name: string;
  /** Producers whose signals it may see. @default null (all) */
  readonly producers?: readonly string[] | null;
  /** Statuses it may see. @default null (all) */
  readonly statuses?: readonly string[] | null;
}

/** A stream subscriber as listed (never its token). */
export interface SubscriberSummary {
  readonly id: string;
  readonly name: string;
  readonly producers: readonly string[] | null;
  readonly statuses: readonly StoredSignalStatus[] | null;
  readonly createdAt: number;
  readonly revokedAt: number | null;
}

/** A subscriber token shown once, at creation. */
export interface IssuedSubscriber extends SubscriberSummary {
  /** The token (`sgs_…`): show it once; the store keeps only its SHA-256. */
  readonly token: string;
}

/** Most producers or statuses in one subscriber's scope. */
export const MAX_SCOPE_ITEMS = 100;

function describeSecret(secret: unknown): string {
  return typeof secret === 'string' ? `${Buffer.byteLength(secret, 'utf8')} bytes` : typeof secret;
}

const quoted = (value: unknown): string => describeValue(value, 70);

/**
 * Producer, secret and operator-token administration over a `Store`, shared by the CLI and the
 * development bootstrap. Every input is validated (all problems reported at once, in
 * `InvalidInputError.issues`); secrets are sealed before they reach the store and are returned to the
 * caller only once.
 *
 * @example
 * const admin = new Admin(store, SecretBox.fromKeyFile('./data/sigpost.key', { create: true }));
 * const { secret } = await admin.addProducer({ id: 'desk-1', approval: 'manual' });
 */
export class Admin {
  readonly #store: Store;
  readonly #box: SecretSealer;
  readonly #clock: Clock;

  constructor(store: Store, box: SecretSealer, clock: Clock = systemClock) {
    this.#store = store;
    this.#box = box;
    this.#clock = clock;
  }

  /** Creates a producer with one secret. Throws `ConflictError` when the id exists. */
  async addProducer(input: AddProducerInput): Promise<IssuedSecret> {
    const issues: InputIssue[] = [];
    checkProducerId(input.id, issues);
    if (input.secret !== undefined) this.#checkSecret(input.secret, issues);
    const approval = input.approval ?? 'auto';
    if (approval !== 'auto' && approval !== 'manual') {
      issues.push({ key: 'approval', expected: '"auto" or "manual"', received: quoted(approval) });
    }
    const instruments = checkInstruments(input.instruments ?? null, issues);
    if (issues.length > 0) throw new InvalidInputError('producer', issues);

    const secret = input.secret ?? generateSecret();
    const now = Math.floor(this.#clock.now());
    const secretId = newId('sec', now);
    try {
      await this.#store.createProducer({
        id: input.id,
        approval,
        instruments,
        createdAt: now,
        secret: { id: secretId, ciphertext: this.#box.seal(secret), createdAt: now },
      });
    } catch (error) {
      if (error instanceof StoreConflictError) {
        throw new ConflictError(`Producer ${input.id} already exists`, { cause: error });
      }
      throw error;
    }
    return { producerId: input.id, secretId, secret, generated: input.secret === undefined };
  }

  /** Every producer, with its active secrets by id and age (never the secrets). */
  async listProducers(): Promise<ProducerSummary[]> {
    return (await this.#store.listProducers()).map(summarize);
  }

  /** One producer's summary; throws `NotFoundError`. */
  async getProducer(id: string): Promise<ProducerSummary> {
    return summarize(await this.#producer(id));
  }

  /**
   * Adds a new active secret to a producer; the old ones keep working until retired, so a producer
   * can switch with no failed request. Returns the new secret once.
   */
  async rotateSecret(producerId: string, secret?: string): Promise<IssuedSecret> {
    const issues: InputIssue[] = [];
    checkProducerId(producerId, issues);
    if (secret !== undefined) this.#checkSecret(secret, issues);
    if (issues.length > 0) throw new InvalidInputError('secret rotation', issues);
    const value = secret ?? generateSecret();
    const now = Math.floor(this.#clock.now());
    const secretId = newId('sec', now);
    try {
      await this.#store.addSecret(producerId, {
        id: secretId,
        ciphertext: this.#box.seal(value),
        createdAt: now,
      });
    } catch (error) {
      if (error instanceof StoreNotFoundError) {
        throw new NotFoundError(`Producer ${producerId} does not exist`, { cause: error });
      }
      throw error;
    }
    return { producerId, secretId, secret: value, generated: secret === undefined };
  }

  /** Retires one secret. Throws `NotFoundError` (no such active secret) or `ConflictError` (its last one). */
  async retireSecret(producerId: string, secretId: string): Promise<void> {
    const issues: InputIssue[] = [];
    checkProducerId(producerId, issues);
    if (typeof secretId !== 'string' || !/^sec_[0-9A-Z]{26}$/.test(secretId)) {
      issues.push({
        key: 'secretId',
        expected: 'a secret id such as sec_01JC3M5W8QXG4K2N6Y7T9B1ZAD',
        received: quoted(secretId),
      });
    }
    if (issues.length > 0) throw new InvalidInputError('secret retirement', issues);
    let retired: boolean;
    try {
      retired = await this.#store.retireSecret(producerId, secretId, Math.floor(this.#clock.now()));
    } catch (error) {
      if (error instanceof StoreConflictError) {
        throw new ConflictError(
          `Cannot retire secret ${secretId} of producer ${producerId}: it is its last active secret (rotate first)`,
          { cause: error },
        );
      }
      throw error;
    }
    if (!retired) {
      await this.#producer(producerId);
      throw new NotFoundError(`Producer ${producerId} has no active secret ${secretId}`);
    }
  }

  /**
   * Moves every active producer secret to the box's current key-encryption key: each one sealed
   * under an earlier key (which the box must hold, see `SecretBox.withPreviousKeys`) is opened and
   * sealed again, replaced only if it is still active and unchanged. Retired secrets are left as they
   * are (they verify nothing). `resealed` and `alreadyCurrent` count secrets over all passes;
   * `failed` is the last pass's. Safe to run again; servers that hold both keys keep verifying throughout.
   */
  async resealSecrets(): Promise<ResealReport> {
    const box = this.#box as Partial<SecretResealer>;
    if (typeof box.open !== 'function' || typeof box.isSealedUnderCurrentKey !== 'function') {
      throw new TypeError('Expected a SecretBox (open and isSealedUnderCurrentKey) to reseal secrets');
    }
    const resealer = box as SecretResealer;
    const resealed = new Set<string>();
    const alreadyCurrent = new Set<string>();
    let failed: { producerId: string; secretId: string; reason: string }[] = [];
    // Passes repeat while one moves something: a secret another process added under an old key
    // during a pass is picked up by the next (every sealing process should hold the new key first).
    for (let pass = 0; pass < MAX_RESEAL_PASSES; pass++) {
      const before = resealed.size;
      failed = [];
      for (const producer of await this.#store.listProducers()) {
        for (const secret of producer.secrets) {
          const outcome = await this.#reseal(resealer, producer.id, secret);
          const key = `${producer.id}\n${secret.id}`;
          if (outcome === 'resealed') resealed.add(key);
          else if (outcome === 'current' && !resealed.has(key)) alreadyCurrent.add(key);
          else if (typeof outcome === 'object') {
            failed.push({ producerId: producer.id, secretId: secret.id, reason: outcome.reason });
          }
        }
      }
      if (resealed.size === before) break;
    }
    return { keyId: resealer.keyId, resealed: resealed.size, alreadyCurrent: alreadyCurrent.size, failed };
  }

  async #reseal(
    box: SecretResealer,
    producerId: string,
    secret: { id: string; ciphertext: string },
  ): Promise<'resealed' | 'current' | 'gone' | { reason: string }> {
    if (box.isSealedUnderCurrentKey(secret.ciphertext)) return 'current';
    let next: string;
    try {
      next = box.seal(box.open(secret.ciphertext));
    } catch (error) {
      return { reason: error instanceof Error ? error.message : String(error) };
    }
    if (await this.#store.replaceSecretCiphertext(producerId, secret.id, secret.ciphertext, next)) {
      return 'resealed';
    }
    // Changed meanwhile: retired or removed (nothing to move), or moved by another reseal.
    const now = (await this.#store.getProducer(producerId))?.secrets.find((s) => s.id === secret.id);
    if (now === undefined) return 'gone';
    if (box.isSealedUnderCurrentKey(now.ciphertext)) return 'current';
    return { reason: 'it changed while being resealed; run the command again' };
  }

  /** Removes a producer (its stored signals are kept). Throws `NotFoundError`. */
  async removeProducer(producerId: string): Promise<void> {
    const issues: InputIssue[] = [];
    checkProducerId(producerId, issues);
    if (issues.length > 0) throw new InvalidInputError('producer', issues);
    if (!(await this.#store.removeProducer(producerId))) {
      throw new NotFoundError(`Producer ${producerId} does not exist`);
    }
  }

  /** Creates an operator token and returns it once; only its SHA-256 is stored. */
  async createToken(name: string): Promise<IssuedToken> {
    if (typeof name !== 'string' || !TOKEN_NAME_PATTERN.test(name)) {
      throw new InvalidInputError('operator token', [
        {
          key: 'name',
          expected: '1–64 characters of letters, digits, space and . _ @ -',
          received: quoted(name),
        },
      ]);
    }
    const now = Math.floor(this.#clock.now());
    const token = `sgp_${generateSecret()}`;
    const id = newId('tok', now);
    await this.#store.createToken({ id, name, hash: hashToken(token), createdAt: now });
    return { id, name, token };
  }

  /**
   * Creates a stream subscriber token (`sgs_…`, shown once; only its SHA-256 is stored) with its
   * scope. Throws `InvalidInputError` naming every bad field.
   * @example
   * const { id, token } = await admin.createSubscriber({ name: 'exec-bot', statuses: ['approved'] });
   */
  async createSubscriber(input: AddSubscriberInput): Promise<IssuedSubscriber> {
    const issues: InputIssue[] = [];
    if (typeof input?.name !== 'string' || !TOKEN_NAME_PATTERN.test(input.name)) {
      issues.push({
        key: 'name',
        expected: '1–64 characters of letters, digits, space and . _ @ -',
        received: quoted(input?.name),
      });
    }
    const list = <T extends string>(
      key: string,
      value: readonly string[] | null | undefined,
      valid: (item: string) => boolean,
      expected: string,
    ): T[] | null => {
      if (value === undefined || value === null) return null;
      if (!Array.isArray(value) || value.length === 0 || value.length > MAX_SCOPE_ITEMS) {
        issues.push({
          key,
          expected: `1–${MAX_SCOPE_ITEMS} items (leave it out for all)`,
          received: Array.isArray(value) ? `${value.length} items` : quoted(value),
        });
        return null;
      }
      const bad = value.find((item) => typeof item !== 'string' || !valid(item));
      if (bad !== undefined) issues.push({ key, expected, received: quoted(bad) });
      return [...new Set(value)] as T[];
    };
    const producers = list<string>(
      'producers',
      input?.producers,
      isValidProducerId,
      'producer ids (1–64 characters of A-Z a-z 0-9 . _ -)',
    );
    const statuses = list<StoredSignalStatus>(
      'statuses',
      input?.statuses,
      (s) => STORED_SIGNAL_STATUSES.includes(s as StoredSignalStatus),
      `statuses among ${STORED_SIGNAL_STATUSES.join(', ')}`,
    );
    if (issues.length > 0) throw new InvalidInputError('subscriber', issues);
    const now = Math.floor(this.#clock.now());
    const token = `sgs_${generateSecret()}`;
    const subscriber = {
      id: newId('sub', now),
      name: input.name,
      hash: hashToken(token),
      producers,
      statuses,
      createdAt: now,
      revokedAt: null,
    };
    await this.#store.createSubscriber(subscriber);
    const { hash: _hash, ...summary } = subscriber;
    return { ...summary, token };
  }

  /** Every stream subscriber, revoked ones included (never the token). */
  async listSubscribers(): Promise<SubscriberSummary[]> {
    return (await this.#store.listSubscribers()).map(({ hash: _hash, ...summary }) => summary);
  }

  /** Revokes a subscriber token; its open stream connections are closed (4403) within seconds. Throws `NotFoundError`. */
  async revokeSubscriber(id: string): Promise<void> {
    if (!(await this.#store.revokeSubscriber(id, Math.floor(this.#clock.now())))) {
      throw new NotFoundError(`Subscriber ${id} does not exist or is already revoked`);
    }
  }

  /** Every operator token (id, name, age; never the token). */
  async listTokens(): Promise<Omit<OperatorToken, 'hash'>[]> {
    return (await this.#store.listTokens()).map(({ id, name, createdAt }) => ({ id, name, createdAt }));
  }

  /** Revokes a token by id. Throws `NotFoundError`. */
  async revokeToken(id: string): Promise<void> {
    if (!(await this.#store.revokeToken(id))) throw new NotFoundError(`Operator token ${id} does not exist`);
  }

  async #producer(id: string): Promise<Producer> {
    const producer = isValidProducerId(id) ? await this.#store.getProducer(id) : undefined;
    if (!producer) throw new NotFoundError(`Producer ${JSON.stringify(id)} does not exist`);
    return producer;
  }

  #checkSecret(secret: unknown, issues: InputIssue[]): void {
    const bytes = typeof secret === 'string' ? Buffer.byteLength(secret, 'utf8') : -1;
    if (bytes < MIN_SECRET_BYTES || bytes > MAX_SECRET_BYTES) {
      issues.push({
        key: 'secret',
        expected: `${MIN_SECRET_BYTES}–${MAX_SECRET_BYTES} bytes`,
        received: describeSecret(secret),
      });
    }
  }
}

function checkProducerId(id: unknown, issues: InputIssue[]): void {
  if (!isValidProducerId(id)) {
    issues.push({ key: 'id', expected: '1–64 characters of A-Z a-z 0-9 . _ -', received: quoted(id) });
  }
}

function summarize(p: Producer): ProducerSummary {
  return {
    id: p.id,
    approval: p.approval,
    instruments: p.instruments,
    createdAt: p.createdAt,
    secrets: p.secrets.map((s) => ({ id: s.id, createdAt: s.createdAt })),
  };
}

function checkInstruments(value: unknown, issues: InputIssue[]): string[] | null {
  if (value === null) return null;
  if (!Array.isArray(value) || value.length === 0 || value.length > MAX_INSTRUMENTS) {
    issues.push({
      key: 'instruments',
      expected: `a list of 1–${MAX_INSTRUMENTS} instruments, or null for any`,
      received: Array.isArray(value) ? `${value.length} instruments` : quoted(value),
    });
    return null;
  }
  value.forEach((instrument, i) => {
    if (typeof instrument !== 'string' || !INSTRUMENT_PATTERN.test(instrument)) {
      issues.push({
        key: `instruments[${i}]`,
        expected: '1–32 characters of A-Z a-z 0-9 . _ / -',
        received: quoted(instrument),
      });
    }
  });
  return [...new Set(value as string[])];
}

/** What `bootstrapDevelopment` created, to print once. */
export interface DevelopmentCredentials {
  readonly producer: IssuedSecret;
  readonly token: IssuedToken;
}

/** Id of the producer that `sigpost serve --dev` creates on an empty store. */
export const DEV_PRODUCER_ID = 'dev-producer';

/**
 * On a store with no producers, creates a development producer (auto approval, any instrument) and an
 * operator token, and returns both secrets once. Returns `undefined` when any producer exists.
 *
 * @example
 * const creds = await bootstrapDevelopment(new Admin(store, box), store);
 * if (creds) console.log(`PRODUCER_ID=${creds.producer.producerId} HMAC_PRODUCER_SECRET=${creds.producer.secret}`);
 */
export async function bootstrapDevelopment(
  admin: Admin,
  store: Store,
): Promise<DevelopmentCredentials | undefined> {
  if ((await store.listProducers()).length > 0) return undefined;
  const producer = await admin.addProducer({ id: DEV_PRODUCER_ID, approval: 'auto' });
  const token = await admin.createToken('dev');
  return { producer, token };
}
