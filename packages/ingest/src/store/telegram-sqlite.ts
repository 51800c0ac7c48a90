// The Telegram bot's tables on SQLite (see telegram.ts). Every call runs on the store's writer
// connection (the writer thread's `telegram` op), so it is ordered with the store's other writes.
import type Database from 'better-sqlite3';
import {
  checkCursor,
  checkLeaseArgs,
  type TelegramCursor,
  type TelegramMessage,
  type TelegramMessageRow,
  type TelegramStore,
  toTelegramMessage,
} from './telegram.js';

/** One call of the TelegramStore API, as the writer thread receives it. */
export type TelegramOp = {
  [K in keyof TelegramStore]: [K, ...Parameters<TelegramStore[K]>];
}[keyof TelegramStore];

/** Runs `op` on the writer's connection (called in the writer thread). */
export function runTelegramOp(db: Database.Database, [op, ...args]: TelegramOp): unknown {
  switch (op) {
    case 'acquireLease': {
      const [name, holder, now, ttlMs] = args as Parameters<TelegramStore['acquireLease']>;
      const result = db
        .prepare(
          `INSERT INTO service_leases (name, holder, expires_at) VALUES (?, ?, ?)
           ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
           WHERE service_leases.holder = excluded.holder OR service_leases.expires_at <= ?`,
        )
        .run(name, holder, now + ttlMs, now);
      return result.changes > 0;
    }
    case 'releaseLease': {
      const [name, holder] = args as Parameters<TelegramStore['releaseLease']>;
      return (
        db.prepare('DELETE FROM service_leases WHERE name = ? AND holder = ?').run(name, holder).changes > 0
      );
    }
    case 'leaseHolder': {
      const [name, now] = args as Parameters<TelegramStore['leaseHolder']>;
      return db
        .prepare('SELECT holder FROM service_leases WHERE name = ? AND expires_at > ?')
        .pluck()
        .get(name, now) as string | undefined;
    }
    case 'getCursor': {
      const [name] = args as [TelegramCursor];
      return (
        (db.prepare('SELECT value FROM telegram_cursors WHERE name = ?').pluck().get(name) as
          | number
          | undefined) ?? 0
      );
    }
    case 'advanceCursor': {
      const [name, value] = args as [TelegramCursor, number];
      db.prepare(
        `INSERT INTO telegram_cursors (name, value) VALUES (?, ?)
         ON CONFLICT (name) DO UPDATE SET value = max(value, excluded.value)`,
      ).run(name, value);
      return undefined;
    }
    case 'claimMessage': {
      const [signalId, chatId, at] = args as Parameters<TelegramStore['claimMessage']>;
      return (
        db
          .prepare(
            `INSERT INTO telegram_messages (signal_id, chat_id, message_id, state, created_at, closed_at)
             VALUES (?, ?, NULL, 'sending', ?, NULL) ON CONFLICT (signal_id) DO NOTHING`,
          )
          .run(signalId, chatId, at).changes > 0
      );
    }
    case 'finishMessage': {
      const [signalId, outcome] = args as Parameters<TelegramStore['finishMessage']>;
      db.prepare(
        "UPDATE telegram_messages SET state = ?, message_id = ? WHERE signal_id = ? AND state = 'sending'",
      ).run(
        outcome === 'failed' ? 'failed' : 'sent',
        outcome === 'failed' ? null : outcome.messageId,
        signalId,
      );
      return undefined;
    }
    case 'closeMessage': {
      const [signalId, at] = args as Parameters<TelegramStore['closeMessage']>;
      return (
        db
          .prepare('UPDATE telegram_messages SET closed_at = ? WHERE signal_id = ? AND closed_at IS NULL')
          .run(at, signalId).changes > 0
      );
    }
    case 'getMessage': {
      const [signalId] = args as Parameters<TelegramStore['getMessage']>;
      const row = db
        .prepare(
          'SELECT signal_id, chat_id, message_id, state, created_at, closed_at FROM telegram_messages WHERE signal_id = ?',
        )
        .get(signalId) as TelegramMessageRow | undefined;
      return row === undefined ? undefined : toTelegramMessage(row);
    }
  }
}

/** The TelegramStore of a SqliteStore: every call goes to `run` (the store's writer). */
export function sqliteTelegramStore(run: (op: TelegramOp) => Promise<unknown>): TelegramStore {
  return {
    async acquireLease(name, holder, now, ttlMs) {
      checkLeaseArgs(name, holder, now, ttlMs);
      return (await run(['acquireLease', name, holder, now, ttlMs])) as boolean;
    },
    async releaseLease(name, holder) {
      return (await run(['releaseLease', name, holder])) as boolean;
    },
    async leaseHolder(name, now) {
      return (await run(['leaseHolder', name, now])) as string | undefined;
    },
    async getCursor(name) {
      checkCursor(name);
      return (await run(['getCursor', name])) as number;
    },
    async advanceCursor(name, value) {
      checkCursor(name, value);
      await run(['advanceCursor', name, value]);
    },
    async claimMessage(signalId, chatId, at) {
      return (await run(['claimMessage', signalId, chatId, at])) as boolean;
    },
    async finishMessage(signalId, outcome) {
      await run(['finishMessage', signalId, outcome]);
    },
    async closeMessage(signalId, at) {
      return (await run(['closeMessage', signalId, at])) as boolean;
    },
    async getMessage(signalId) {
      return (await run(['getMessage', signalId])) as TelegramMessage | undefined;
    },
  };
}
