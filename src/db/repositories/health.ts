/**
 * The reads behind `kraite:cron-check-system-health`. Each returns null when its table does not exist
 * (a part of the box that is not installed), so the check can say "unavailable" instead of failing.
 */
import type { Knex } from 'knex';
import { toDate } from '../../support/sql-values.js';

async function has(db: Knex, table: string): Promise<boolean> {
  return db.schema.hasTable(table);
}

export interface StalePrices {
  total: number;
  stale: number;
  samples: string[];
}

/**
 * The symbols that must have a fresh mark price: listed (not delisted) and either TRADING or holding an open
 * position, joined to their price row. Shared by the health check and the admin UI / public status, so both
 * count the same symbols.
 */
function pricedSymbols(db: Knex): Knex.QueryBuilder {
  const openPairs = db('positions').whereNotIn('status', ['closed', 'cancelled', 'failed']).select('exchange_symbol_id');
  return db('exchange_symbols as s')
    .join('exchange_symbol_prices as p', 'p.exchange_symbol_id', 's.id')
    .whereNull('s.delisted_at')
    .where((q) => q.where('s.status', 'TRADING').orWhereIn('s.id', openPairs));
}

/** Listed symbols (status TRADING or holding an open position, not delisted) whose mark price is older than cutoff or missing. */
export async function staleMarkPrices(db: Knex, cutoff: Date): Promise<StalePrices | null> {
  if (!(await has(db, 'exchange_symbol_prices'))) return null;
  const base = pricedSymbols(db);
  const [{ n: total }] = (await base.clone().count({ n: '*' })) as Array<{ n: number | string }>;
  const staleRows: Array<{ symbol: string }> = await base
    .clone()
    .where((q) => q.whereNull('p.mark_price_synced_at').orWhere('p.mark_price_synced_at', '<', cutoff))
    .select('s.symbol')
    .orderBy('s.symbol');
  return { total: Number(total), stale: staleRows.length, samples: staleRows.slice(0, 10).map((r) => r.symbol) };
}

export interface MarkPriceFreshness {
  /** Symbols that must have a fresh mark price (see pricedSymbols). */
  symbols: number;
  /** Of those, how many have a mark price at all. */
  withPrice: number;
  /** Of those, how many have none or one older than the cutoff. */
  stale: number;
  /** The newest mark_price_synced_at among them. */
  newest: Date | null;
}

/** One aggregate over the same symbols as staleMarkPrices(), for the dashboard and the public status. */
export async function markPriceFreshness(db: Knex, cutoff: Date): Promise<MarkPriceFreshness> {
  const row = (await pricedSymbols(db)
    .select(
      db.raw('count(*) as symbols'),
      db.raw('count(p.mark_price) as with_price'),
      db.raw('sum(case when p.mark_price_synced_at is null or p.mark_price_synced_at < ? then 1 else 0 end) as stale', [cutoff]),
      db.raw('max(p.mark_price_synced_at) as newest'),
    )
    .first()) as Record<string, unknown> | undefined;
  return { symbols: Number(row?.symbols ?? 0), withPrice: Number(row?.with_price ?? 0), stale: Number(row?.stale ?? 0), newest: toDate(row?.newest) };
}

export interface DispatcherPulse {
  active: boolean;
  lastTickAt: Date | null;
}

/** Whether a step set has active work, and its newest completed tick. */
export async function dispatcherPulse(db: Knex, stepPrefix: string): Promise<DispatcherPulse | null> {
  const steps = `${stepPrefix}steps`;
  const dispatcher = `${stepPrefix}steps_dispatcher`;
  if (!(await has(db, steps)) || !(await has(db, dispatcher))) return null;
  const row = await db(steps).whereIn('state', ['pending', 'dispatched', 'running']).first('id');
  const [{ t }] = (await db(dispatcher).max({ t: 'last_tick_completed' })) as Array<{ t: unknown }>;
  return { active: !!row, lastTickAt: toDate(t) };
}

/** The newest listen-key keepalive: the keepalive cron runs every minute, so its age tells if the scheduler lives. */
export async function newestKeepAlive(db: Knex): Promise<{ rows: number; newest: Date | null } | null> {
  if (!(await has(db, 'binance_listen_keys'))) return null;
  const [{ n, t }] = (await db('binance_listen_keys').count({ n: '*' }).max({ t: 'last_keep_alive_at' })) as Array<{ n: number | string; t: unknown }>;
  return { rows: Number(n), newest: toDate(t) };
}

export interface FailedJobsStats {
  total: number;
  lastHour: number;
  topQueue: string | null;
  topJob: string | null;
  topException: string | null;
}

export async function failedJobsStats(db: Knex, since: Date): Promise<FailedJobsStats | null> {
  if (!(await has(db, 'failed_jobs'))) return null;
  const [{ n: total }] = (await db('failed_jobs').count({ n: '*' })) as Array<{ n: number | string }>;
  const recent = db('failed_jobs').where('failed_at', '>=', since);
  const [{ n: lastHour }] = (await recent.clone().count({ n: '*' })) as Array<{ n: number | string }>;
  const columns = await db('failed_jobs').columnInfo();
  const jobCol = 'name' in columns ? 'name' : 'job_name' in columns ? 'job_name' : null;
  const top = jobCol
    ? ((await recent.clone().select('queue', jobCol).count({ n: '*' }).groupBy('queue', jobCol).orderBy('n', 'desc').first()) as Record<string, unknown> | undefined)
    : undefined;
  const last = (await recent.clone().orderBy('failed_at', 'desc').first('exception')) as { exception?: string } | undefined;
  return {
    total: Number(total),
    lastHour: Number(lastHour),
    topQueue: top ? String(top.queue) : null,
    topJob: top && jobCol ? String(top[jobCol]) : null,
    topException: last?.exception ? String(last.exception).split('\n')[0]!.slice(0, 200) : null,
  };
}

/** Distinct logical queues that steps use, so queue depth can be checked where work actually goes. */
export async function stepQueues(db: Knex, stepPrefixes: string[]): Promise<string[]> {
  const out = new Set<string>();
  for (const p of stepPrefixes) {
    if (!(await has(db, `${p}steps`))) continue;
    const rows: Array<{ queue: string | null }> = await db(`${p}steps`).distinct('queue');
    for (const r of rows) if (r.queue) out.add(r.queue);
  }
  return [...out].sort();
}

/** Leaf steps still in flight (dispatched or running, not parents) in a step set; null when the set is not installed. */
export async function inFlightLeafSteps(db: Knex, stepPrefix: string): Promise<number | null> {
  const table = `${stepPrefix}steps`;
  if (!(await has(db, table))) return null;
  const [{ n }] = (await db(table).whereIn('state', ['dispatched', 'running']).whereNull('child_block_uuid').count({ n: '*' })) as Array<{ n: number | string }>;
  return Number(n);
}
