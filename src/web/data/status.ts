/**
 * The public status panel of the marketing site: two signals, with no host names or other internals.
 *  - mark prices: fresh when every symbol that needs one (listed and TRADING, or holding an open position:
 *    the same set as the health check) has a mark price younger than 60 s
 *    (`exchange_symbol_prices.mark_price_synced_at`, written by the price stream);
 *  - dispatcher: up when a step set ticked within 2 minutes or is idle with a live daemon heartbeat
 *    (src/web/data/dispatcher.ts); down when the kill switch is on or the daemon reports itself gated.
 * The web caches the result (STATUS_CACHE_SECONDS) and serves it to every visitor from memory.
 */
import { readDispatcher } from './dispatcher.js';
import { readMarkPriceFreshness } from './streams.js';
import type { DataContext } from './context.js';
import { errorMessage } from '../../support/errors.js';

export const STATUS_CACHE_SECONDS = 15;

export type SignalState = 'ok' | 'degraded' | 'down' | 'unknown';

export interface PublicStatus {
  generated_at: string;
  overall: SignalState;
  mark_prices: { state: SignalState; label: string; symbols: number; stale: number; newest_age_seconds: number | null };
  dispatcher: { state: SignalState; label: string };
}

export async function readPublicStatus(ctx: DataContext): Promise<PublicStatus> {
  let mark: PublicStatus['mark_prices'];
  try {
    const m = await readMarkPriceFreshness(ctx);
    if (m.symbols === 0 || m.withPrice === 0) mark = { state: 'unknown', label: 'No mark prices received yet', symbols: m.symbols, stale: m.stale, newest_age_seconds: m.newestAgeSeconds };
    else if (m.stale === 0) mark = { state: 'ok', label: `Fresh: ${m.symbols} symbols updated within 60 s`, symbols: m.symbols, stale: 0, newest_age_seconds: m.newestAgeSeconds };
    else if (m.stale < m.symbols) mark = { state: 'degraded', label: `${m.stale} of ${m.symbols} symbols older than 60 s`, symbols: m.symbols, stale: m.stale, newest_age_seconds: m.newestAgeSeconds };
    else mark = { state: 'down', label: 'Mark prices are older than 60 s', symbols: m.symbols, stale: m.stale, newest_age_seconds: m.newestAgeSeconds };
  } catch (err) {
    ctx.log.warn('public status: mark prices unreadable', { err });
    mark = { state: 'unknown', label: `Unavailable (${errorMessage(err).slice(0, 60)})`, symbols: 0, stale: 0, newest_age_seconds: null };
  }

  let dispatcher: PublicStatus['dispatcher'];
  try {
    const d = await readDispatcher(ctx);
    const states = d.sets.filter((s) => s.installed).map((s) => s.status);
    if (d.killSwitch) dispatcher = { state: 'down', label: 'Dispatch switched off' };
    else if (d.daemon?.gate) dispatcher = { state: 'down', label: 'Not dispatching' }; // gated: frozen, or its cycle keeps failing
    else if (!states.length) dispatcher = { state: 'unknown', label: 'Not running yet' };
    else if (states.includes('stalled')) dispatcher = { state: 'down', label: 'Stalled' };
    else if (states.includes('paused')) dispatcher = { state: 'degraded', label: 'Paused for maintenance' };
    else if (states.some((s) => s === 'running' || s === 'idle') && (d.daemon || states.includes('running'))) dispatcher = { state: 'ok', label: 'Up' };
    else dispatcher = { state: 'unknown', label: 'Not running' };
  } catch (err) {
    ctx.log.warn('public status: dispatcher unreadable', { err });
    dispatcher = { state: 'unknown', label: 'Unavailable' };
  }

  const rank: Record<SignalState, number> = { ok: 0, unknown: 1, degraded: 2, down: 3 };
  const worst = [mark.state, dispatcher.state].sort((a, b) => rank[b] - rank[a])[0]!;
  return { generated_at: new Date(ctx.clock.now()).toISOString(), overall: worst, mark_prices: mark, dispatcher };
}
