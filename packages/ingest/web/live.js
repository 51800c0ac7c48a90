// Live updates for the console, on the WebSocket stream (GET /api/v1/stream, docs/stream.md),
// authenticated by the console's session cookie (same origin; the token is never in the page).
//
// watch({ onSignal, onStatus }) calls onSignal(view) for every signal seen for the first time or whose
// status moved on (a pending signal decided here, from the CLI, another browser or Telegram), with
// views shaped like the operator API's, and onStatus(state, detail) with state 'live' | 'retrying' |
// 'resumed' | 'signed-out'. Returns stop().
//
// On the first connection (and when the stream cannot be resumed: another database, or a resume
// point older than the retained history) the page loads the newest signals and every pending one from
// the operator API, after the stream said `ready`, so nothing committed in between is missed. On a
// lost connection it reconnects with backoff and `after=<last seq>`: the server replays exactly what
// was missed, once. There is no polling fallback: while the stream cannot be reached the page says so
// and keeps retrying.

import { ApiError, currentSession, listSignals } from './api.js';

export const STREAM_PATH = '/api/v1/stream';
/** Reconnect delays: 0.5 s doubling up to 15 s, with jitter. */
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 15_000;
/** Close codes after which reconnecting cannot help (docs/stream.md). */
const CLOSE_UNAUTHORIZED = 4401;
const CLOSE_REVOKED = 4403;
const CLOSE_CURSOR_EXPIRED = 4410;
const CLOSE_BAD_MESSAGE = 4400;

/**
 * The fields of a signal body (`SIGNAL_FIELDS` of @sigpost/protocol, copied: this file is served without
 * a build step; src/console/live.test.ts keeps the two equal). The stream sends each of them flat.
 */
export const SIGNAL_FIELDS = [
  'instrument',
  'side',
  'entry_price',
  'stop_loss',
  'take_profit',
  'confidence',
  'reason',
  'timestamp',
  'payload',
];

/** A stream event's flat `signal` as the operator API's view (`signal` holds the producer's body fields). */
export function eventView(event) {
  const s = event.signal;
  const body = {};
  for (const name of SIGNAL_FIELDS) if (s[name] !== null && s[name] !== undefined) body[name] = s[name];
  return {
    signal_id: s.signal_id,
    producer_id: s.producer_id,
    idempotency_key: s.idempotency_key ?? null,
    instrument: s.instrument,
    side: s.side,
    status: s.status,
    message: s.message ?? null,
    received_at: s.received_at,
    decided_at: s.decided_at ?? null,
    decided_by: s.decided_by ?? null,
    decision_channel: s.decision_channel ?? null,
    signal: body,
  };
}

/** A decision is final: a view never goes back from approved/rejected to pending. */
const rank = (status) => (status === 'approved' || status === 'rejected' ? 1 : 0);

export function watch({ onSignal, onStatus }) {
  const seen = new Map(); // signal_id -> { rank, version }
  let socket = null;
  let timer = null;
  let stopped = false;
  let epoch = null;
  let lastSeq = null; // seq of the last event applied (or the head at `ready`): the resume point
  let attempt = 0;
  let lost = false; // a connection was lost since the feed was last live
  let resync = true; // load a snapshot from the operator API at the next `ready`

  const emit = (view) => {
    const before = seen.get(view.signal_id);
    const version = `${view.status}|${view.decided_at ?? ''}`;
    if (before && (before.rank > rank(view.status) || before.version === version)) return;
    seen.set(view.signal_id, { rank: rank(view.status), version });
    onSignal(view);
  };

  const signedOut = (detail) => {
    stopped = true;
    socket?.close();
    onStatus?.('signed-out', detail);
  };

  async function snapshot() {
    const [latest, waiting] = await Promise.all([
      listSignals({ limit: '50' }),
      listSignals({ status: 'pending_approval', limit: '200' }),
    ]);
    for (const view of [...latest.items].reverse()) emit(view);
    for (const view of waiting.items) emit(view);
  }

  function connect() {
    if (stopped) return;
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const query = lastSeq === null || resync ? '' : `?after=${lastSeq}`;
    const resumedFrom = query ? lastSeq : null;
    const ws = new WebSocket(`${scheme}://${location.host}${STREAM_PATH}${query}`);
    socket = ws;
    let opened = false;
    ws.onopen = () => {
      opened = true;
    };
    ws.onmessage = (message) => {
      if (stopped || socket !== ws) return;
      let frame;
      try {
        frame = JSON.parse(message.data);
      } catch {
        return;
      }
      if (frame.type === 'hello') {
        if (epoch !== null && frame.epoch !== epoch && !resync) {
          // Another database: its seqs mean nothing here. Start again from a snapshot.
          resync = true;
          ws.close();
          return;
        }
        epoch = frame.epoch;
      } else if (frame.type === 'ready') {
        if (lastSeq === null || resync) lastSeq = frame.head;
        attempt = 0;
        if (resync) {
          resync = false;
          snapshot().then(
            () => live(resumedFrom),
            (error) => {
              if (error instanceof ApiError && error.status === 401) signedOut(error.message);
              else {
                resync = true;
                ws.close();
              }
            },
          );
        } else live(resumedFrom);
      } else if (typeof frame.seq === 'number' && frame.signal) {
        if (lastSeq !== null && frame.seq <= lastSeq) return; // never applied twice
        lastSeq = frame.seq;
        emit(eventView(frame));
      }
    };
    ws.onclose = (event) => {
      if (stopped || socket !== ws) return;
      socket = null;
      if (event.code === CLOSE_UNAUTHORIZED || event.code === CLOSE_REVOKED) {
        signedOut('your console session has ended (signed out, expired or its token revoked); sign in again');
        return;
      }
      if (event.code === CLOSE_CURSOR_EXPIRED || event.code === CLOSE_BAD_MESSAGE) resync = true;
      lost = true;
      const delay = Math.round(
        Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** attempt) * (0.5 + Math.random() / 2),
      );
      attempt += 1;
      const seqText = lastSeq === null ? '' : ` after seq ${lastSeq}`;
      onStatus?.('retrying', `connection lost${seqText}; reconnecting in ${Math.ceil(delay / 1000)} s`);
      timer = setTimeout(() => {
        // An upgrade refused before opening (401 when the session ended) reaches the page only as a
        // close: ask the server who is signed in before trying again.
        if (!opened) {
          currentSession().then(
            (session) => (session.signed_in ? connect() : signedOut(session.detail ?? 'you are signed out')),
            () => connect(),
          );
        } else connect();
      }, delay);
    };
  }

  function live(resumedFrom) {
    if (stopped) return;
    if (lost) {
      onStatus?.(
        'resumed',
        resumedFrom === null
          ? 'connection restored; the feed was reloaded'
          : `connection restored (resumed after seq ${resumedFrom}); nothing was missed`,
      );
    } else onStatus?.('live', 'live: signals appear as they are accepted');
    lost = false;
  }

  connect();
  return () => {
    stopped = true;
    clearTimeout(timer);
    socket?.close();
  };
}
