/**
 * Step classes for tests, demos and benchmarks:
 *  - noop:  does nothing; returns {ok: true}.
 *  - sleep: waits `ms` (default 1000) on the injected clock, aborting on timeout or shutdown.
 *  - fail:  throws `message`. With `times: N` it fails only while the step's retries < N, then succeeds.
 *           `policy` ('retry' | 'fail' | 'ignore', default 'fail') is its exception policy, `backoff_ms`
 *           its retry delay (default 10 000). Its retry budget is the class default, 3.
 */
import { registerStepClass } from '../registry.js';

registerStepClass({
  name: 'noop',
  retries: 3,
  async compute() {
    return { ok: true };
  },
});

registerStepClass({
  name: 'sleep',
  retries: 3,
  async compute(ctx) {
    const ms = Number(ctx.args.ms ?? 1000);
    if (!Number.isFinite(ms) || ms < 0) ctx.fail(`sleep: ms must be a number ≥ 0, got ${String(ctx.args.ms)}`);
    await ctx.clock.sleep(ms, ctx.signal);
    return { slept_ms: ms };
  },
});

registerStepClass({
  name: 'fail',
  retries: 3,
  backoffMs: (_retries, step) => Number(step.arguments?.backoff_ms ?? 10_000),
  onException: (_err, step) => {
    const p = step.arguments?.policy;
    return p === 'retry' || p === 'ignore' ? p : 'fail';
  },
  async compute(ctx) {
    const times = ctx.args.times === undefined ? Infinity : Number(ctx.args.times);
    if (ctx.step.retries < times) throw new Error(String(ctx.args.message ?? 'fail step: failing on purpose'));
    return { recovered_after: ctx.step.retries };
  },
});
