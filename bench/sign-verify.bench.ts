// buildSignature / verifySignature of @sigpost/outbound (built dist) against raw node:crypto doing the
// same work: SHA-256 of the body, the canonical string, HMAC-SHA256, base64; verify adds a decode and
// timingSafeEqual. Rounds alternate between the two sides to spread noise; the median round is reported.
//   npx tsc -b packages/outbound && npm run bench -- sign
import { buildSignature, verifySignature } from '@sigpost/outbound';
import {
  independentSignature,
  SIGNAL_TIMESTAMP,
  validSignal,
  verifiesIndependently,
} from '@sigpost/test-support/fixtures';

const TARGET = 0.9;
const ROUNDS = 15;
const OPS_PER_ROUND = 20_000;

const secret = 'test-secret-key-min-16-bytes-long';
const producerId = 'test-producer';
const timestamp = SIGNAL_TIMESTAMP;
const body = JSON.stringify(validSignal());

// The raw side: the same recipe written with node:crypto alone (@sigpost/test-support/fixtures).
const rawSign = () => independentSignature({ secret, body, timestamp, producerId });
const rawVerify = (signature: string) =>
  verifiesIndependently({ secret, body, timestamp, producerId, signature });

const signature = rawSign();
if (buildSignature({ secret, body, timestamp, producerId }) !== signature)
  throw new Error('signatures differ');
if (!verifySignature({ secret, body, timestamp, producerId, providedSignature: signature })) {
  throw new Error('verifySignature refused a valid signature');
}

/** Runs `fn` OPS_PER_ROUND times; returns ops/s. The sink keeps the work from being optimised away. */
let sink = 0;
function opsPerSecond(fn: () => string | boolean): number {
  const start = process.hrtime.bigint();
  for (let i = 0; i < OPS_PER_ROUND; i++) {
    const r = fn();
    sink += typeof r === 'string' ? r.length : r ? 1 : 0;
  }
  const ns = Number(process.hrtime.bigint() - start);
  return OPS_PER_ROUND / (ns / 1e9);
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};

function compare(name: string, ours: () => string | boolean, raw: () => string | boolean): boolean {
  // Warm both up so the JIT has settled before the first measured round.
  opsPerSecond(ours);
  opsPerSecond(raw);
  const a: number[] = [];
  const b: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    if (round % 2 === 0) {
      a.push(opsPerSecond(ours));
      b.push(opsPerSecond(raw));
    } else {
      b.push(opsPerSecond(raw));
      a.push(opsPerSecond(ours));
    }
  }
  const ratio = median(a) / median(b);
  const ok = ratio >= TARGET;
  const fmt = (n: number) => Math.round(n).toLocaleString('en-US').padStart(9);
  console.log(
    `${name.padEnd(16)} ${fmt(median(a))} ops/s   raw node:crypto ${fmt(median(b))} ops/s   ratio ${ratio.toFixed(2)} (target ≥ ${TARGET.toFixed(2)}) ${ok ? 'ok' : 'MISSED'}`,
  );
  return ok;
}

console.log(
  `median of ${ROUNDS} alternating rounds × ${OPS_PER_ROUND.toLocaleString('en-US')} ops, body ${body.length} bytes`,
);
const signOk = compare(
  'buildSignature',
  () => buildSignature({ secret, body, timestamp, producerId }),
  rawSign,
);
const verifyOk = compare(
  'verifySignature',
  () => verifySignature({ secret, body, timestamp, producerId, providedSignature: signature }),
  () => rawVerify(signature),
);
if (sink === 0) console.log('(unreachable)');
if (!signOk || !verifyOk) process.exitCode = 1;
