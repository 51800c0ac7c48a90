// The Sigpost operator console: preact + htm (vendored, served by the server), no build step.
import {
  ApiError,
  approve,
  currentSession,
  getSignal,
  getSignalEvents,
  getSignalRecord,
  listProducers,
  listSignals,
  reject,
  signIn,
  signOut,
} from './api.js';
import { eventView, watch } from './live.js';
import { Stats } from './stats.js';
import { html, render, useEffect, useRef, useState } from './vendor/preact-htm.js';

const BASE = '/console';
/** Signals the Pending & live view keeps in memory (pending ones are always kept). */
const KEEP_SIGNALS = 500;
const STATUSES = ['received', 'pending_approval', 'approved', 'rejected'];
const STATUS_LABEL = {
  received: 'Received',
  pending_approval: 'Pending approval',
  approved: 'Approved',
  rejected: 'Rejected',
};

// ---- routing: the view comes from the URL, filters live in its query string ----

function currentRoute() {
  const path = location.pathname.replace(/\/+$/, '') || BASE;
  const rest = path.startsWith(BASE) ? path.slice(BASE.length) : '';
  const detail = /^\/signals\/([^/]+)$/.exec(rest);
  if (detail) return { view: 'detail', id: decodeURIComponent(detail[1]) };
  if (rest === '/signals') return { view: 'signals', query: new URLSearchParams(location.search) };
  if (rest === '/producers') return { view: 'producers' };
  if (rest === '/stats') return { view: 'stats' };
  if (rest === '/sign-in') return { view: 'sign-in' };
  return { view: 'queue' };
}

function navigate(url) {
  history.pushState(null, '', url);
  dispatchEvent(new PopStateEvent('popstate'));
}

/** An in-app link: a real <a href> (so it opens in a new tab too) that navigates without reloading. */
function Link({ href, children, ...rest }) {
  const onClick = (event) => {
    if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    navigate(href);
  };
  return html`<a href=${href} onClick=${onClick} ...${rest}>${children}</a>`;
}

// ---- formatting ----

function age(iso, now) {
  const seconds = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (seconds < 60) return `${seconds} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ${Math.floor((seconds % 3600) / 60)} min`;
  return `${Math.floor(seconds / 86400)} d`;
}

const time = (iso) => (iso ? new Date(iso).toLocaleString() : '—');
const num = (value) => (value === undefined || value === null ? '—' : String(value));
const field = (view, name) =>
  view.signal && typeof view.signal === 'object' ? view.signal[name] : undefined;

/** The server's problem detail (or the error's message) as a sentence. */
function problemText(error) {
  const text = error instanceof Error ? error.message : String(error);
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** "Approved by operator:alice at 14:31:02" for a decided signal. */
function decisionText(view, withTime = true) {
  if (view.status === 'pending_approval' || view.status === 'received') return null;
  const verb = view.status === 'approved' ? 'Approved' : 'Rejected';
  const by = view.decided_by ? ` by ${view.decided_by}` : '';
  const at = view.decided_at && withTime ? ` at ${time(view.decided_at)}` : '';
  return `${verb}${by}${at}${view.message ? `: ${view.message}` : ''}`;
}

function useNow(ms = 1000) {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const id = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(id);
  }, [ms]);
  return now;
}

// ---- sign in ----

function SignIn({ onSignedIn, notice }) {
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const input = useRef(null);
  useEffect(() => input.current?.focus(), []);
  const submit = async (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    const token = form.elements.token.value;
    setBusy(true);
    setError(null);
    try {
      const session = await signIn(token);
      form.reset();
      onSignedIn(session);
    } catch (e) {
      setError(problemText(e));
      input.current?.focus();
    } finally {
      setBusy(false);
    }
  };
  return html`
    <main class="page sign-in" id="main">
      <h1>Sigpost console</h1>
      ${notice ? html`<p class="notice" role="status">${notice}</p>` : null}
      <form onSubmit=${submit} method="post" action="${BASE}/session" autocomplete="off">
        <label for="token">Operator token</label>
        <input
          id="token"
          name="token"
          type="password"
          required
          spellcheck="false"
          autocapitalize="off"
          placeholder="sgp_…"
          aria-describedby="token-help${error ? ' token-error' : ''}"
          aria-invalid=${error ? 'true' : 'false'}
          ref=${input}
        />
        <p id="token-help" class="help">
          A token from <code>sigpost tokens create --name NAME</code>. It is sent once to sign in and is not kept
          by this page.
        </p>
        ${error ? html`<p id="token-error" class="error" role="alert">${error}</p>` : null}
        <button type="submit" disabled=${busy}>${busy ? 'Signing in…' : 'Sign in'}</button>
      </form>
    </main>
  `;
}

