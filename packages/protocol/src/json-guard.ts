/**
 * The structural limits of a signal body, and the scanner that enforces them before `JSON.parse`.
 *
 * A body that `JSON.parse` accepts is not always one that can be served back: 10,000 levels of nesting
 * parse, then overflow the stack of `JSON.stringify` (and of most consumers' parsers); duplicate keys
 * parse to the last value while a first-wins consumer reads the first; `1e400` parses to Infinity
 * (served back as null, read as Infinity by JavaScript and Python, refused by Go) and an integer past
 * 2^53 − 1 is rounded by every double-based consumer. `checkJson` refuses all of these in one
 * linear pass over the text, with no recursion (an explicit stack of at most `maxDepth` levels) and no
 * regular expression, so it cannot overflow whatever the input. It also checks the JSON grammar
 * (RFC 8259, as `JSON.parse` does), so a text it passes always parses.
 *
 * docs/protocol.md ("Body limits") states the limits normatively; the server answers
 * 400 `invalid-signal` naming the limit, and the SDK can call the same function before sending.
 */

/**
 * Limits of a signal body. Payloads are flat market data (a few prices, ids and indicator values), so
 * every limit is far above what a real signal uses and far below what would strain a consumer.
 */
export const JSON_LIMITS = Object.freeze({
  /** Levels of nested objects and arrays; the body itself is level 1, `payload` level 2. */
  maxDepth: 32,
  /** Members of one object. */
  maxKeysPerObject: 256,
  /** Elements of one array. */
  maxArrayElements: 1024,
  /** Values in the whole body: every object, array, string, number, true, false and null. */
  maxValues: 4096,
  /** Length of a string value, in UTF-16 code units after unescaping (as JavaScript counts). */
  maxStringLength: 4096,
  /** Length of a key, in UTF-16 code units after unescaping. */
  maxKeyLength: 256,
  /**
   * Magnitude of a number written as an integer (no fraction, no exponent): 2^53 − 1, the largest
   * integer a double holds exactly. JavaScript, Python's `json` (to float in most consumers), Go's
   * `float64` and every double-based reader round a larger one silently, so it is refused rather than
   * stored as bytes that consumers read as another number. Larger ids or quantities go as strings.
   */
  maxInteger: Number.MAX_SAFE_INTEGER,
} as const);

export type JsonLimits = { readonly [K in keyof typeof JSON_LIMITS]: number };

/**
 * Why a text was refused: not JSON at all, over a limit, a key twice in one object, or a number out
 * of the range of a double (`1e400`: JavaScript and Python read Infinity, Go fails).
 */
export type JsonCheckReason = 'syntax' | 'limit' | 'duplicate-key' | 'number';

export type JsonCheck =
  | { readonly ok: true }
  | {
      readonly ok: false;
      readonly reason: JsonCheckReason;
      /** The limit broken, for `reason: 'limit'`. */
      readonly limit?: keyof JsonLimits;
      /** Where, as `payload.levels[3].price`; `(body)` for the top level. */
      readonly path: string;
      /** Index in the text (UTF-16 code units) where the problem was found. */
      readonly offset: number;
      /** One line, starting with the path: `payload.a.b: duplicate key; …`. */
      readonly message: string;
    };

const OK: JsonCheck = Object.freeze({ ok: true });

const OBJECT = 1;
const ARRAY = 2;

/** Up to this many keys, an object's keys are compared by hash in a list; beyond, in a Set. */
const SMALL_OBJECT = 16;

// The scan's state, reused between calls (the scan is synchronous, so calls never interleave) and
// grown to the deepest `maxDepth` asked for. Per level: its kind, its count of keys or elements, where
// its keys start in the key list, its current key (as its start in the text) and, for a large object,
// its set of keys. The key list holds, for each key of the open objects, its hash and its start in the
// text: a key is compared without being copied out of the text, unless two hashes match.
let kinds = new Uint8Array(JSON_LIMITS.maxDepth + 1);
let counts = new Int32Array(JSON_LIMITS.maxDepth + 1);
let bases = new Int32Array(JSON_LIMITS.maxDepth + 1);
let keyAt = new Int32Array(JSON_LIMITS.maxDepth + 1);
const large: (Set<string> | undefined)[] = [];
let keyHashes = new Int32Array(256);
let keyStarts = new Int32Array(256);

/**
 * Checks that `text` is one JSON value within `limits` and without a duplicate key at any depth.
 * A single linear pass; memory is bounded by `maxDepth`, whatever the text.
 *
 * @example
 * const check = checkJson(text);
 * if (!check.ok) throw new Error(check.message); // "payload.a: duplicate key; …"
 * const value = JSON.parse(text); // cannot throw now
 */
