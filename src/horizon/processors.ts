/**
 * Processors the horizon pool contributes to the registry (src/queue/processors.ts): the `reconcile` queue
 * runs processReconcileJob (src/binance/reconcile.ts) with Binance dependencies built once per process.
 */
import { registerProcessor } from '../queue/processors.js';
import type { BinanceDeps } from '../binance/context.js';

let deps: Promise<BinanceDeps> | null = null;

registerProcessor('reconcile', async (job, ctx) => {
  const [{ processReconcileJob }, { binanceDeps }, { Runtime }] = await Promise.all([import('../binance/reconcile.js'), import('../binance/context.js'), import('../runtime.js')]);
  deps ??= binanceDeps(new Runtime({ config: ctx.config, clock: ctx.clock, component: 'horizon:reconcile' }), { redis: ctx.redis, component: 'reconcile' });
  return processReconcileJob(job, await deps);
});
