import { defineConfig } from 'vitest/config';

/**
 * Every test file is in exactly one of two projects, by its name (`scripts/check-test-projects.ts`,
 * run by `npm test`, fails otherwise):
 * - `unit` (`*.test.ts`): in process and quick, the loop while editing (`npm run test:unit`). No child
 *   processes (its setup file makes spawning one fail), no PostgreSQL, no browser, no fixed waits.
 * - `system` (`*.system.test.ts`): child processes, the built `sigpost` binary, SIGKILL and
 *   durability, PostgreSQL, scale-out, browsers (`npm run test:system`, after a build).
 * `npm test` runs both in one `vitest run`, so the closing `tests: …` line is printed once.
 */
export const TEST_GLOBS = ['packages/*/src/**/*.test.ts', 'packages/*/test/**/*.test.ts'];
export const SYSTEM_GLOBS = TEST_GLOBS.map((glob) => glob.replace(/\.test\.ts$/, '.system.test.ts'));

export default defineConfig({
  // Run tests against each workspace package's TypeScript source, not its build output. Tests run in
  // Vite's SSR (Node) pipeline, which takes its conditions from `ssr.resolve`.
  resolve: { conditions: ['@sigpost/source'] },
  ssr: { resolve: { conditions: ['@sigpost/source'], externalConditions: ['@sigpost/source'] } },
  test: {
    reporters: ['default', './test-support/summary-reporter.ts'],
    testTimeout: 20_000,
    hookTimeout: 30_000,
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: TEST_GLOBS,
          exclude: [...SYSTEM_GLOBS, '**/node_modules/**'],
          setupFiles: ['./test-support/unit-setup.ts'],
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
