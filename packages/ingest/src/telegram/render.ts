// The texts and buttons of the approval messages, and the callback data the buttons carry.
import { isPlainObject } from '@sigpost/protocol';
import type { DecisionChannel, SignalRecord } from '../store/store.js';

/** Telegram's limit on a message's text, in characters. */
const MAX_TEXT = 4096;
/** Longest reason or decision message shown. */
const MAX_REASON = 1000;

/** What a button asks for. `a` approve, `r` reject. */
export type ButtonAction = 'approve' | 'reject';

// callback_data is at most 64 bytes: "a:" + a 30-character signal id.
const CALLBACK = /^([ar]):(sig_[0-9A-HJKMNP-TV-Z]{26})$/;

export function callbackData(action: ButtonAction, signalId: string): string {
  return `${action === 'approve' ? 'a' : 'r'}:${signalId}`;
}

/** The action and signal id of a button's callback data; undefined for anything else. */
export function parseCallbackData(data: unknown): { action: ButtonAction; signalId: string } | undefined {
  if (typeof data !== 'string') return undefined;
  const match = CALLBACK.exec(data);
  if (match === null) return undefined;
  return { action: match[1] === 'a' ? 'approve' : 'reject', signalId: match[2]! };
}

/** The inline keyboard of a pending signal's message: Approve, Reject. */
export function approvalKeyboard(signalId: string): object {
  return {
    inline_keyboard: [
      [
        { text: '✅ Approve', callback_data: callbackData('approve', signalId) },
        { text: '❌ Reject', callback_data: callbackData('reject', signalId) },
      ],
    ],
  };
}

/** `2025-10-25 14:30:45 UTC` */
export function formatTime(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

/** The message for a pending signal: producer, instrument, side, entry / SL / TP, confidence, reason. Plain text (no parse mode: nothing to escape). */
export function renderSignal(signal: SignalRecord, heading = '🔔 Approval needed'): string {
  let body: Record<string, unknown> = {};
  try {
    const parsed: unknown = JSON.parse(signal.body);
    if (isPlainObject(parsed)) body = parsed;
  } catch {
    // The stored body was verified JSON; a damaged one still gets a message, without the prices.
  }
  const value = (key: string) => {
    const v = body[key];
    return typeof v === 'number' || typeof v === 'string' ? String(v) : '–';
  };
  const reason = typeof body.reason === 'string' ? clip(body.reason, MAX_REASON) : '–';
  return [
    `${heading}: ${signal.instrument} ${signal.side.toUpperCase()}`,
    `Producer: ${signal.producerId}`,
    `Entry ${value('entry_price')} · SL ${value('stop_loss')} · TP ${value('take_profit')}`,
    `Confidence: ${value('confidence')}`,
    `Reason: ${reason}`,
    `Signal ${signal.id}, received ${formatTime(signal.receivedAt)}`,
  ].join('\n');
}

/** The line that replaces the buttons once `signal` is decided: what, who, when (and the reason of a rejection). */
export function renderDecision(signal: SignalRecord, channel: DecisionChannel | null): string {
  const verb =
    signal.status === 'approved'
      ? '✅ Approved'
      : signal.status === 'rejected'
        ? '❌ Rejected'
        : `⏳ ${signal.status}`;
  const by = signal.decidedBy ?? 'policy';
  const via = channel === null || channel === 'telegram' ? '' : ` via ${channel}`;
  const when = signal.decidedAt === null ? '' : ` at ${formatTime(signal.decidedAt)}`;
  const note =
    signal.message === null
      ? ''
      : `\n${signal.status === 'rejected' ? 'Reason' : 'Note'}: ${clip(signal.message, MAX_REASON)}`;
  return `${verb} by ${by}${via}${when}${note}`;
}

/** The whole text of a decided signal's message. */
export function renderDecided(signal: SignalRecord, channel: DecisionChannel | null): string {
  return clip(`${renderSignal(signal, 'Signal')}\n\n${renderDecision(signal, channel)}`, MAX_TEXT);
}

function clip(text: string, max: number): string {
  if (text.length <= max) return text;
  let cut = max - 1;
  const code = text.charCodeAt(cut - 1);
  if (code >= 0xd800 && code <= 0xdbff) cut -= 1;
  return `${text.slice(0, cut)}…`;
}