// ---- shell ----

function Shell({ session, route, onSignOut, children }) {
  const heading = useRef(null);
  useEffect(() => heading.current?.focus(), [route.view, route.id]);
  const nav = [
    { href: BASE, label: 'Pending & live', view: 'queue' },
    { href: `${BASE}/signals`, label: 'Signals', view: 'signals' },
    { href: `${BASE}/producers`, label: 'Producers', view: 'producers' },
    { href: `${BASE}/stats`, label: 'Stats', view: 'stats' },
  ];
  const titles = {
    queue: 'Pending & live',
    signals: 'Signals',
    producers: 'Producers',
    stats: 'Stats',
    detail: 'Signal',
  };
  return html`
    <a class="skip" href="#main">Skip to content</a>
    <header class="top">
      <span class="brand">Sigpost</span>
      <nav aria-label="Console">
        <ul>
          ${nav.map(
            (item) =>
              html`<li><${Link} href=${item.href} aria-current=${route.view === item.view ? 'page' : undefined}
                >${item.label}</${Link}></li>`,
          )}
        </ul>
      </nav>
      <span class="who" data-testid="operator">Signed in as <strong>${session.operator}</strong></span>
      <button type="button" class="secondary" onClick=${onSignOut}>Sign out</button>
    </header>
    <main class="page" id="main">
      <h1 tabindex="-1" ref=${heading}>${titles[route.view] ?? 'Console'}</h1>
      ${children}
    </main>
  `;
}

// ---- pending queue and live feed ----

function RejectForm({ onConfirm, onCancel, busy, id }) {
  const input = useRef(null);
  useEffect(() => input.current?.focus(), []);
  const submit = (event) => {
    event.preventDefault();
    const reason = event.currentTarget.elements.reason.value.trim();
    if (reason) onConfirm(reason);
  };
  const onKeyDown = (event) => {
    if (event.key === 'Escape') onCancel();
  };
  return html`
    <form class="reject-form" onSubmit=${submit} onKeyDown=${onKeyDown}>
      <label for="reason-${id}">Reason for rejecting</label>
      <input id="reason-${id}" name="reason" required maxlength="500" ref=${input} />
      <div class="actions">
        <button type="submit" class="danger" disabled=${busy}>Confirm reject</button>
        <button type="button" class="secondary" onClick=${onCancel}>Cancel</button>
      </div>
    </form>
  `;
}

