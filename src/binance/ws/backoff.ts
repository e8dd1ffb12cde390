/**
 * Reconnect back-off: min(base × 2^(attempt−1), max), shortened by a random share of up to `jitter`,
 * so 100 sockets dropped together do not reconnect in lock-step (Kraite has no jitter).
 */
import { RECONNECT_DEFAULTS } from '../constants.js';

export interface BackoffOptions {
  baseMs?: number;
  maxMs?: number;
  /** 0 = none, 0.5 = the delay is 50–100 % of the nominal value. */
  jitter?: number;
}

export function backoffDelay(attempt: number, random: () => number, opts: BackoffOptions = {}): number {
  const base = opts.baseMs ?? RECONNECT_DEFAULTS.baseMs;
  const max = opts.maxMs ?? RECONNECT_DEFAULTS.maxMs;
  const jitter = Math.min(1, Math.max(0, opts.jitter ?? RECONNECT_DEFAULTS.jitter));
  const nominal = Math.min(max, base * 2 ** Math.min(Math.max(attempt, 1) - 1, 20));
  return Math.round(nominal * (1 - jitter * random()));
}
