/**
 * The step dispatcher as seen from outside (issue 4), per step set, through its own repositories:
 *  - `{p}steps` active work by state (countByState), `{p}steps_dispatcher` lane locks and
 *    last_tick_completed (laneLocks), `steps_dispatcher_saturation` per group per minute, trading rows named
 *    trading_<group> (saturationTotals) — src/db/steps/;
 *  - Redis heartbeat `<prefix>:heartbeat:dispatch-daemon:<host>` ({status: running | gated:<why> | stopping,
 *    last_cycle_at, ticks_per_sec, dispatched_per_min, sets: {default|trading: {active, paused, last_tick_at}}});
 *  - Redis dispatch pause flags (src/support/box-flags.ts).
 * Contract: docs/contracts.md "Heartbeats", "SQL tables by owner", "Flags".
 */
import { readHeartbeats, type Heartbeat } from '../../support/heartbeat.js';
import { dispatchPause, type DispatchPause } from '../../support/box-flags.js';
import { toNumber } from '../../support/sql-values.js';
import { countByState } from '../../db/steps/repository.js';
import { laneLocks } from '../../db/steps/browse.js';
import { saturationTotals } from '../../db/steps/saturation.js';
import { ACTIVE } from '../../steps/states.js';
import { SATURATION_TABLE, stepTables } from '../../steps/tables.js';
import { ageSeconds, section, type Section } from './safe.js';
import { STEP_SETS, type DataContext } from './context.js';

/** A dispatcher whose newest tick is older than this is "stalled" (reference: 2 minutes). */
export const TICK_STALE_SECONDS = 120;

export interface DispatcherSet {
  set: string;
  installed: boolean;
  status: 'running' | 'idle' | 'stalled' | 'paused' | 'not running' | 'not installed';
  active: { pending: number; dispatched: number; running: number } | null;
  groups: number;
  lockedGroups: number;
  lastTickAgeSeconds: number | null;
  ticksPerSec: number | null;
  dispatchedPerMin: number | null;
  /** ticks_capped_with_leftover ÷ ticks_observed over the last complete minutes (null without data). */
  saturationPercent: number | null;
  pause: DispatchPause | null;
  heartbeatAgeSeconds: number | null;
  daemonHost: string | null;
}

export interface DispatcherView {
  /** CAN_DISPATCH_STEPS=false on this box, or the daemon reports itself gated by the kill switch. */
  killSwitch: boolean;
  daemon: { host: string; pid: number; status: string | null; gate: string | null; ageSeconds: number | null; lastCycleAgeSeconds: number | null } | null;
  sets: DispatcherSet[];
}

function newestHeartbeat(beats: Heartbeat[]): Heartbeat | null {
  return beats.sort((a, b) => Date.parse(b.at) - Date.parse(a.at))[0] ?? null;
}

export async function readDispatcher(ctx: DataContext): Promise<DispatcherView> {
  const now = ctx.clock.now();
  const beat = newestHeartbeat(await readHeartbeats(ctx.redis, ctx.prefix, 'dispatch-daemon'));
  const setsInfo = (beat?.sets ?? {}) as Record<string, { active?: unknown; paused?: unknown; last_tick_at?: string }>;
  const sets: DispatcherSet[] = [];
  // One read for both sets: the saturation table is shared (trading lanes are named trading_<group>).
  const saturation = (await ctx.probe.has(SATURATION_TABLE)) ? await saturationTotals(ctx.db, now - 5 * 60_000) : null;
  for (const s of STEP_SETS) {
    const t = stepTables(s.prefix);
    const pause = await dispatchPause(ctx.redis, ctx.prefix, s.prefix);
    const installed = await ctx.probe.has(t.steps);
    const base: DispatcherSet = {
      set: s.name,
      installed,
      status: 'not installed',
      active: null,
      groups: 0,
      lockedGroups: 0,
      lastTickAgeSeconds: null,
      ticksPerSec: toNumber(beat?.ticks_per_sec),
      dispatchedPerMin: toNumber(beat?.dispatched_per_min),
      saturationPercent: null,
      pause,
      heartbeatAgeSeconds: beat ? ageSeconds(now, beat.at) : null,
      daemonHost: beat?.host ?? null,
    };
    if (!installed) {
      sets.push(base);
      continue;
    }
    const counts = await countByState(ctx.db, t, ACTIVE);
    const active = { pending: counts.pending ?? 0, dispatched: counts.dispatched ?? 0, running: counts.running ?? 0 };
    base.active = active;

    let lastTick: number | null = null;
    if (await ctx.probe.has(t.dispatcher)) {
      const lanes = await laneLocks(ctx.db, t);
      base.groups = lanes.length;
      base.lockedGroups = lanes.filter((l) => !l.canDispatch).length;
      for (const l of lanes) if (l.lastTickCompleted !== null && (lastTick === null || l.lastTickCompleted > lastTick)) lastTick = l.lastTickCompleted;
    }
    const hbTick = setsInfo[s.name]?.last_tick_at ? Date.parse(setsInfo[s.name]!.last_tick_at!) : NaN;
    if (Number.isFinite(hbTick) && (lastTick === null || hbTick > lastTick)) lastTick = hbTick;
    base.lastTickAgeSeconds = lastTick === null ? null : ageSeconds(now, lastTick);

    if (saturation) {
      let observed = 0;
      let leftover = 0;
      for (const r of saturation) {
        const mine = s.prefix ? r.group.startsWith(s.prefix) : !r.group.startsWith('trading_');
        if (!mine) continue;
        observed += r.observed;
        leftover += r.leftover;
      }
      base.saturationPercent = observed > 0 ? Math.round((leftover / observed) * 1000) / 10 : null;
    }

    const work = active.pending + active.dispatched + active.running;
    const fresh = base.lastTickAgeSeconds !== null && base.lastTickAgeSeconds <= TICK_STALE_SECONDS;
    if (pause) base.status = 'paused';
    else if (fresh) base.status = work > 0 ? 'running' : 'idle';
    else if (beat) base.status = work > 0 ? 'stalled' : 'idle';
    else base.status = work > 0 ? 'stalled' : 'not running';
    sets.push(base);
  }
  const status = typeof beat?.status === 'string' ? beat.status : null;
  const gate = status?.startsWith('gated:') ? status.slice('gated:'.length) : null;
  const daemon = beat
    ? { host: beat.host, pid: beat.pid, status, gate, ageSeconds: ageSeconds(now, beat.at), lastCycleAgeSeconds: ageSeconds(now, (beat.last_cycle_at as string | undefined) ?? null) }
    : null;
  return { killSwitch: !ctx.config.canDispatchSteps || gate === 'kill-switch', daemon, sets };
}

export function dispatcherSection(ctx: DataContext): Promise<Section<DispatcherView>> {
  return section('dispatcher', ctx.log, () => readDispatcher(ctx));
}
