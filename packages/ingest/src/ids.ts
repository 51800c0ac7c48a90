import { randomBytes } from 'node:crypto';

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

// One randomBytes call per 410 ids instead of one per id: the call, not the bytes, is what costs.
const POOL_BYTES = 4_100;
let pool = Buffer.alloc(0);
let offset = POOL_BYTES;

function randomTen(): Buffer {
  if (offset + 10 > pool.length) {
    pool = randomBytes(POOL_BYTES);
    offset = 0;
  }
  offset += 10;
  return pool.subarray(offset - 10, offset);
}

/**
 * A ULID (https://github.com/ulid/spec): 48-bit millisecond time then 80 random bits, 26 characters of
 * Crockford base32. Ids sort by creation time, so the newest-first listing and the ids agree.
 */
export function ulid(epochMs: number): string {
  let time = Math.max(0, Math.floor(epochMs));
  let out = '';
  for (let i = 0; i < 10; i++) {
    out = CROCKFORD[time % 32] + out;
    time = Math.floor(time / 32);
  }
  const random = randomTen();
  // 80 bits = 16 groups of 5 bits, read from a bit buffer.
  let acc = 0;
  let bits = 0;
  for (const byte of random) {
    acc = (acc << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += CROCKFORD[(acc >> bits) & 31];
    }
    acc &= (1 << bits) - 1;
  }
  return out;
}

/** Pattern of the ids made by `newId`. */
export const ID_PATTERN = /^(sig|sec|tok|sub)_[0-9A-HJKMNP-TV-Z]{26}$/;

/** The pattern of each kind of id made by `newId`, by prefix. */
export const ID_PATTERNS = Object.freeze({
  sig: /^sig_[0-9A-HJKMNP-TV-Z]{26}$/,
  sec: /^sec_[0-9A-HJKMNP-TV-Z]{26}$/,
  tok: /^tok_[0-9A-HJKMNP-TV-Z]{26}$/,
  sub: /^sub_[0-9A-HJKMNP-TV-Z]{26}$/,
} as const);

/** `sig_…` for signals, `sec_…` for producer secrets, `tok_…` for operator tokens, `sub_…` for stream subscribers. */
export function newId(prefix: 'sig' | 'sec' | 'tok' | 'sub', epochMs: number): string {
  return `${prefix}_${ulid(epochMs)}`;
}
