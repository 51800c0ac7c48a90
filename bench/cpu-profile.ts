// Summarises V8 CPU profiles (from `node --cpu-prof`, e.g. BENCH_PROFILE_DIR of bench/ingest.bench.ts):
// per profile (one per thread), the share of idle, GC and program time and the functions with the most
// self time, with their share of the busy (non-idle) time, and the busy time by area (crypto, HTTP,
// logging, thread hand-off, …). skip=S leaves out the first S seconds of each profile (start-up, warm-up).
//   node --import tsx bench/cpu-profile.ts /tmp/prof/*.cpuprofile [top=25] [skip=5]
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

const args = process.argv.slice(2);
const option = (name: string, fallback: number) =>
  Number(args.find((a) => a.startsWith(`${name}=`))?.slice(name.length + 1) ?? fallback);
const top = option('top', 25);
const skipMicros = option('skip', 0) * 1e6;

/** The area a function's self time is counted in. */
const AREAS: [string, RegExp][] = [
  ['GC', /^\(garbage collector\)/],
  ['thread hand-off (postMessage, MessagePort)', /postMessage|messageport|MessagePort|receiveMessageOnPort/],
  ['crypto (HMAC, SHA-256)', /node:internal\/crypto|^Hmac |^Hash |^digest |^update /],
  ['logging (pino)', /pino|@pinojs|sonic-boom|^writeString$|^writeSync /],
  ['SQLite (better-sqlite3, in native code)', /better-sqlite3/],
  [
    'HTTP and sockets (node:http, net, streams)',
    /node:_http|node:net|node:internal\/streams|^writev$|^writeBuffer$|^writeUtf8String$|^writeLatin1String$|node:internal\/http|llhttp|^parserOnHeadersComplete/,
  ],
  ['fastify', /node_modules\/(fastify|find-my-way|avvio|light-my-request|@fastify)/],
  ['sigpost (packages/)', /packages\//],
  ['module loading', /node:internal\/modules|tsx\/dist|compileForInternalLoader|wrapSafe/],
];
const areaOf = (key: string) =>
  AREAS.find(([, pattern]) => pattern.test(key))?.[0] ?? 'other (node internals, V8, microtasks, program)';
const pct = (part: number, whole: number) =>
  `${((100 * part) / Math.max(1, whole)).toFixed(1)} %`.padStart(7);

for (const file of args.filter((a) => !/^\w+=/.test(a))) {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>(); // µs by function
  let total = 0;
  let elapsed = 0;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    elapsed += dt;
    if (elapsed < skipMicros) return;
    total += dt;
    const frame = byId.get(id)?.callFrame;
    if (!frame) return;
    const where = frame.url
      ? ` ${frame.url.replace(/^.*\/(node_modules|packages)\//, '$1/')}:${frame.lineNumber + 1}`
      : '';
    const key = `${frame.functionName || '(anonymous)'}${where}`;
    self.set(key, (self.get(key) ?? 0) + dt);
  });
  const idle = self.get('(idle)') ?? 0;
  const busy = total - idle;
  console.log(
    `\n${basename(file)}: ${(total / 1e6).toFixed(1)} s sampled, idle ${pct(idle, total).trim()}, ` +
      `GC ${pct(self.get('(garbage collector)') ?? 0, total).trim()} of all; self time as share of busy time:`,
  );
  const rows = [...self.entries()].filter(([k]) => k !== '(idle)').sort((a, b) => b[1] - a[1]);
  for (const [name, micros] of rows.slice(0, top)) console.log(`${pct(micros, busy)}  ${name}`);
  const areas = new Map<string, number>();
  for (const [name, micros] of rows) areas.set(areaOf(name), (areas.get(areaOf(name)) ?? 0) + micros);
  console.log('busy time by area:');
  for (const [area, micros] of [...areas.entries()].sort((a, b) => b[1] - a[1])) {
    console.log(`${pct(micros, busy)}  ${area}`);
  }
}
