import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/chaos/**', 'node_modules/**', 'dist/**'],
    pool: 'forks',
    maxWorkers: Number(process.env.TEST_WORKERS ?? 4),
    testTimeout: 60_000,
    hookTimeout: 120_000,
    globalSetup: ['test/support/global-setup.ts'],
    reporters: process.env.CI ? ['default'] : ['default'],
  },
});