function PendingCard({ view, now, onDecided }) {
  const [rejecting, setRejecting] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const rejectButton = useRef(null);
  const cancelled = useRef(false);
  // Cancelling the reason puts the focus back on the Reject button (keyboard users stay in place).
  useEffect(() => {
    if (!rejecting && cancelled.current) {
      cancelled.current = false;
      rejectButton.current?.focus();
    }
  }, [rejecting]);
  const pending = view.status === 'pending_approval';
  const decide = async (step) => {
    setBusy(true);
    setError(null);
    try {
      onDecided(await step());
      setRejecting(false);
    } catch (e) {
      setError(problemText(e));
      if (e instanceof ApiError && e.status === 409) getSignal(view.signal_id).then(onDecided, () => {});
    } finally {
      setBusy(false);
    }
  };
  const label = `${view.instrument} ${view.side} from ${view.producer_id}`;
  return html`
    <li class="card ${pending ? 'pending' : `decided ${view.status}`}" data-signal-id=${view.signal_id}>
      <article aria-label=${label}>
        <header>
          <strong class="instrument">${view.instrument}</strong>
          <span class="side ${view.side}">${view.side}</span>
          <span class="badge ${view.status}">${STATUS_LABEL[view.status]}</span>
        </header>
        <dl class="facts">
          <div><dt>Producer</dt><dd>${view.producer_id}</dd></div>
          <div><dt>Entry</dt><dd>${num(field(view, 'entry_price'))}</dd></div>
          <div><dt>Stop-loss</dt><dd>${num(field(view, 'stop_loss'))}</dd></div>
          <div><dt>Take-profit</dt><dd>${num(field(view, 'take_profit'))}</dd></div>
          <div><dt>Confidence</dt><dd>${num(field(view, 'confidence'))}</dd></div>
          <div><dt>Age</dt><dd><time datetime=${view.received_at}>${age(view.received_at, now)}</time></dd></div>
        </dl>
        ${field(view, 'reason') ? html`<p class="reason">${field(view, 'reason')}</p>` : null}
        ${
          pending
            ? rejecting
              ? html`<${RejectForm}
                id=${view.signal_id}
                busy=${busy}
                onCancel=${() => {
                  cancelled.current = true;
                  setRejecting(false);
                }}
                onConfirm=${(reason) => decide(() => reject(view.signal_id, reason))}
              />`
              : html`<div class="actions">
                <button type="button" disabled=${busy} aria-label="Approve ${label}"
                  onClick=${() => decide(() => approve(view.signal_id))}>Approve</button>
                <button type="button" class="danger" disabled=${busy} aria-label="Reject ${label}"
                  ref=${rejectButton} onClick=${() => setRejecting(true)}>Reject</button>
              </div>`
            : html`<p class="decision" role="status">${decisionText(view)}</p>`
        }
        ${error ? html`<p class="error" role="alert">${error}</p>` : null}
        <p class="more"><${Link} href="${BASE}/signals/${encodeURIComponent(view.signal_id)}">Details<span class="visually-hidden"> of ${label}</span></${Link}></p>
      </article>
    </li>
  `;
}

function Queue({ onSignedOut }) {
  const [signals, setSignals] = useState(() => new Map());
  const [status, setStatus] = useState({ state: 'connecting', detail: 'connecting…' });
  const now = useNow();
  useEffect(
    () =>
      watch({
        onSignal: (view) =>
          setSignals((previous) => {
            const pendingSeen =
              previous.get(view.signal_id)?._pendingSeen || view.status === 'pending_approval';
            const next = new Map(previous).set(view.signal_id, { ...view, _pendingSeen: pendingSeen });
            // Bounded over a long session: past KEEP_SIGNALS, forget the oldest that need no decision.
            if (next.size > KEEP_SIGNALS) {
              const idle = [...next.values()]
                .filter((v) => v.status !== 'pending_approval')
                .sort((x, y) => x.received_at.localeCompare(y.received_at));
              for (const v of idle.slice(0, next.size - KEEP_SIGNALS)) next.delete(v.signal_id);
            }
            return next;
          }),
        onStatus: (state, detail) => {
          if (state === 'signed-out') onSignedOut(detail);
          else setStatus({ state, detail });
        },
      }),
    [],
  );
  const update = (view) =>
    setSignals((previous) =>
      new Map(previous).set(view.signal_id, { ...previous.get(view.signal_id), ...view }),
    );
  const all = [...signals.values()].sort((a, b) => b.received_at.localeCompare(a.received_at));
  // The queue: pending signals, and those that were pending here and got decided (kept, without buttons).
  const queue = all.filter((v) => v.status === 'pending_approval' || v._pendingSeen).reverse();
  return html`
    <p class="live ${status.state}" role="status" aria-live="polite" data-testid="live-status">${status.detail}</p>
    <section aria-labelledby="queue-title">
      <h2 id="queue-title">Pending approval <span class="count">(${queue.filter((v) => v.status === 'pending_approval').length})</span></h2>
      ${
        queue.length === 0
          ? html`<p class="empty">Nothing waiting for a decision.</p>`
          : html`<ul class="cards" data-testid="queue">${queue.map(
              (view) =>
                html`<${PendingCard} key=${view.signal_id} view=${view} now=${now} onDecided=${update} />`,
            )}</ul>`
      }
    </section>
    <section aria-labelledby="feed-title">
      <h2 id="feed-title">Live feed</h2>
      <${SignalTable} items=${all.slice(0, 50)} now=${now} testid="feed" caption="Newest signals first" />
    </section>
  `;
}

