/**
 * Demo steps for `bin/artisan dev`: a few blocks on the `default` queue of the default step set, so the
 * step browser and the dispatcher pages have something to show from the first second. Idempotent: nothing
 * is added when a step labelled "demo" already exists. The dev box keeps adding blocks while it runs
 * (src/ops/dev/activity.ts) through the same function.
 */
import type { Knex } from 'knex';
import type { Steps, StepSpec } from '../../steps/api.js';

export const DEMO_STEP_LABEL = 'demo';

/** One demo block: a no-op, then two sleeps in parallel, then a no-op (index order), all on `default`. */
export function demoBlock(n: number): StepSpec[] {
  const common = { label: DEMO_STEP_LABEL, queue: 'default' } as const;
  return [
    { ...common, class: 'noop', index: 1, arguments: { demo: n } },
    { ...common, class: 'sleep', index: 2, arguments: { ms: 300 } },
    { ...common, class: 'sleep', index: 2, arguments: { ms: 600 } },
    { ...common, class: 'noop', index: 3, arguments: { demo: n, last: true } },
  ];
}

export async function createDemoSteps(steps: Steps, blocks: number, first = 1): Promise<number> {
  let created = 0;
  for (let i = 0; i < blocks; i++) created += (await steps.createBlock(demoBlock(first + i))).ids.length;
  return created;
}

/** Seed three demo blocks once. Returns the number of steps created (0 when already seeded). */
export async function seedDemoSteps(db: Knex, steps: Steps): Promise<number> {
  const existing = await db(steps.tables.steps).where({ label: DEMO_STEP_LABEL }).first('id');
  if (existing) return 0;
  return createDemoSteps(steps, 3);
}
