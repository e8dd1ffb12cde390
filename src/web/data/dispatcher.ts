/**
 * The step dispatcher as seen from outside (issue 4), per step set:
 *  - SQL `{p}steps` (active work by state), `{p}steps_dispatcher` (group locks, last_tick_completed),
 *    `steps_dispatcher_saturation` (per group per minute; trading rows are named trading_<group>);
 *  - Redis heartbeat `<prefix>:heartbeat:dispatch-daemon:<host>` ({last_cycle_at, ticks_per_sec,
 *    dispatched_per_min, sets: {default|trading: {active, paused, last_tick_at}}});
 *  - Redis dispatch pause flags (src/support/box-flags.ts).
 * Contract: docs/contracts.md "Heartbeats", "SQL tables by owner", "Flags".
 */
import { readHeartbeats, type Heartbeat } from '../../support/heartbeat.js';
import { dispatchPause, type DispatchPause } from '../../support/box-flags.js';
import { toDate, toNumber } from '../../support/sql-values.js';
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
  killSwitch: boolean;
  daemon: { host: string; pid: number; ageSeconds: number | null; lastCycleAgeSeconds: number | null } | null;
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
  for (const s of STEP_SETS) {
    const pause = await dispatchPause(ctx.redis, ctx.prefix, s.prefix);
    const installed = await ctx.probe.has(`${s.prefix}steps`);
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
    const rows = (await ctx.db(`${s.prefix}steps`).select('state').count({ n: '*' }).whereIn('state', ['pending', 'dispatched', 'running']).groupBy('state')) as Array<{ state: string; n: unknown }>;
    const active = { pending: 0, dispatched: 0, running: 0 };
    for (const r of rows) active[r.state as keyof typeof active] = Number(r.n);
    base.active = active;

    let lastTick: number | null = null;
    if (await ctx.probe.has(`${s.prefix}steps_dispatcher`)) {
      const groups = (await ctx.db(`${s.prefix}steps_dispatcher`).select('group', 'can_dispatch', 'last_tick_completed')) as Array<{ group: string | null; can_dispatch: unknown; last_tick_completed: unknown }>;
      base.groups = groups.length;
      base.lockedGroups = groups.filter((g) => !(g.can_dispatch === true || g.can_dispatch === 1 || g.can_dispatch === '1')).length;
      for (const g of groups) {
        const t = toDate(g.last_tick_completed)?.getTime() ?? null;
        if (t !== null && (lastTick === null || t > lastTick)) lastTick = t;
      }
    }
    const hbTick = setsInfo[s.name]?.last_tick_at ? Date.parse(setsInfo[s.name]!.last_tick_at!) : NaN;
    if (Number.isFinite(hbTick) && (lastTick === null || hbTick > lastTick)) lastTick = hbTick;
    base.lastTickAgeSeconds = lastTick === null ? null : ageSeconds(now, lastTick);

    if (await ctx.probe.has('steps_dispatcher_saturation')) {
      const since = new Date(now - 5 * 60_000);
      const rows = (await ctx.db('steps_dispatcher_saturation')
        .where('bucket_started_at', '>=', since)
        .select('group')
        .sum({ observed: 'ticks_observed', leftover: 'ticks_capped_with_leftover' })
        .groupBy('group')) as Array<{ group: string; observed: unknown; leftover: unknown }>;
      let observed = 0;
      let leftover = 0;
      for (const r of rows) {
        const mine = s.prefix ? r.group.startsWith(s.prefix) : !r.group.startsWith('trading_');
        if (!mine) continue;
        observed += toNumber(r.observed) ?? 0;
        leftover += toNumber(r.leftover) ?? 0;
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
  const daemon = beat
    ? { host: beat.host, pid: beat.pid, ageSeconds: ageSeconds(now, beat.at), lastCycleAgeSeconds: ageSeconds(now, (beat.last_cycle_at as string | undefined) ?? null) }
    : null;
  return { killSwitch: !ctx.config.canDispatchSteps, daemon, sets };
}

export function dispatcherSection(ctx: DataContext): Promise<Section<DispatcherView>> {
  return section('dispatcher', ctx.log, () => readDispatcher(ctx));
}
