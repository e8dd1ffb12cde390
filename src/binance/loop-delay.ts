/** Event-loop delay for the daemons' heartbeats: every socket of a process waits behind a stall. */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';

/** Sampling interval of the histogram; Node reports each sample as interval + delay. */
export const LOOP_DELAY_RESOLUTION_MS = 10;

export function loopDelayMonitor(): IntervalHistogram {
  return monitorEventLoopDelay({ resolution: LOOP_DELAY_RESOLUTION_MS });
}

/** p50/p99/max of the extra delay (beyond the sampling interval) in ms, then reset for the next window. */
export function loopDelayMs(h: IntervalHistogram): { p50: number; p99: number; max: number } {
  const ms = (ns: number) => Math.max(0, Math.round(((Number.isFinite(ns) ? ns : 0) / 1e6 - LOOP_DELAY_RESOLUTION_MS) * 100) / 100);
  const out = { p50: ms(h.percentile(50)), p99: ms(h.percentile(99)), max: ms(h.max) };
  h.reset();
  return out;
}
