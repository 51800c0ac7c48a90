import { defineConfig } from 'vitest/config';

export default defineConfig({
  // Run tests against each workspace package's TypeScript source, not its build output. Tests run in
  // Vite's SSR (Node) pipeline, which takes its conditions from `ssr.resolve`.
  resolve: { conditions: ['@sigpost/source'] },
  ssr: { resolve: { conditions: ['@sigpost/source'], externalConditions: ['@sigpost/source'] } },
  test: {
    reporters: ['default', './test-support/summary-reporter.ts'],
    include: ['packages/*/src/**/*.test.ts', 'packages/*/test/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 30_000,
  },
});