export function checkJson(text: string, limits: JsonLimits = JSON_LIMITS): JsonCheck {
  const s = text;
  const n = s.length;
  const maxDepth = limits.maxDepth;
  if (kinds.length <= maxDepth) {
    kinds = new Uint8Array(maxDepth + 1);
    counts = new Int32Array(maxDepth + 1);
    bases = new Int32Array(maxDepth + 1);
    keyAt = new Int32Array(maxDepth + 1);
  }
  scanned = s;
  let top = 0; // length of the key list
  let depth = 0;
  let values = 0;
  let i = 0;
  // 0: a value is expected; 1: after a value; 2: an object key is expected.
  let state = 0;

  for (;;) {
    // Skip JSON whitespace (space, tab, LF, CR).
    let c = s.charCodeAt(i);
    while (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) c = s.charCodeAt(++i);

    if (state === 0) {
      if (++values > limits.maxValues) {
        return overLimit(limits, 'maxValues', i, depth, '', ' values in one body');
      }
      if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
        if (depth === maxDepth) {
          return overLimit(limits, 'maxDepth', i, depth, 'nested ', ' levels');
        }
        depth++;
        kinds[depth] = c === 0x7b ? OBJECT : ARRAY;
        counts[depth] = 0;
        bases[depth] = top;
        c = s.charCodeAt(++i);
        while (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) c = s.charCodeAt(++i);
        if (c === (kinds[depth] === OBJECT ? 0x7d : 0x5d)) {
          i++;
          depth--;
          state = 1;
        } else if (kinds[depth] === OBJECT) {
          large[depth] = undefined;
          state = 2;
        } else {
          counts[depth] = 1;
        }
        continue;
      }
      if (c === 0x22 /* " */) {
        const end = scanValueString(s, i);
        if (end < 0)
          return syntax(
            n,
            -end - 1,
            'a valid string (escapes \\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)',
            depth,
          );
        if (scannedLength > limits.maxStringLength) {
          return overLimit(limits, 'maxStringLength', i, depth, 'string ', ' characters');
        }
        i = end + 1;
      } else if (c === 0x2d /* - */ || (c >= 0x30 && c <= 0x39)) {
        const end = scanNumber(s, i);
        if (end < 0) return syntax(n, -end - 1, 'a valid number', depth);
        // Only a long integer, an exponent or a very long fraction can leave the exact or finite
        // range: the common number is not converted at all.
        if (
          scannedExponent ||
          (scannedFraction ? end - i > 308 : end - i > 15 || limits.maxInteger < 999_999_999_999_999)
        ) {
          const value = Number(s.slice(i, end));
          if (!Number.isFinite(value)) {
            return fail(
              'number',
              i,
              `number ${clip(s, i, end)} out of the range of a double (±${Number.MAX_VALUE}); consumers would read Infinity or fail`,
              undefined,
              depth,
            );
          }
          if (!scannedExponent && !scannedFraction && Math.abs(value) > limits.maxInteger) {
            return fail(
              'limit',
              i,
              `integer ${clip(s, i, end)} over the limit of ±${limits.maxInteger}${limits.maxInteger === Number.MAX_SAFE_INTEGER ? ' (2^53 − 1)' : ''}, the largest that every consumer reads exactly; send a larger integer as a string`,
              'maxInteger',
              depth,
            );
          }
        }
        i = end;
      } else if (c === 0x74 /* t */ && s.startsWith('true', i)) i += 4;
      else if (c === 0x66 /* f */ && s.startsWith('false', i)) i += 5;
      else if (c === 0x6e /* n */ && s.startsWith('null', i)) i += 4;
      else return syntax(n, i, 'a JSON value', depth);
      state = 1;
      continue;
    }

    if (state === 1) {
      if (depth === 0) return i >= n ? OK : syntax(n, i, 'the end of the body after the JSON value', depth);
      if (c === 0x2c /* , */) {
        i++;
        if (kinds[depth] === OBJECT) state = 2;
        else {
          if (counts[depth] === limits.maxArrayElements) {
            return overLimit(limits, 'maxArrayElements', i, depth - 1, 'array ', ' elements');
          }
          counts[depth] = (counts[depth] as number) + 1;
          state = 0;
        }
        continue;
      }
      if (c === (kinds[depth] === OBJECT ? 0x7d : 0x5d)) {
        i++;
        top = bases[depth] as number; // forget the closed object's keys
        depth--;
        continue;
      }
      return syntax(n, i, kinds[depth] === OBJECT ? '"," or "}"' : '"," or "]"', depth);
    }

    // state 2: a key, then ":".
    if (c !== 0x22) return syntax(n, i, 'a string key', depth - 1);
    const end = scanString(s, i);
    if (end < 0) return syntax(n, -end - 1, 'a valid string key', depth - 1);
    if (scannedLength > limits.maxKeyLength) {
      return overLimit(limits, 'maxKeyLength', i, depth - 1, 'key ', ' characters');
    }
    if (counts[depth] === limits.maxKeysPerObject) {
      return overLimit(limits, 'maxKeysPerObject', i, depth - 1, 'object ', ' keys');
    }
    // Keys are compared by value: "a" and "\u0061" are the same key (the hash is of the value).
    const count = counts[depth] as number;
    counts[depth] = count + 1;
    keyAt[depth] = i;
    let duplicate = false;
    if (count < SMALL_OBJECT) {
      const hash = scannedHash;
      for (let k = bases[depth] as number; k < top; k++) {
        if (keyHashes[k] === hash && keyText(s, keyStarts[k] as number) === keyText(s, i)) {
          duplicate = true;
          break;
        }
      }
      if (top === keyHashes.length) {
        keyHashes = grow(keyHashes);
        keyStarts = grow(keyStarts);
      }
      keyHashes[top] = hash;
      keyStarts[top] = i;
      top++;
    } else {
      let seen = large[depth];
      if (seen === undefined) {
        seen = new Set();
        for (let k = bases[depth] as number; k < top; k++) seen.add(keyText(s, keyStarts[k] as number));
        large[depth] = seen;
      }
      const key = keyText(s, i);
      duplicate = seen.has(key);
      seen.add(key);
    }
    if (duplicate) {
      return fail(
        'duplicate-key',
        i,
        'duplicate key; each key may appear once per object (consumers disagree on which value wins)',
        undefined,
        depth,
      );
    }
    i = end + 1;
    c = s.charCodeAt(i);
    while (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) c = s.charCodeAt(++i);
    if (c !== 0x3a /* : */) return syntax(n, i, '":" after the key', depth);
    i++;
    state = 0;
  }
}

