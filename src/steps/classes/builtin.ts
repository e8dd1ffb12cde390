/**
 * Step classes for tests, demos and benchmarks:
 *  - noop:  does nothing; returns {ok: true}.
 *  - sleep: waits `ms` (default 1000) on the injected clock, aborting on timeout or shutdown.
 *  - fail:  throws `message`. With `times: N` it fails only while the step's retries < N, then succeeds.
 *           `policy` ('retry' | 'fail' | 'ignore', default 'fail') is its exception policy, `backoff_ms`
 *           its retry delay (default 10 000). Its retry budget is the class default, 3.
 *  - record: appends one JSON line {step_id, retries, host, pid, at} per execution to the Redis list
 *           <REDIS_PREFIX>:steps:record:<key> (`key` argument, default "default"; TTL 1 day), so a test or
 *           an operator can count how often each step ran and where. Optional `ms`: wait that long first.
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

export const RECORD_TTL_SECONDS = 86_400;

/** The list the `record` class appends to. */
export function recordListKey(redisPrefix: string, key = 'default'): string {
  return `${redisPrefix}:steps:record:${key}`;
}

registerStepClass({
  name: 'record',
  retries: 3,
  async compute(ctx) {
    const key = String(ctx.args.key ?? 'default');
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(key)) ctx.fail(`record: key must be 1-64 letters, digits, "_", "." or "-", got ${JSON.stringify(ctx.args.key)}`);
    const ms = Number(ctx.args.ms ?? 0);
    if (!Number.isFinite(ms) || ms < 0) ctx.fail(`record: ms must be a number ≥ 0, got ${String(ctx.args.ms)}`);
    if (ms > 0) await ctx.clock.sleep(ms, ctx.signal);
    const list = recordListKey(ctx.redisPrefix, key);
    const line = JSON.stringify({ step_id: ctx.step.id, retries: ctx.step.retries, host: ctx.hostname, pid: process.pid, at: new Date(ctx.clock.now()).toISOString() });
    const res = await ctx.redis.multi().rpush(list, line).expire(list, RECORD_TTL_SECONDS).exec();
    const failed = res?.find(([err]) => err)?.[0];
    if (!res || failed) throw failed ?? new Error('record: the Redis transaction was aborted');
    return { recorded: key };
  },
});
