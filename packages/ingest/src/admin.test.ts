import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Admin, bootstrapDevelopment, DEV_PRODUCER_ID } from './admin.js';
import { buildApp } from './app.js';
import { ConflictError, InvalidInputError, NotFoundError } from './errors.js';
import { hashToken, SecretBox } from './secrets.js';
import { SqliteStore } from './store/sqlite.js';
import {
  ingestRequest,
  PRODUCER,
  SECRET,
  SIGNAL,
  type TestClock,
  tempDir,
  testClock,
  withOverride,
} from './test-helpers/fixtures.js';

let store: SqliteStore;
let box: SecretBox;
let admin: Admin;
let clock: TestClock;
let cleanup: () => void;

beforeEach(async () => {
  const tmp = tempDir();
  cleanup = tmp.cleanup;
  store = new SqliteStore({ path: join(tmp.dir, 'admin.db') });
  await store.migrate();
  box = SecretBox.fromKey(randomBytes(32));
  clock = testClock();
  admin = new Admin(store, box, clock);
});
afterEach(async () => {
  await store.close();
  cleanup();
});

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a rejection');
}

describe('Admin: producers', () => {
  it('generates a secret, returns it once, and stores only its sealed form', async () => {
    const issued = await admin.addProducer({ id: 'desk-1' });
    expect(issued).toMatchObject({ producerId: 'desk-1', generated: true });
    expect(issued.secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(issued.secretId).toMatch(/^sec_[0-9A-Z]{26}$/);
    const stored = await store.getProducer('desk-1');
    expect(stored).toMatchObject({ approval: 'auto', instruments: null });
    const ciphertext = stored?.secrets[0]?.ciphertext ?? '';
    expect(ciphertext).not.toContain(issued.secret);
    expect(box.open(ciphertext)).toBe(issued.secret);
  });

  it('uses a supplied secret, approval mode and allow-list (deduplicated)', async () => {
    const issued = await admin.addProducer({
      id: 'desk-2',
      secret: 'supplied-secret-0123456789',
      approval: 'manual',
      instruments: ['GOLD', 'EUR/USD', 'GOLD'],
    });
    expect(issued).toMatchObject({ secret: 'supplied-secret-0123456789', generated: false });
    expect(await admin.getProducer('desk-2')).toMatchObject({
      approval: 'manual',
      instruments: ['GOLD', 'EUR/USD'],
    });
  });

  it('reports every invalid field at once, giving the secret by its length only', async () => {
    const error = await rejection(
      admin.addProducer({
        id: 'desk 1',
        secret: 'hunter2',
        approval: 'sometimes' as 'auto',
        instruments: ['GOLD', 'not an instrument'],
      }),
    );
    expect(error).toBeInstanceOf(InvalidInputError);
    expect(error.message).toBe(
      'Invalid producer:\n' +
        '✖ expected 1–64 characters of A-Z a-z 0-9 . _ -, received "desk 1"\n  → at id\n' +
        '✖ expected 16–1024 bytes, received 7 bytes\n  → at secret\n' +
        '✖ expected "auto" or "manual", received "sometimes"\n  → at approval\n' +
        '✖ expected 1–32 characters of A-Z a-z 0-9 . _ / -, received "not an instrument"\n  → at instruments[1]',
    );
    expect(error.message).not.toContain('hunter2');
  });

  it('refuses an empty allow-list (use null for any instrument)', async () => {
    const error = await rejection(admin.addProducer({ id: 'p', instruments: [] }));
    expect(error.message).toContain(
      '✖ expected a list of 1–1000 instruments, or null for any, received 0 instruments\n  → at instruments',
    );
  });

  it('refuses an existing id with ConflictError', async () => {
    await admin.addProducer({ id: 'desk-1' });
    const error = await rejection(admin.addProducer({ id: 'desk-1' }));
    expect(error).toBeInstanceOf(ConflictError);
    expect(error.message).toBe('Producer desk-1 already exists');
    expect(error.cause).toBeDefined();
  });

  it('lists producers with secret ids and ages, never the secrets', async () => {
    const issued = await admin.addProducer({ id: 'desk-1' });
    const listed = await admin.listProducers();
    expect(listed).toEqual([
      {
        id: 'desk-1',
        approval: 'auto',
        instruments: null,
        createdAt: expect.any(Number),
        secrets: [{ id: issued.secretId, createdAt: expect.any(Number) }],
      },
    ]);
    expect(JSON.stringify(listed)).not.toContain('v1.');
  });

  it('removes a producer; removing an unknown one is NotFoundError', async () => {
    await admin.addProducer({ id: 'desk-1' });
    await admin.removeProducer('desk-1');
    expect(await store.getProducer('desk-1')).toBeUndefined();
    const error = await rejection(admin.removeProducer('desk-1'));
    expect(error).toBeInstanceOf(NotFoundError);
    expect(error.message).toBe('Producer desk-1 does not exist');
  });
});

describe('Admin: secrets', () => {
  it('rotates by adding a secret while the old one stays active', async () => {
    const first = await admin.addProducer({ id: 'desk-1' });
    clock.advance(1_000);
    const second = await admin.rotateSecret('desk-1');
    expect(second.secret).not.toBe(first.secret);
    const secrets = (await store.getProducer('desk-1'))?.secrets ?? [];
    expect(secrets.map((s) => box.open(s.ciphertext))).toEqual([first.secret, second.secret]);
  });

  it('retires a secret, refusing to retire the last one', async () => {
    const first = await admin.addProducer({ id: 'desk-1' });
    clock.advance(1_000);
    const second = await admin.rotateSecret('desk-1');
    await admin.retireSecret('desk-1', first.secretId);
    expect((await admin.getProducer('desk-1')).secrets.map((s) => s.id)).toEqual([second.secretId]);
    const error = await rejection(admin.retireSecret('desk-1', second.secretId));
    expect(error).toBeInstanceOf(ConflictError);
    expect(error.message).toBe(
      `Cannot retire secret ${second.secretId} of producer desk-1: it is its last active secret (rotate first)`,
    );
  });

  it('says which is unknown: the producer or the secret', async () => {
    await admin.addProducer({ id: 'desk-1' });
    await admin.rotateSecret('desk-1');
    const noSecret = await rejection(admin.retireSecret('desk-1', 'sec_01JC3M5W8QXG4K2N6Y7T9B1ZAD'));
    expect(noSecret.message).toBe('Producer desk-1 has no active secret sec_01JC3M5W8QXG4K2N6Y7T9B1ZAD');
    const noProducer = await rejection(admin.rotateSecret('ghost'));
    expect(noProducer).toBeInstanceOf(NotFoundError);
    expect(noProducer.message).toBe('Producer ghost does not exist');
    const malformed = await rejection(admin.retireSecret('desk-1', 'key-1'));
    expect(malformed).toBeInstanceOf(InvalidInputError);
  });
});

describe('Admin: operator tokens', () => {
  it('returns a token once and stores only its SHA-256', async () => {
    const issued = await admin.createToken('ops alice');
    expect(issued.token).toMatch(/^sgp_[A-Za-z0-9_-]{43}$/);
    const found = await store.findTokenByHash(hashToken(issued.token));
    expect(found).toMatchObject({ id: issued.id, name: 'ops alice' });
    expect(JSON.stringify(await store.listTokens())).not.toContain(issued.token);
  });

  it('refuses a bad token name', async () => {
    const error = await rejection(admin.createToken('<script>'));
    expect(error.message).toBe(
      'Invalid operator token:\n✖ expected 1–64 characters of letters, digits, space and . _ @ -, received "<script>"\n  → at name',
    );
  });
});

describe('Admin: stream subscribers', () => {
  it('creates a token shown once with its scope, stores only its hash, lists and revokes it', async () => {
    const issued = await admin.createSubscriber({
      name: 'exec-bot',
      producers: ['desk-1', 'desk-1', 'desk-2'],
      statuses: ['approved'],
    });
    expect(issued).toEqual({
      id: expect.stringMatching(/^sub_[0-9A-Z]{26}$/),
      name: 'exec-bot',
      token: expect.stringMatching(/^sgs_[A-Za-z0-9_-]{43}$/),
      producers: ['desk-1', 'desk-2'],
      statuses: ['approved'],
      createdAt: clock.now(),
      revokedAt: null,
    });
    expect((await store.findSubscriberByHash(hashToken(issued.token)))?.id).toBe(issued.id);
    const { token: _token, ...summary } = issued;
    expect(await admin.listSubscribers()).toEqual([summary]);
    clock.advance(1_000);
    await admin.revokeSubscriber(issued.id);
    expect(await admin.listSubscribers()).toEqual([{ ...summary, revokedAt: clock.now() }]);
    expect(await rejection(admin.revokeSubscriber(issued.id))).toBeInstanceOf(NotFoundError);
  });

  it('names every bad field at once', async () => {
    const error = await rejection(
      admin.createSubscriber({ name: '', producers: [], statuses: ['approved', 'shipped'] }),
    );
    expect(error).toBeInstanceOf(InvalidInputError);
    expect((error as InvalidInputError).issues.map((i) => i.key)).toEqual(['name', 'producers', 'statuses']);
    expect(await admin.listSubscribers()).toEqual([]);
  });
});

describe('bootstrapDevelopment', () => {
  it('creates a development producer and an operator token on an empty store, once', async () => {
    const creds = await bootstrapDevelopment(admin, store);
    expect(creds?.producer).toMatchObject({ producerId: DEV_PRODUCER_ID, generated: true });
    expect(creds?.token.token).toMatch(/^sgp_/);
    expect(await bootstrapDevelopment(admin, store)).toBeUndefined();
    expect(await store.listProducers()).toHaveLength(1);
  });

  it('does nothing when a producer exists', async () => {
    await admin.addProducer({ id: 'desk-1' });
    expect(await bootstrapDevelopment(admin, store)).toBeUndefined();
    expect(await store.listTokens()).toEqual([]);
  });
});

describe('Admin.resealSecrets (key-encryption key rotation)', () => {
  it('moves every active secret to the new key while a server holding both keys keeps verifying', async () => {
    const oldKey = randomBytes(32);
    const newKey = randomBytes(32);
    await new Admin(store, SecretBox.fromKey(oldKey), clock).addProducer({ id: PRODUCER, secret: SECRET });
    const rotating = SecretBox.fromKey(newKey).withPreviousKeys([oldKey]);
    const serve = async (secretBox: SecretBox) => {
      const app = buildApp({ store, secretBox, clock, config: { secretCacheMs: 0 } });
      await app.ready();
      return app;
    };
    let n = 0;
    // Each request its own body, so the replay guard never answers instead of verification.
    const request = () => ingestRequest({ body: JSON.stringify({ ...SIGNAL, reason: `rotation ${++n}` }) });
    const both = await serve(rotating);
    const newOnly = await serve(SecretBox.fromKey(newKey));
    try {
      expect((await both.inject(request())).statusCode).toBe(201);
      expect((await newOnly.inject(request())).statusCode).toBe(401);

      const report = await new Admin(store, rotating, clock).resealSecrets();
      expect(report).toEqual({ keyId: rotating.keyId, resealed: 1, alreadyCurrent: 0, failed: [] });

      expect((await both.inject(request())).statusCode).toBe(201);
      expect((await newOnly.inject(request())).statusCode).toBe(201);
      expect(await new Admin(store, rotating, clock).resealSecrets()).toMatchObject({
        resealed: 0,
        alreadyCurrent: 1,
      });
    } finally {
      await both.close();
      await newOnly.close();
    }
  });

  it('picks up a secret another process adds under the old key while it runs', async () => {
    const oldKey = randomBytes(32);
    const oldAdmin = new Admin(store, SecretBox.fromKey(oldKey), clock);
    await oldAdmin.addProducer({ id: PRODUCER, secret: SECRET });
    let lists = 0;
    // The first listing is followed at once by another process's rotate, still under the old key.
    const racing = withOverride(store, {
      listProducers: async () => {
        const listed = await store.listProducers();
        if (++lists === 1) await oldAdmin.rotateSecret(PRODUCER, 'secret-added-meanwhile-0123');
        return listed;
      },
    });
    const rotating = SecretBox.fromKey(randomBytes(32)).withPreviousKeys([oldKey]);
    const report = await new Admin(racing, rotating, clock).resealSecrets();
    expect(report).toEqual({ keyId: rotating.keyId, resealed: 2, alreadyCurrent: 0, failed: [] });
    const stored = (await store.getProducer(PRODUCER))!.secrets.map((s) => s.ciphertext);
    expect(stored.every((c) => rotating.isSealedUnderCurrentKey(c))).toBe(true);
  });

  it('reports a secret no loaded key opens, and leaves it as it was', async () => {
    await admin.addProducer({ id: PRODUCER, secret: SECRET });
    const stranger = SecretBox.fromKey(randomBytes(32));
    const report = await new Admin(store, stranger, clock).resealSecrets();
    expect(report.resealed).toBe(0);
    expect(report.failed).toEqual([
      {
        producerId: PRODUCER,
        secretId: expect.stringMatching(/^sec_/),
        reason: expect.stringContaining('SECRET_KEY') as unknown as string,
      },
    ]);
    expect(box.open((await store.getProducer(PRODUCER))!.secrets[0]!.ciphertext)).toBe(SECRET);
  });
});