function SignalTable({ items, now, testid, caption }) {
  if (items.length === 0) return html`<p class="empty">No signals.</p>`;
  return html`
    <div class="table-wrap" tabindex="0" role="region" aria-label=${caption}>
      <table data-testid=${testid}>
        <caption class="visually-hidden">${caption}</caption>
        <thead>
          <tr><th scope="col">Received</th><th scope="col">Producer</th><th scope="col">Instrument</th>
            <th scope="col">Side</th><th scope="col">Status</th><th scope="col">Signal</th></tr>
        </thead>
        <tbody>
          ${items.map(
            (v) => html`<tr key=${v.signal_id} data-signal-id=${v.signal_id}>
              <td><time datetime=${v.received_at} title=${time(v.received_at)}>${now ? `${age(v.received_at, now)} ago` : time(v.received_at)}</time></td>
              <td>${v.producer_id}</td>
              <td>${v.instrument}</td>
              <td><span class="side ${v.side}">${v.side}</span></td>
              <td><span class="badge ${v.status}">${STATUS_LABEL[v.status]}</span></td>
              <td><${Link} href="${BASE}/signals/${encodeURIComponent(v.signal_id)}">${v.signal_id}</${Link}></td>
            </tr>`,
          )}
        </tbody>
      </table>
    </div>
  `;
}

// ---- signal list with filters in the URL ----

/** ISO instant → the value of a datetime-local input (local time), and back. */
function toLocalInput(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}
const fromLocalInput = (value) => (value ? new Date(value).toISOString() : '');

const FILTERS = ['status', 'producer', 'instrument', 'from', 'to'];

function Signals({ query }) {
  const filters = Object.fromEntries(FILTERS.map((k) => [k, query.get(k) ?? '']));
  const key = FILTERS.map((k) => filters[k]).join('\n');
  const [page, setPage] = useState({ items: [], next: null, loading: true, error: null });
  useEffect(() => {
    let cancelled = false;
    setPage({ items: [], next: null, loading: true, error: null });
    listSignals(filters).then(
      (result) =>
        !cancelled && setPage({ items: result.items, next: result.next_cursor, loading: false, error: null }),
      (error) => !cancelled && setPage({ items: [], next: null, loading: false, error: problemText(error) }),
    );
    return () => {
      cancelled = true;
    };
  }, [key]);
  const submit = (event) => {
    event.preventDefault();
    const form = event.currentTarget.elements;
    const next = new URLSearchParams();
    for (const k of ['status', 'producer', 'instrument'])
      if (form[k].value.trim()) next.set(k, form[k].value.trim());
    for (const k of ['from', 'to']) if (form[k].value) next.set(k, fromLocalInput(form[k].value));
    const qs = next.toString();
    navigate(`${BASE}/signals${qs ? `?${qs}` : ''}`);
  };
  const more = async () => {
    try {
      const result = await listSignals({ ...filters, cursor: page.next });
      setPage({ ...page, items: [...page.items, ...result.items], next: result.next_cursor });
    } catch (error) {
      setPage({ ...page, error: problemText(error) });
    }
  };
  return html`
    <form class="filters" onSubmit=${submit} key=${key} aria-label="Filter signals">
      <div>
        <label for="f-status">Status</label>
        <select id="f-status" name="status" value=${filters.status}>
          <option value="">Any</option>
          ${STATUSES.map((s) => html`<option value=${s} selected=${filters.status === s}>${STATUS_LABEL[s]}</option>`)}
        </select>
      </div>
      <div><label for="f-producer">Producer</label><input id="f-producer" name="producer" value=${filters.producer} /></div>
      <div><label for="f-instrument">Instrument</label><input id="f-instrument" name="instrument" value=${filters.instrument} /></div>
      <div><label for="f-from">Received from</label><input id="f-from" name="from" type="datetime-local" value=${toLocalInput(filters.from)} /></div>
      <div><label for="f-to">Received before</label><input id="f-to" name="to" type="datetime-local" value=${toLocalInput(filters.to)} /></div>
      <div class="actions">
        <button type="submit">Apply filters</button>
        <${Link} href="${BASE}/signals" class="button secondary">Clear</${Link}>
      </div>
    </form>
    ${page.error ? html`<p class="error" role="alert">${page.error}</p>` : null}
    ${
      page.loading
        ? html`<p role="status">Loading…</p>`
        : html`<${SignalTable} items=${page.items} testid="signals" caption="Signals matching the filters" />`
    }
    ${page.next ? html`<button type="button" class="secondary" onClick=${more}>Load older signals</button>` : null}
  `;
}

