// checkJson of @sigpost/protocol (built dist), the scan the ingest route runs before JSON.parse, against
// JSON.parse of the same typical signal (~300 bytes): what the route did per body before the scan, and
// what it does now (scan + parse). Rounds alternate between the sides; the median round is reported.
// Also: a 10,000-deep body (refused at character 32) and a flat body near 64 KiB (the scan is linear).
//   npx tsc -b packages/protocol && npm run bench -- json-guard
import { checkJson } from '@sigpost/protocol';
import { validSignal } from '@sigpost/test-support/fixtures';

/** The scan may cost at most this many times JSON.parse of the same body. */
const TARGET = 1.5;
const ROUNDS = 15;
const OPS_PER_ROUND = 50_000;

const body = JSON.stringify(
  validSignal({
    reason: 'breakout above resistance on rising volume',
    payload: { rsi: 35.2, atr: 5.5, desk: 'fx-ldn', ids: [101, 102], strategy: 'breakout-v2' },
  }),
);
if (!checkJson(body).ok) throw new Error('checkJson refused the typical signal');

let sink = 0;
/** Runs `fn` `ops` times; returns µs per call. */
function microseconds(fn: () => unknown, ops = OPS_PER_ROUND): number {
  const start = process.hrtime.bigint();
  for (let i = 0; i < ops; i++) if (fn()) sink++;
  return Number(process.hrtime.bigint() - start) / 1e3 / ops;
}
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
};

const sides = {
  parse: () => JSON.parse(body),
  scan: () => checkJson(body).ok,
  'scan+parse': () => checkJson(body).ok && JSON.parse(body),
};
for (const fn of Object.values(sides)) microseconds(fn); // warm-up
const times: Record<keyof typeof sides, number[]> = { parse: [], scan: [], 'scan+parse': [] };
for (let round = 0; round < ROUNDS; round++) {
  const order = Object.keys(sides) as (keyof typeof sides)[];
  if (round % 2 === 1) order.reverse();
  for (const name of order) times[name].push(microseconds(sides[name]));
}
const parse = median(times.parse);
const scan = median(times.scan);
const both = median(times['scan+parse']);
const ratio = scan / parse;
console.log(
  `median of ${ROUNDS} alternating rounds × ${OPS_PER_ROUND.toLocaleString('en-US')} ops, body ${body.length} bytes`,
);
console.log(`JSON.parse (before)         ${parse.toFixed(2)} µs/body`);
console.log(
  `checkJson                   ${scan.toFixed(2)} µs/body   ${ratio.toFixed(2)} × JSON.parse (target ≤ ${TARGET})`,
);
console.log(`checkJson + JSON.parse (now) ${both.toFixed(2)} µs/body`);

const deep = `${'['.repeat(10_000)}${']'.repeat(10_000)}`;
console.log(
  `10,000-deep body (refused)   ${microseconds(() => checkJson(deep).ok, 5_000).toFixed(2)} µs/body`,
);
// Decoded from bytes, as the server's text is (a flat string, not a concatenation).
const flat = Buffer.from(
  `{"payload":{"v":[${Array.from({ length: 1000 }, (_, k) => `"${String(k).padStart(58, 'x')}"`).join(',')}]}}`,
).toString();
const flatTimes = { scan: [] as number[], parse: [] as number[] };
for (let round = 0; round < 7; round++) {
  flatTimes.scan.push(microseconds(() => checkJson(flat).ok, 200));
  flatTimes.parse.push(microseconds(() => JSON.parse(flat), 200));
}
console.log(
  `flat ${(flat.length / 1024).toFixed(0)} KiB body: checkJson ${median(flatTimes.scan).toFixed(1)} µs, JSON.parse ${median(flatTimes.parse).toFixed(1)} µs`,
);
if (sink === 0) console.log('(unreachable)');
if (ratio > TARGET) process.exitCode = 1;
