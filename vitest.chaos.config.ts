import { defineConfig } from 'vitest/config';

// The fault-injection suite (docs/chaos.md): `npm run test:chaos`. Each scenario file runs a whole box of
// real processes; two files at a time (much of a scenario is waiting: an outage, a reconnect) keeps the
// suite within 8 minutes on a 2-core machine. CHAOS_WORKERS=1 runs them one by one.
export default defineConfig({
  test: {
    include: ['test/chaos/**/*.test.ts'],
    pool: 'forks',
    fileParallelism: Number(process.env.CHAOS_WORKERS ?? 2) > 1,
    maxWorkers: Number(process.env.CHAOS_WORKERS ?? 2),
    testTimeout: 300_000,
    hookTimeout: 120_000,
    globalSetup: ['test/support/global-setup.ts', 'test/chaos/global-setup.ts'],
    reporters: ['default'],
  },
});
