// Summarises V8 CPU profiles (from `node --cpu-prof`, e.g. BENCH_PROFILE_DIR of bench/ingest.bench.ts):
// per profile (one per thread), the share of idle, GC and program time and the functions with the most
// self time, with their share of the busy (non-idle) time.
//   node --import tsx bench/cpu-profile.ts /tmp/prof/*.cpuprofile [top=25]
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
const top = Number(args.find((a) => /^top=\d+$/.test(a))?.slice(4) ?? 25);
const pct = (part: number, whole: number) =>
  `${((100 * part) / Math.max(1, whole)).toFixed(1)} %`.padStart(7);

for (const file of args.filter((a) => !a.startsWith('top='))) {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>(); // µs by function
  let total = 0;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
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
}
