import { defineConfig } from 'vitest/config';

// Every test file is in exactly one of two projects, by its name or folder (DEVELOPERS.md, "Tests";
// `scripts/check-test-projects.ts`, run by `npm test`, fails otherwise):
// - `system`: a `*.system.test.ts` or `*.browser.test.ts` under a package's src/, and every test under a
//   package's test/ folder (end to end). Child processes, the `sigpost` binary, SIGKILL and durability,
//   PostgreSQL, scale-out, browsers (`npm run test:system`, after a build).
// - `unit`: every other `*.test.ts` under a package's src/. In process and quick, the loop while editing
//   (`npm run test:unit`): no child process (its setup file makes starting one fail), no PostgreSQL,
//   no browser, no fixed waits.
// `npm test` runs both in one `vitest run`, so the closing `tests: …` line is printed once.
export const SYSTEM_GLOBS = [
  'packages/*/src/**/*.system.test.ts',
  'packages/*/src/**/*.browser.test.ts',
  'packages/*/test/**/*.test.ts',
];
export const UNIT_GLOBS = ['packages/*/src/**/*.test.ts'];

export default defineConfig({
  // Run tests against each workspace package's TypeScript source, not its build output. Tests run in
  // Vite's SSR (Node) pipeline, which takes its conditions from `ssr.resolve`.
  resolve: { conditions: ['@sigpost/source'] },
  ssr: { resolve: { conditions: ['@sigpost/source'], externalConditions: ['@sigpost/source'] } },
  test: {
    reporters: ['default', './packages/test-support/src/summary-reporter.ts'],
    testTimeout: 20_000,
    hookTimeout: 30_000,
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: UNIT_GLOBS,
          exclude: [...SYSTEM_GLOBS, '**/node_modules/**'],
          setupFiles: ['./packages/test-support/src/unit-setup.ts'],
          // The files of a worker share one module cache: each file's imports are loaded once per
          // worker, not once per file (about 2.5× less CPU). A unit test leaves no global state behind.
          isolate: false,
        },
      },
      {
        extends: true,
        test: { name: 'system', include: SYSTEM_GLOBS, exclude: ['**/node_modules/**'] },
      },
    ],
  },
});