// ---- signal detail ----

function Detail({ id }) {
  const [state, setState] = useState({ view: null, record: null, events: [], error: null });
  useEffect(() => {
    Promise.all([getSignal(id), getSignalRecord(id), getSignalEvents(id)]).then(
      ([view, record, events]) => setState({ view, record, events: events.items, error: null }),
      (error) => setState({ view: null, record: null, events: [], error: problemText(error) }),
    );
  }, [id]);
  if (state.error) return html`<p class="error" role="alert">${state.error}</p>`;
  if (!state.view) return html`<p role="status">Loading…</p>`;
  const { view, record, events } = state;
  let accepted = null;
  try {
    accepted = record.response ? JSON.parse(record.response.body).status : null;
  } catch {
    accepted = null;
  }
  const received = `Received from ${view.producer_id}${accepted ? `, answered ${record.response.status} ${STATUS_LABEL[accepted] ?? accepted}` : ''}`;
  // The history is the signal's stream events (type, time, actor, channel); a signal whose events
  // were purged by retention shows what the signal itself records.
  const history = events.map((event, i) => {
    const s = event.signal;
    const decision = s.decision_channel !== null;
    return {
      at: event.at,
      type: event.type,
      what: decision
        ? decisionText(eventView(event), false)
        : `${i === 0 ? received : `Received from ${s.producer_id}`}${s.status === 'rejected' && s.message ? `: ${s.message}` : ''}`,
      actor: decision ? s.decided_by : `producer ${s.producer_id}`,
      channel: decision ? s.decision_channel : 'ingest',
    };
  });
  if (history.length === 0) {
    history.push({ at: view.received_at, what: received });
    if (view.decided_at) history.push({ at: view.decided_at, what: decisionText(view, false) });
  }
  if (view.status === 'pending_approval')
    history.push({ at: null, what: `Status now: ${STATUS_LABEL[view.status]}` });
  let response = null;
  if (record.response) {
    try {
      response = JSON.stringify(JSON.parse(record.response.body), null, 2);
    } catch {
      response = record.response.body;
    }
  }
  return html`
    <p class="subtitle"><code>${view.signal_id}</code> <span class="badge ${view.status}">${STATUS_LABEL[view.status]}</span></p>
    <dl class="facts wide">
      <div><dt>Producer</dt><dd>${view.producer_id}</dd></div>
      <div><dt>Instrument</dt><dd>${view.instrument}</dd></div>
      <div><dt>Side</dt><dd>${view.side}</dd></div>
      <div><dt>Received</dt><dd>${time(view.received_at)}</dd></div>
      <div><dt>Idempotency key</dt><dd>${view.idempotency_key ?? '—'}</dd></div>
    </dl>
    <section aria-labelledby="history-title">
      <h2 id="history-title">History</h2>
      <ol class="history" data-testid="history">
        ${history.map(
          (h) =>
            html`<li data-event-type=${h.type}>${h.at ? html`<time datetime=${h.at}>${time(h.at)}</time> ` : null}${h.type ? html`<code class="event-type">${h.type}</code> ` : null}${h.what}${
              h.actor ? html` <span class="event-meta">(by ${h.actor}, via ${h.channel})</span>` : null
            }</li>`,
        )}
      </ol>
    </section>
    <section aria-labelledby="raw-title">
      <h2 id="raw-title">Raw signed body</h2>
      <pre tabindex="0" data-testid="raw-body">${record.raw_body}</pre>
    </section>
    <section aria-labelledby="response-title">
      <h2 id="response-title">Answer the producer got</h2>
      ${
        response
          ? html`<p>HTTP ${record.response.status}</p><pre tabindex="0" data-testid="response">${response}</pre>`
          : html`<p>${record.response_note}</p>`
      }
    </section>
  `;
}

