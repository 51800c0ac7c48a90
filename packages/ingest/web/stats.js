// The Stats view: readings of the server's own metrics every 5 s, turned into per-minute rates and
// per-interval latency percentiles, drawn as small SVG line charts (no chart library needed).
import { getStats } from './api.js';
import { html, useEffect, useState } from './vendor/preact-htm.js';

export const STATS_POLL_MS = 5000;
const KEEP = 360; // 30 min of readings

/** The q-quantile (0–1) of a histogram given as cumulative counts per upper bound, like PromQL's histogram_quantile. */
export function quantile(q, buckets, total) {
  if (!total) return null;
  const rank = q * total;
  let previousLe = 0;
  let previousCount = 0;
  for (const { le, count } of buckets) {
    if (count >= rank) {
      const inBucket = count - previousCount;
      return inBucket <= 0 ? le : previousLe + ((le - previousLe) * (rank - previousCount)) / inBucket;
    }
    previousLe = le;
    previousCount = count;
  }
  return previousLe; // beyond the last finite bucket: report its bound
}

/** Differences of two readings: rates per minute, latency percentiles over the interval. */
function interval(a, b) {
  const minutes = (b.at - a.at) / 60000;
  const rate = (name) => Math.max(0, ((b.ingest[name] ?? 0) - (a.ingest[name] ?? 0)) / minutes);
  const deltas = b.latency.buckets.map((bucket, i) => ({
    le: bucket.le,
    count: bucket.count - (a.latency.buckets[i]?.count ?? 0),
  }));
  const total = b.latency.count - a.latency.count;
  return {
    at: b.at,
    accepted: rate('accepted'),
    refused: rate('refused'),
    replayed: rate('replayed'),
    error: rate('error'),
    p50: quantile(0.5, deltas, total),
    p99: quantile(0.99, deltas, total),
  };
}

function LineChart({ title, unit, series, format = (v) => v.toFixed(1) }) {
  const W = 600;
  const H = 160;
  const L = 48;
  const points = series.flatMap((s) => s.points.filter((p) => p[1] !== null));
  if (points.length === 0)
    return html`<figure class="chart"><figcaption>${title}</figcaption><p class="empty">No data yet.</p></figure>`;
  const t0 = Math.min(...points.map((p) => p[0]));
  const t1 = Math.max(...points.map((p) => p[0]), t0 + 1);
  const max = Math.max(...points.map((p) => p[1]), 1e-9);
  const x = (t) => L + ((t - t0) / (t1 - t0)) * (W - L - 8);
  const y = (v) => H - 16 - (v / max) * (H - 28);
  const path = (s) =>
    s.points
      .filter((p) => p[1] !== null)
      .map((p, i) => `${i === 0 ? 'M' : 'L'}${x(p[0]).toFixed(1)} ${y(p[1]).toFixed(1)}`)
      .join(' ');
  const latest = series.map((s) => {
    const last = [...s.points].reverse().find((p) => p[1] !== null);
    return `${s.name} ${last ? format(last[1]) : '—'} ${unit}`;
  });
  return html`
    <figure class="chart">
      <figcaption>${title}</figcaption>
      <svg viewBox="0 0 ${W} ${H}" role="img" aria-label="${title}: latest ${latest.join(', ')}">
        <line class="axis" x1=${L} y1=${y(0)} x2=${W - 8} y2=${y(0)} />
        <line class="grid" x1=${L} y1=${y(max)} x2=${W - 8} y2=${y(max)} />
        <text class="tick" x=${L - 4} y=${y(max) + 4} text-anchor="end">${format(max)}</text>
        <text class="tick" x=${L - 4} y=${y(0) + 4} text-anchor="end">0</text>
        ${series.map((s) => html`<path class="line ${s.cls}" d=${path(s)} />`)}
        ${series.map((s) =>
          s.points
            .filter((p) => p[1] !== null)
            .slice(-60)
            .map(
              (p) =>
                html`<circle class="dot ${s.cls}" cx=${x(p[0]).toFixed(1)} cy=${y(p[1]).toFixed(1)} r="2.5" />`,
            ),
        )}
      </svg>
      <ul class="legend">${series.map((s, i) => html`<li><span class="swatch ${s.cls}"></span>${latest[i]}</li>`)}</ul>
    </figure>
  `;
}

export function Stats({ onError }) {
  const [readings, setReadings] = useState([]);
  useEffect(() => {
    let timer = null;
    let stopped = false;
    const poll = async () => {
      try {
        const reading = await getStats();
        setReadings((previous) => [...previous, reading].slice(-KEEP));
      } catch (error) {
        onError(error);
      }
      if (!stopped) timer = setTimeout(poll, STATS_POLL_MS);
    };
    poll();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, []);
  const last = readings.at(-1);
  if (!last) return html`<p role="status">Loading…</p>`;
  const intervals = readings.slice(1).map((b, i) => interval(readings[i], b));
  const pts = (name, scale = 1) => intervals.map((r) => [r.at, r[name] === null ? null : r[name] * scale]);
  const first = readings[0];
  const problems = Object.keys(last.refusals).sort((a, b) => last.refusals[b] - last.refusals[a]);
  return html`
    <p class="help">From the server's own metrics, read every ${STATS_POLL_MS / 1000} s while this page is open; rates and percentiles are per interval.</p>
    <section aria-labelledby="counts-title">
      <h2 id="counts-title">Stored signals by status</h2>
      <dl class="facts wide" data-testid="status-counts">
        <div><dt>Received</dt><dd>${last.signals.received}</dd></div>
        <div><dt>Pending approval</dt><dd>${last.signals.pending_approval}</dd></div>
        <div><dt>Approved</dt><dd>${last.signals.approved}</dd></div>
        <div><dt>Rejected</dt><dd>${last.signals.rejected}</dd></div>
      </dl>
    </section>
    ${
      intervals.length === 0
        ? html`<p role="status">Collecting a second reading…</p>`
        : html`<div class="charts">
          <${LineChart}
            title="Ingest requests per minute"
            unit="/min"
            series=${[
              { name: 'accepted', cls: 's-accepted', points: pts('accepted') },
              { name: 'refused', cls: 's-refused', points: pts('refused') },
              { name: 'replayed', cls: 's-replayed', points: pts('replayed') },
            ]}
          />
          <${LineChart}
            title="Ingest latency (accepted)"
            unit="ms"
            format=${(v) => v.toFixed(v < 10 ? 2 : 0)}
            series=${[
              { name: 'p50', cls: 's-p50', points: pts('p50', 1000) },
              { name: 'p99', cls: 's-p99', points: pts('p99', 1000) },
            ]}
          />
        </div>`
    }
    <section aria-labelledby="refusals-title">
      <h2 id="refusals-title">Refusals by problem type</h2>
      ${
        problems.length === 0
          ? html`<p class="empty">No refused ingest requests since the server started.</p>`
          : html`<div class="table-wrap"><table data-testid="refusals">
            <thead><tr><th scope="col">Problem type</th><th scope="col">While this page is open</th><th scope="col">Since the server started</th></tr></thead>
            <tbody>${problems.map(
              (p) =>
                html`<tr><td><code>${p}</code></td><td>${last.refusals[p] - (first.refusals[p] ?? 0)}</td><td>${last.refusals[p]}</td></tr>`,
            )}</tbody>
          </table></div>`
      }
    </section>
  `;
}