/** A refusal; its path names `levels` levels (the value at the current depth, or its container). */
function fail(
  reason: JsonCheckReason,
  at: number,
  what: string,
  limit: keyof JsonLimits | undefined,
  levels: number,
): JsonCheck {
  const path = formatPath(levels);
  return {
    ok: false,
    reason,
    ...(limit === undefined ? {} : { limit }),
    path,
    offset: at,
    message: `${path}: ${what}`,
  };
}

/** A refusal for `limit`: `<what>over the limit of <its value><unit>` (the rare path, out of the scan). */
function overLimit(
  limits: JsonLimits,
  limit: keyof JsonLimits,
  at: number,
  levels: number,
  what: string,
  unit: string,
): JsonCheck {
  return fail('limit', at, `${what}over the limit of ${limits[limit]}${unit}`, limit, levels);
}

/** A grammar refusal: what was expected at `at`, in a text of length `n`. */
function syntax(n: number, at: number, expected: string, levels: number): JsonCheck {
  const where =
    at >= n ? `expected ${expected}, found the end of the body` : `expected ${expected} at character ${at}`;
  return fail('syntax', at, where, undefined, levels);
}

// Set by scanString: the unescaped length and the hash of the unescaped value of the last string.
let scannedLength = 0;
let scannedHash = 0;
// The text being checked, for formatPath.
let scanned = '';

/** The value of the string whose opening quote is at `start` (already scanned: it is valid). */
function keyText(s: string, start: number): string {
  const end = s.indexOf('"', start + 1);
  const raw = s.slice(start + 1, end);
  // A backslash before the first quote means escapes (one may hide a quote): let JSON.parse read it.
  if (raw.indexOf('\\') === -1) return raw;
  scanString(s, start);
  return JSON.parse(s.slice(start, scannedEnd + 1)) as string;
}

let scannedEnd = 0;

function grow(array: Int32Array<ArrayBuffer>): Int32Array<ArrayBuffer> {
  const bigger = new Int32Array(array.length * 2);
  bigger.set(array);
  return bigger;
}

/**
 * Scans a string value: like scanString, without the hash, and with a tight loop over the plain
 * characters (most of a body), handing over to scanString at the first escape.
 */
function scanValueString(s: string, start: number): number {
  const n = s.length;
  let j = start + 1;
  let c = s.charCodeAt(j);
  while (c !== 0x22 && c !== 0x5c && c >= 0x20) c = s.charCodeAt(++j);
  if (c !== 0x22 || j >= n) return scanString(s, start);
  scannedLength = j - start - 1;
  scannedEnd = j;
  return j;
}

