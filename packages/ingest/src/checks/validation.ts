// Checks 7–9: what the body is. In order: the Content-Type (415), UTF-8 and JSON grammar (400
// `malformed-json`), the body limits of docs/protocol.md and duplicate keys (400 `invalid-signal`),
// then the signal's fields (400 `invalid-signal` with one line per field). The shape is checked by
// `checkJson`'s linear scan BEFORE `JSON.parse`, so nothing is stored that cannot be served back, and
// every stored body reads the same under first-wins and last-wins parsers.
import { checkJson, type SignalCandidate, validateSignal } from '@sigpost/protocol';
import { refusal } from './refusal.js';

// fatal: a body that is not UTF-8 is malformed, not silently repaired. ignoreBOM: a BOM stays and
// JSON.parse refuses it, so the stored text is exactly what was signed.
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** A signal that passed every check of its body: its text as received, parsed and validated. */
export interface ValidBody {
  /** The body as received, decoded: what is stored and served. */
  readonly text: string;
  /** `text` parsed. */
  readonly json: unknown;
  readonly signal: SignalCandidate;
}

/** Checks 7, 8 and 9 on an authenticated request's body. */
export function checkBody(contentType: string | undefined, body: Buffer): ValidBody {
  const mediaProblem = mediaTypeProblem(contentType);
  if (mediaProblem !== undefined) throw refusal('unsupported-media-type', mediaProblem);
  const text = checkedText(body);
  const json: unknown = JSON.parse(text); // checkJson passed: it parses, and serialises back
  const validation = validateSignal(json);
  if (!validation.ok) {
    const n = validation.errors.length;
    throw refusal('invalid-signal', `the signal has ${n} problem${n === 1 ? '' : 's'}`, {
      extensions: { errors: validation.errors },
    });
  }
  return { text, json, signal: validation.value };
}

/** Why a Content-Type is refused, or undefined for `application/json` (parameters allowed; charset utf-8). */
export function mediaTypeProblem(contentType: string | undefined): string | undefined {
  if (contentType === undefined) return 'Content-Type must be application/json; the header is missing';
  // The common case, without splitting.
  if (contentType === 'application/json' || contentType === 'application/json; charset=utf-8') {
    return undefined;
  }
  const [type = '', ...params] = contentType.split(';');
  if (type.trim().toLowerCase() !== 'application/json') return 'Content-Type must be application/json';
  for (const param of params) {
    const [name = '', value = ''] = param.split('=');
    if (
      name.trim().toLowerCase() === 'charset' &&
      value.trim().replace(/^"|"$/g, '').toLowerCase() !== 'utf-8'
    ) {
      return 'Content-Type charset must be utf-8';
    }
  }
  return undefined;
}

/**
 * Decodes the body and checks it with `checkJson` (grammar, limits, duplicate keys) before anything
 * parses it; returns the text, which `JSON.parse` then reads without fail.
 */
function checkedText(body: Buffer): string {
  let text: string;
  try {
    text = UTF8.decode(body);
  } catch (error) {
    throw refusal('malformed-json', 'request body is not valid UTF-8 JSON', { cause: error });
  }
  const check = checkJson(text);
  if (check.ok) return text;
  if (check.reason === 'syntax') {
    throw refusal('malformed-json', `request body is not valid UTF-8 JSON: ${check.message}`);
  }
  const detail =
    check.reason === 'duplicate-key'
      ? `the body has a duplicate key at ${check.path}; send each key once per object`
      : check.reason === 'number'
        ? `the body has a number out of the range of a double (docs/protocol.md, Body limits): ${check.message}`
        : `the body is over the ${check.limit} limit (docs/protocol.md, Body limits): ${check.message}`;
  throw refusal('invalid-signal', detail, { extensions: { errors: [check.message] } });
}
