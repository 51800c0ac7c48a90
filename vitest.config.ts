import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: {
    // Run tests against each workspace package's TypeScript source, not its build output.
    conditions: ['@sigpost/source'],
  },
  test: {
    include: ['packages/*/src/**/*.test.ts', 'packages/*/test/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 30_000,
  },
});
