/**
 * RFC 3339 timestamps as wire protocol v1 uses them.
 *
 * The SDK always writes UTC with microseconds and `Z` (`2025-10-25T14:30:45.123456Z`); readers accept
 * any RFC 3339 date-time, including numeric offsets and 0–9 fraction digits.
 */

const RFC3339 =
  /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;

const pad = (n: number, width: number): string => String(n).padStart(width, '0');

/**
 * Formats an instant as `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
 * @param epochMs milliseconds since the epoch; a fractional part gives the microseconds.
 */
export function formatTimestamp(epochMs: number | Date): string {
  const ms = typeof epochMs === 'number' ? epochMs : epochMs.getTime();
  if (!Number.isFinite(ms)) throw new RangeError(`Expected a finite time, received ${String(ms)}`);
  const wholeMs = Math.floor(ms);
  let micros = Math.round((ms - wholeMs) * 1000);
  let base = wholeMs;
  if (micros === 1000) {
    base += 1;
    micros = 0;
  }
  const d = new Date(base);
  const year = d.getUTCFullYear();
  if (year < 0 || year > 9999) throw new RangeError(`Expected a year in 0000–9999, received ${year}`);
  return (
    `${pad(year, 4)}-${pad(d.getUTCMonth() + 1, 2)}-${pad(d.getUTCDate(), 2)}` +
    `T${pad(d.getUTCHours(), 2)}:${pad(d.getUTCMinutes(), 2)}:${pad(d.getUTCSeconds(), 2)}` +
    `.${pad(d.getUTCMilliseconds() * 1000 + micros, 6)}Z`
  );
}

/**
 * The wall clock in ms since the epoch, with a sub-millisecond fraction.
 *
 * `performance.timeOrigin + performance.now()` alone is monotonic: it misses clock steps (NTP) and time
 * spent suspended, so in a long-lived process it drifts away from the wall clock, and a server with a
 * ±300 s window then refuses every request. Its fraction is kept only while it agrees with `Date.now()`.
 *
 * @example
 * formatTimestamp(nowMs()); // '2025-10-25T14:30:45.123456Z'
 */
export function nowMs(): number {
  const wall = Date.now();
  const precise = performance.timeOrigin + performance.now();
  return precise > wall - 1 && precise < wall + 2 ? precise : wall + (precise % 1);
}

/** The current time with microseconds, as `formatTimestamp` writes it. */
export function currentTimestamp(): string {
  return formatTimestamp(nowMs());
}

/** Date.UTC with a 1-based month, for any year: Date.UTC maps years 0–99 to 1900–1999. */
function utc(year: number, month: number, day: number, hour = 0, minute = 0, second = 0): number {
  if (year >= 100) return Date.UTC(year, month - 1, day, hour, minute, second);
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute, second, 0);
  return date.getTime();
}

function daysInMonth(year: number, month: number): number {
  return new Date(utc(year, month + 1, 0)).getUTCDate();
}

/**
 * Parses an RFC 3339 date-time (section 5.6) to milliseconds since the epoch (with a fractional part
 * for sub-millisecond digits). Returns `undefined` for anything else, including impossible dates.
 */
export function parseTimestamp(value: unknown): number | undefined {
  if (typeof value !== 'string' || value.length > 40) return undefined;
  const m = RFC3339.exec(value);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, frac, z, sign, oh, om] = m;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  const hour = Number(h);
  const minute = Number(mi);
  const second = Number(s);
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return undefined;
  // RFC 3339 allows second 60 (a leap second); it is folded into the next minute.
  if (hour > 23 || minute > 59 || second > 60) return undefined;
  let offsetMinutes = 0;
  if (!z) {
    const offH = Number(oh);
    const offM = Number(om);
    if (offH > 23 || offM > 59) return undefined;
    offsetMinutes = (sign === '-' ? -1 : 1) * (offH * 60 + offM);
  }
  const fractionMs = frac ? Number(`0.${frac}`) * 1000 : 0;
  return utc(year, month, day, hour, minute, second) - offsetMinutes * 60_000 + fractionMs;
}
