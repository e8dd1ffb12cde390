/** Event-loop delay for the daemons' heartbeats: every socket of a process waits behind a stall. */
import type { IntervalHistogram } from 'node:perf_hooks';

/** p50/p99/max of the histogram in ms, then reset it for the next window. */
export function loopDelayMs(h: IntervalHistogram): { p50: number; p99: number; max: number } {
  const ms = (ns: number) => Math.round((Number.isFinite(ns) ? ns : 0) / 1e4) / 100;
  const out = { p50: ms(h.percentile(50)), p99: ms(h.percentile(99)), max: ms(h.max) };
  h.reset();
  return out;
}