/**
 * Scans the string starting with the quote at `start`; returns the index of the closing quote, or
 * `-(offset + 1)` of the first error.
 */
function scanString(s: string, start: number): number {
  const n = s.length;
  let j = start + 1;
  let length = 0;
  let hash = 0;
  for (;;) {
    if (j >= n) return -(j + 1);
    let c = s.charCodeAt(j);
    if (c === 0x22) break;
    if (c === 0x5c /* \ */) {
      c = unescaped(s, j);
      if (c < 0) return -(j + 1);
      j += c > 0xffff ? 6 : 2;
      c &= 0xffff;
    } else if (c < 0x20) return -(j + 1);
    else j++;
    hash = (Math.imul(hash, 31) + c) | 0;
    length++;
  }
  scannedLength = length;
  scannedHash = hash;
  scannedEnd = j;
  return j;
}

/**
 * The code unit that the escape at `j` stands for, plus 0x10000 for a 6-character `\uXXXX` escape;
 * -1 when it is not a JSON escape.
 */
function unescaped(s: string, j: number): number {
  switch (s.charCodeAt(j + 1)) {
    case 0x22:
      return 0x22;
    case 0x5c:
      return 0x5c;
    case 0x2f:
      return 0x2f;
    case 0x62:
      return 0x08;
    case 0x66:
      return 0x0c;
    case 0x6e:
      return 0x0a;
    case 0x72:
      return 0x0d;
    case 0x74:
      return 0x09;
    case 0x75: {
      const a = hexValue(s.charCodeAt(j + 2));
      const b = hexValue(s.charCodeAt(j + 3));
      const c = hexValue(s.charCodeAt(j + 4));
      const d = hexValue(s.charCodeAt(j + 5));
      if ((a | b | c | d) < 0) return -1;
      return 0x10000 + ((a << 12) | (b << 8) | (c << 4) | d);
    }
    default:
      return -1;
  }
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

// Set by scanNumber: whether the last number had a fraction, an exponent.
let scannedFraction = false;
let scannedExponent = false;

/** The number literal s[start, end), shortened in the middle past 40 characters. */
function clip(s: string, start: number, end: number): string {
  return end - start <= 40 ? s.slice(start, end) : `${s.slice(start, start + 20)}…${s.slice(end - 20, end)}`;
}

/** Scans the number starting at `start` (RFC 8259 grammar); returns the index after it, or `-(offset + 1)`. */
function scanNumber(s: string, start: number): number {
  let j = start;
  scannedFraction = false;
  scannedExponent = false;
  if (s.charCodeAt(j) === 0x2d) j++;
  const first = s.charCodeAt(j);
  if (first === 0x30) j++;
  else if (first >= 0x31 && first <= 0x39) {
    j++;
    while (isDigit(s.charCodeAt(j))) j++;
  } else return -(j + 1);
  if (s.charCodeAt(j) === 0x2e /* . */) {
    scannedFraction = true;
    j++;
    if (!isDigit(s.charCodeAt(j))) return -(j + 1);
    while (isDigit(s.charCodeAt(j))) j++;
  }
  const e = s.charCodeAt(j);
  if (e === 0x65 || e === 0x45) {
    scannedExponent = true;
    j++;
    const sign = s.charCodeAt(j);
    if (sign === 0x2b || sign === 0x2d) j++;
    if (!isDigit(s.charCodeAt(j))) return -(j + 1);
    while (isDigit(s.charCodeAt(j))) j++;
  }
  return j;
}

const PLAIN_KEY = /^[A-Za-z_$][A-Za-z0-9_$-]*$/;

/** `payload.levels[3].price` for the levels 1..depth (only built for an error). */
function formatPath(depth: number): string {
  let path = '';
  for (let d = 1; d <= depth; d++) {
    if (kinds[d] === ARRAY) {
      path += `[${Math.max(0, (counts[d] as number) - 1)}]`;
    } else if ((counts[d] as number) > 0) {
      const key = keyText(scanned, keyAt[d] as number);
      path += PLAIN_KEY.test(key) ? (path === '' ? key : `.${key}`) : `[${JSON.stringify(key)}]`;
    }
  }
  if (path === '') return '(body)';
  // 32 keys of 256 characters would make an 8 KB path: keep its two ends.
  return path.length <= MAX_PATH ? path : `${path.slice(0, MAX_PATH / 2)}…${path.slice(-MAX_PATH / 2)}`;
}

/** Longest path shown in a message, in characters; a longer one is shortened in the middle. */
const MAX_PATH = 240;
