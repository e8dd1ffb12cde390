/**
 * The Binance streams (issue 5) as seen from outside:
 *  - heartbeat `<prefix>:heartbeat:stream-user-data:<host>` {accounts_total, accounts_connected,
 *    accounts: {<id>: {connected, last_frame_at, listen_key_status, reconnects}}, dead_letters_pending};
 *  - heartbeat `<prefix>:heartbeat:stream-prices:<host>` {connected, last_frame_at, last_flush_at, symbols_known, …};
 *  - SQL `binance_listen_keys` (last_keep_alive_at/status, failure_count, last_frame_at) joined to `accounts`;
 *  - SQL `exchange_symbol_prices.mark_price_synced_at` (a mark price older than 60 s is stale).
 * All foundation tables exist from migration 0001; the heartbeats are absent until the daemons run.
 */
import { readHeartbeats, type Heartbeat } from '../../support/heartbeat.js';
import { toBool, toDate, toNumber } from '../../support/sql-values.js';
import { ageSeconds, section, type Section } from './safe.js';
import type { DataContext } from './context.js';

export const MARK_PRICE_STALE_SECONDS = 60;

export interface StreamAccount {
  id: number;
  name: string;
  active: boolean;
  connected: boolean | null;
  lastFrameAgeSeconds: number | null;
  listenKeyStatus: string | null;
  keepAliveAgeSeconds: number | null;
  failureCount: number | null;
  reconnects: number | null;
}

export interface StreamsView {
  userData: { running: boolean; host: string | null; heartbeatAgeSeconds: number | null; accountsTotal: number | null; accountsConnected: number | null; deadLettersPending: number | null };
  prices: { running: boolean; host: string | null; connected: boolean | null; lastFrameAgeSeconds: number | null; lastFlushAgeSeconds: number | null };
  accounts: StreamAccount[];
  markPrices: { symbols: number; withPrice: number; stale: number; newestAgeSeconds: number | null };
}

function newest(beats: Heartbeat[]): Heartbeat | null {
  return beats.sort((a, b) => Date.parse(b.at) - Date.parse(a.at))[0] ?? null;
}

export async function readMarkPriceFreshness(ctx: DataContext): Promise<StreamsView['markPrices']> {
  const now = ctx.clock.now();
  const cutoff = new Date(now - MARK_PRICE_STALE_SECONDS * 1000);
  const row = (await ctx.db('exchange_symbols as s')
    .leftJoin('exchange_symbol_prices as p', 'p.exchange_symbol_id', 's.id')
    .whereNull('s.delisted_at')
    .select(
      ctx.db.raw('count(*) as symbols'),
      ctx.db.raw('count(p.mark_price) as with_price'),
      ctx.db.raw('sum(case when p.mark_price_synced_at is null or p.mark_price_synced_at < ? then 1 else 0 end) as stale', [cutoff]),
      ctx.db.raw('max(p.mark_price_synced_at) as newest'),
    )
    .first()) as Record<string, unknown> | undefined;
  return {
    symbols: toNumber(row?.symbols) ?? 0,
    withPrice: toNumber(row?.with_price) ?? 0,
    stale: toNumber(row?.stale) ?? 0,
    newestAgeSeconds: ageSeconds(now, toDate(row?.newest)),
  };
}

export async function readStreams(ctx: DataContext): Promise<StreamsView> {
  const now = ctx.clock.now();
  const ud = newest(await readHeartbeats(ctx.redis, ctx.prefix, 'stream-user-data'));
  const pr = newest(await readHeartbeats(ctx.redis, ctx.prefix, 'stream-prices'));
  const hbAccounts = (ud?.accounts ?? {}) as Record<string, { connected?: unknown; last_frame_at?: string; listen_key_status?: string; reconnects?: unknown }>;

  const rows = (await ctx.db('accounts as a')
    .leftJoin('binance_listen_keys as k', 'k.account_id', 'a.id')
    .select('a.id', 'a.name', 'a.is_active', 'k.last_keep_alive_at', 'k.last_keep_alive_status', 'k.failure_count', 'k.last_frame_at', 'k.id as key_id')
    .orderBy('a.id')) as Array<Record<string, unknown>>;
  const accounts: StreamAccount[] = rows.map((r) => {
    const hb = hbAccounts[String(r.id)];
    const frameHb = hb?.last_frame_at ? Date.parse(hb.last_frame_at) : NaN;
    const frameSql = toDate(r.last_frame_at)?.getTime() ?? NaN;
    const frame = Math.max(Number.isFinite(frameHb) ? frameHb : -Infinity, Number.isFinite(frameSql) ? frameSql : -Infinity);
    return {
      id: Number(r.id),
      name: String(r.name),
      active: toBool(r.is_active),
      connected: hb ? toBool(hb.connected) : null,
      lastFrameAgeSeconds: Number.isFinite(frame) ? ageSeconds(now, frame) : null,
      listenKeyStatus: hb?.listen_key_status ?? (r.key_id ? ((r.last_keep_alive_status as string | null) ?? 'unknown') : null),
      keepAliveAgeSeconds: ageSeconds(now, toDate(r.last_keep_alive_at)),
      failureCount: r.key_id ? (toNumber(r.failure_count) ?? 0) : null,
      reconnects: hb ? toNumber(hb.reconnects) : null,
    };
  });

  return {
    userData: {
      running: !!ud,
      host: ud?.host ?? null,
      heartbeatAgeSeconds: ud ? ageSeconds(now, ud.at) : null,
      accountsTotal: ud ? toNumber(ud.accounts_total) : null,
      accountsConnected: ud ? toNumber(ud.accounts_connected) : null,
      deadLettersPending: ud ? toNumber(ud.dead_letters_pending) : null,
    },
    prices: {
      running: !!pr,
      host: pr?.host ?? null,
      connected: pr ? toBool(pr.connected) : null,
      lastFrameAgeSeconds: pr ? ageSeconds(now, (pr.last_frame_at as string | undefined) ?? null) : null,
      lastFlushAgeSeconds: pr ? ageSeconds(now, (pr.last_flush_at as string | undefined) ?? null) : null,
    },
    accounts,
    markPrices: await readMarkPriceFreshness(ctx),
  };
}

export function streamsSection(ctx: DataContext): Promise<Section<StreamsView>> {
  return section('streams', ctx.log, () => readStreams(ctx));
}