// ---- producers ----

function Producers() {
  const [state, setState] = useState({ items: null, error: null });
  useEffect(() => {
    listProducers().then(
      (r) => setState({ items: r.items, error: null }),
      (e) => setState({ items: null, error: problemText(e) }),
    );
  }, []);
  if (state.error) return html`<p class="error" role="alert">${state.error}</p>`;
  if (!state.items) return html`<p role="status">Loading…</p>`;
  return html`
    <div class="table-wrap" tabindex="0" role="region" aria-label="Producers">
      <table data-testid="producers">
        <thead><tr><th scope="col">Producer</th><th scope="col">Approval</th><th scope="col">Allowed instruments</th>
          <th scope="col">Secret ids</th><th scope="col">Created</th></tr></thead>
        <tbody>
          ${state.items.map(
            (p) => html`<tr key=${p.producer_id}>
              <td>${p.producer_id}</td>
              <td>${p.approval === 'manual' ? 'Manual (operator approves)' : 'Automatic'}</td>
              <td>${p.instruments ? p.instruments.join(', ') : 'Any'}</td>
              <td>${p.secrets.map((s) => html`<code class="secret-id" title="created ${time(s.created_at)}">${s.secret_id}</code> `)}</td>
              <td>${time(p.created_at)}</td>
            </tr>`,
          )}
        </tbody>
      </table>
    </div>
  `;
}

// ---- the app ----

function App() {
  const [route, setRoute] = useState(currentRoute());
  const [session, setSession] = useState(undefined);
  const [notice, setNotice] = useState(null);
  useEffect(() => {
    const onPop = () => setRoute(currentRoute());
    addEventListener('popstate', onPop);
    currentSession().then(
      (s) => {
        if (!s.signed_in && s.detail) setNotice(s.detail);
        setSession(s.signed_in ? s : null);
      },
      (e) => {
        setNotice(problemText(e));
        setSession(null);
      },
    );
    return () => removeEventListener('popstate', onPop);
  }, []);
  if (session === undefined) return html`<main class="page"><p role="status">Loading…</p></main>`;
  if (session === null || route.view === 'sign-in') {
    return html`<${SignIn}
      notice=${notice}
      onSignedIn=${(s) => {
        setNotice(null);
        setSession(s);
        if (route.view === 'sign-in') navigate(BASE);
      }}
    />`;
  }
  const onSignedOut = (detail) => {
    setNotice(detail);
    setSession(null);
  };
  const doSignOut = async () => {
    try {
      await signOut();
    } finally {
      setNotice('You are signed out.');
      setSession(null);
    }
  };
  let body;
  if (route.view === 'signals') body = html`<${Signals} query=${route.query} />`;
  else if (route.view === 'detail') body = html`<${Detail} id=${route.id} />`;
  else if (route.view === 'producers') body = html`<${Producers} />`;
  else if (route.view === 'stats') {
    const onError = (e) => e instanceof ApiError && e.status === 401 && onSignedOut(e.message);
    body = html`<${Stats} onError=${onError} />`;
  } else body = html`<${Queue} onSignedOut=${onSignedOut} />`;
  return html`<${Shell} session=${session} route=${route} onSignOut=${doSignOut}>${body}</${Shell}>`;
}

render(html`<${App} />`, document.getElementById('app'));
