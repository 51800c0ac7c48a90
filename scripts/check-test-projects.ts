// Fails when a test file is in neither vitest project or in both, or when a `unit` test file uses what
// belongs to `system` (see vitest.config.ts and DEVELOPERS.md, "Tests"). Run by `npm test`:
//   node --import tsx scripts/check-test-projects.ts
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { createVitest } from 'vitest/node';

const root = resolve(import.meta.dirname, '..');
/** What reads as a test file, wherever it is and whatever vitest would make of it. */
const TEST_NAME = /\.(test|spec)\.[cm]?[jt]sx?$/;
const SKIP = new Set(['node_modules', 'dist', '.git']);
/** In a unit test file: a name of something the system project is for, and why. */
const SYSTEM_ONLY: readonly (readonly [RegExp, string])[] = [
  [/from ['"]node:child_process['"]/, 'imports node:child_process'],
  [
    /from ['"]@sigpost\/test-support\/(process|server-process)['"]/,
    'imports a helper that starts processes (@sigpost/test-support/process, server-process)',
  ],
  [/from ['"]pg['"]|\bPostgresStore\b|SIGPOST_TEST_DATABASE_URL/, 'uses PostgreSQL'],
  [/\bplaywright|\bchromium\b/i, 'drives a browser'],
  [/\bSIGKILL\b/, 'kills a process'],
];

function walk(dir: string, found: string[]): string[] {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (SKIP.has(entry.name)) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) walk(path, found);
    else if (TEST_NAME.test(entry.name)) found.push(relative(root, path));
  }
  return found;
}

const vitest = await createVitest('test', { watch: false, run: true, reporters: [] });
const projectsOf = new Map<string, string[]>();
try {
  for (const spec of await vitest.globTestSpecifications()) {
    const file = relative(root, spec.moduleId);
    projectsOf.set(file, [...(projectsOf.get(file) ?? []), spec.project.name]);
  }
} finally {
  await vitest.close();
}

const problems: string[] = [];
for (const file of walk(root, []).sort()) {
  const projects = projectsOf.get(file) ?? [];
  if (projects.length === 0) {
    problems.push(
      `${file}: in no test project; put it under a package's src/ as *.test.ts (unit) or *.system.test.ts (system), or in its test/ folder (system)`,
    );
  } else if (projects.length > 1) {
    problems.push(
      `${file}: in more than one test project (${projects.join(', ')}); fix the globs in vitest.config.ts`,
    );
  } else if (projects[0] === 'unit') {
    const text = readFileSync(join(root, file), 'utf8');
    for (const [pattern, what] of SYSTEM_ONLY) {
      if (pattern.test(text))
        problems.push(`${file}: ${what}, which a unit test may not; name it *.system.test.ts`);
    }
  }
}
const counts = [...projectsOf.values()].flat().reduce<Record<string, number>>((acc, name) => {
  acc[name] = (acc[name] ?? 0) + 1;
  return acc;
}, {});
if (problems.length > 0) {
  process.stderr.write(`test projects:\n${problems.map((p) => `  ✖ ${p}`).join('\n')}\n`);
  process.exitCode = 1;
} else {
  process.stdout.write(
    `test projects: ${counts.unit ?? 0} unit and ${counts.system ?? 0} system test files, each in one project\n`,
  );
}
