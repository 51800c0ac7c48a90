// What the Telegram approval bot keeps in the store (src/telegram/): one lease naming the server
// that talks to Telegram, its two cursors, and one row per signal it sent to the chat. Both stores
// implement it (telegram-sqlite.ts, telegram-postgres.ts); telegram.contract.ts tests both.

/** The bot's message for one signal. */
export interface TelegramMessage {
  readonly signalId: string;
  /** The chat it went to (as configured: a numeric id or an @channelname). */
  readonly chatId: string;
  /** Telegram's message_id, once sendMessage answered; null while sending or when it failed. */
  readonly messageId: number | null;
  /**
   * `sending`: claimed, sendMessage under way (or the sender died meanwhile: it is never sent again);
   * `sent`: Telegram answered with `messageId`; `failed`: Telegram refused it or every try failed.
   */
  readonly state: 'sending' | 'sent' | 'failed';
  readonly createdAt: number;
  /** When the message was edited to show the signal's decision; null while it shows the buttons. */
  readonly closedAt: number | null;
}

/** Names of the cursors the bot keeps. */
export type TelegramCursor = 'events' | 'updates';

export interface TelegramStore {
  /**
   * Takes lease `name` for `holder` until `now + ttlMs` if it is free, expired at `now`, or already
   * held by `holder` (a renewal). Answers whether `holder` holds it afterwards. Atomic: of several
   * servers asking at once, one wins.
   */
  acquireLease(name: string, holder: string, now: number, ttlMs: number): Promise<boolean>;
  /** Gives lease `name` up if `holder` holds it; answers whether it did. */
  releaseLease(name: string, holder: string): Promise<boolean>;
  /** Who holds lease `name` at `now` (undefined when free or expired). */
  leaseHolder(name: string, now: number): Promise<string | undefined>;

  /** The cursor's value; 0 when it was never set. */
  getCursor(name: TelegramCursor): Promise<number>;
  /** Moves the cursor forward to `value`; a lower value leaves it as it is (never goes back). */
  advanceCursor(name: TelegramCursor, value: number): Promise<void>;

  /**
   * Records that a message for `signalId` is being sent (state `sending`). Answers false, changing
   * nothing, when the signal already has one: that is what sends a signal's message at most once.
   */
  claimMessage(signalId: string, chatId: string, at: number): Promise<boolean>;
  /** Records how sending ended: `sent` with Telegram's message id, or `failed`. */
  finishMessage(signalId: string, outcome: { messageId: number } | 'failed'): Promise<void>;
  /** Marks the message as showing the decision; answers whether this call did (false if already closed or unknown). */
  closeMessage(signalId: string, at: number): Promise<boolean>;
  getMessage(signalId: string): Promise<TelegramMessage | undefined>;
}

/** A row of `telegram_messages` as both drivers read it. */
export interface TelegramMessageRow {
  signal_id: string;
  chat_id: string;
  message_id: number | string | null;
  state: string;
  created_at: number | string;
  closed_at: number | string | null;
}

export function toTelegramMessage(row: TelegramMessageRow): TelegramMessage {
  return {
    signalId: row.signal_id,
    chatId: row.chat_id,
    messageId: row.message_id === null ? null : Number(row.message_id),
    state: row.state as TelegramMessage['state'],
    createdAt: Number(row.created_at),
    closedAt: row.closed_at === null ? null : Number(row.closed_at),
  };
}

const CURSORS: readonly string[] = ['events', 'updates'];

/** Throws TypeError for arguments a store must never write (the SQL would accept them). */
export function checkLeaseArgs(name: string, holder: string, now: number, ttlMs: number): void {
  if (typeof name !== 'string' || name === '' || typeof holder !== 'string' || holder === '') {
    throw new TypeError('Expected a lease name and holder (non-empty strings)');
  }
  if (!Number.isSafeInteger(now) || !Number.isSafeInteger(ttlMs) || ttlMs < 1) {
    throw new TypeError(`Expected now and ttlMs to be integers (ttlMs ≥ 1), received ${now} and ${ttlMs}`);
  }
}

export function checkCursor(name: string, value?: number): void {
  if (!CURSORS.includes(name))
    throw new TypeError(`Expected a cursor name (events, updates), received ${name}`);
  if (value !== undefined && (!Number.isSafeInteger(value) || value < 0)) {
    throw new TypeError(`Expected a cursor value to be an integer ≥ 0, received ${value}`);
  }
}
