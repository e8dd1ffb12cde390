import { defineConfig } from 'vitest/config';

// The fault-injection suite (docs/chaos.md): `npm run test:chaos`. One scenario file at a time — each
// runs a whole box of real processes and the machine has two cores — with generous timeouts.
export default defineConfig({
  test: {
    include: ['test/chaos/**/*.test.ts'],
    pool: 'forks',
    fileParallelism: false,
    maxWorkers: 1,
    testTimeout: 300_000,
    hookTimeout: 120_000,
    globalSetup: ['test/support/global-setup.ts', 'test/chaos/global-setup.ts'],
    reporters: ['default'],
  },
});
