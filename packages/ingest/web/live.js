// Live updates for the console, behind one small interface so the transport can change: today it polls
// the operator API every 2 s; the WebSocket stream (GET /api/v1/stream, which accepts the console's
// session cookie on the upgrade) replaces the polling inside this module only.
//
// watch({ onSignal, onStatus }) calls onSignal(view) for every signal seen for the first time or whose
// status changed (newest signals and every pending one, including a pending signal decided elsewhere),
// and onStatus('live' | 'retrying' | 'resumed' | 'signed-out', detail). Returns stop().

import { ApiError, getSignal, listSignals } from './api.js';

export const POLL_MS = 2000;

export function watch({ onSignal, onStatus, intervalMs = POLL_MS }) {
  const seen = new Map(); // signal_id -> status|decided_at
  const pending = new Set();
  let timer = null;
  let stopped = false;
  let failing = false;

  const emit = (view) => {
    const version = `${view.status}|${view.decided_at ?? ''}`;
    if (seen.get(view.signal_id) === version) return;
    seen.set(view.signal_id, version);
    if (view.status === 'pending_approval') pending.add(view.signal_id);
    else pending.delete(view.signal_id);
    onSignal(view);
  };

  async function poll() {
    try {
      const [latest, waiting] = await Promise.all([
        listSignals({ limit: '50' }),
        listSignals({ status: 'pending_approval', limit: '200' }),
      ]);
      const stillPending = new Set(waiting.items.map((v) => v.signal_id));
      // Pending signals that left the queue were decided elsewhere (CLI, another browser, Telegram).
      const left = [...pending].filter((id) => !stillPending.has(id));
      const decided = await Promise.all(left.map((id) => getSignal(id).catch(() => null)));
      for (const view of [...latest.items].reverse()) emit(view);
      for (const view of waiting.items) emit(view);
      for (const view of decided) if (view) emit(view);
      if (failing) onStatus?.('resumed', 'connection restored; the feed is up to date');
      else if (!timer) onStatus?.('live', 'live: checking every 2 s');
      failing = false;
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) {
        onStatus?.('signed-out', error.message);
        stopped = true;
        return;
      }
      failing = true;
      onStatus?.('retrying', `connection lost (${error.message}); retrying`);
    }
    if (!stopped) timer = setTimeout(poll, intervalMs);
  }

  poll();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
