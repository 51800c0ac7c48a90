// The Telegram bot's tables on PostgreSQL (see telegram.ts). Each call is one statement: the lease
// is taken with INSERT … ON CONFLICT DO UPDATE … WHERE, which locks the row, so of several servers
// asking at once exactly one gets it.
import type pg from 'pg';
import {
  checkCursor,
  checkLeaseArgs,
  type TelegramMessageRow,
  type TelegramStore,
  toTelegramMessage,
} from './telegram.js';

type Query = <R extends pg.QueryResultRow>(text: string, values?: unknown[]) => Promise<pg.QueryResult<R>>;

/** The TelegramStore of a PostgresStore, running its statements with `query` (the store's pool). */
export function postgresTelegramStore(query: Query): TelegramStore {
  return {
    async acquireLease(name, holder, now, ttlMs) {
      checkLeaseArgs(name, holder, now, ttlMs);
      const { rowCount } = await query(
        `INSERT INTO service_leases AS l (name, holder, expires_at) VALUES ($1, $2, $3)
         ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
         WHERE l.holder = EXCLUDED.holder OR l.expires_at <= $4`,
        [name, holder, now + ttlMs, now],
      );
      return (rowCount ?? 0) > 0;
    },
    async releaseLease(name, holder) {
      const { rowCount } = await query('DELETE FROM service_leases WHERE name = $1 AND holder = $2', [
        name,
        holder,
      ]);
      return (rowCount ?? 0) > 0;
    },
    async leaseHolder(name, now) {
      const { rows } = await query<{ holder: string }>(
        'SELECT holder FROM service_leases WHERE name = $1 AND expires_at > $2',
        [name, now],
      );
      return rows[0]?.holder;
    },
    async getCursor(name) {
      checkCursor(name);
      const { rows } = await query<{ value: number | string }>(
        'SELECT value FROM telegram_cursors WHERE name = $1',
        [name],
      );
      return rows[0] === undefined ? 0 : Number(rows[0].value);
    },
    async advanceCursor(name, value) {
      checkCursor(name, value);
      await query(
        `INSERT INTO telegram_cursors AS c (name, value) VALUES ($1, $2)
         ON CONFLICT (name) DO UPDATE SET value = greatest(c.value, EXCLUDED.value)`,
        [name, value],
      );
    },
    async claimMessage(signalId, chatId, at) {
      const { rowCount } = await query(
        `INSERT INTO telegram_messages (signal_id, chat_id, message_id, state, created_at, closed_at)
         VALUES ($1, $2, NULL, 'sending', $3, NULL) ON CONFLICT (signal_id) DO NOTHING`,
        [signalId, chatId, at],
      );
      return (rowCount ?? 0) > 0;
    },
    async finishMessage(signalId, outcome) {
      await query(
        "UPDATE telegram_messages SET state = $1, message_id = $2 WHERE signal_id = $3 AND state = 'sending'",
        [outcome === 'failed' ? 'failed' : 'sent', outcome === 'failed' ? null : outcome.messageId, signalId],
      );
    },
    async closeMessage(signalId, at) {
      const { rowCount } = await query(
        'UPDATE telegram_messages SET closed_at = $1 WHERE signal_id = $2 AND closed_at IS NULL',
        [at, signalId],
      );
      return (rowCount ?? 0) > 0;
    },
    async getMessage(signalId) {
      const { rows } = await query<TelegramMessageRow>(
        'SELECT signal_id, chat_id, message_id, state, created_at, closed_at FROM telegram_messages WHERE signal_id = $1',
        [signalId],
      );
      return rows[0] === undefined ? undefined : toTelegramMessage(rows[0]);
    },
  };
}
