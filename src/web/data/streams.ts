/**
 * The Binance streams (issue 5) as seen from outside:
 *  - heartbeat `<prefix>:heartbeat:stream-user-data:<host>` {accounts_total, accounts_connected,
 *    accounts: {<id>: {connected, last_frame_at, listen_key_status (active | expired | changing), reconnects}},
 *    dead_letters_pending, sink_mode, …};
 *  - heartbeat `<prefix>:heartbeat:stream-prices:<host>` {connected, last_frame_at, last_flush_at, symbols_known, …};
 *  - SQL `binance_listen_keys` (keep-alive status success | failure, failure_count, last_keep_alive_at,
 *    last_frame_at) per account: listenKeyOverview() in src/db/repositories/listen-keys.ts (never the key);
 *  - SQL mark-price freshness over the symbols that need a price: markPriceFreshness() in
 *    src/db/repositories/health.ts, the same set the health check counts.
 * All foundation tables exist from migration 0001; the heartbeats are absent until the daemons run.
 */
import { readHeartbeats, type Heartbeat } from '../../support/heartbeat.js';
import { toBool, toNumber } from '../../support/sql-values.js';
import { listenKeyOverview } from '../../db/repositories/listen-keys.js';
import { markPriceFreshness } from '../../db/repositories/health.js';
import { ageSeconds, section, type Section } from './safe.js';
import type { DataContext } from './context.js';

export const MARK_PRICE_STALE_SECONDS = 60;

export interface StreamAccount {
  id: number;
  name: string;
  active: boolean;
  /** From the user-data heartbeat; null when the daemon does not hold this account (or is not running). */
  connected: boolean | null;
  lastFrameAgeSeconds: number | null;
  /** The daemon's view of the key (heartbeat): active, expired or changing. */
  socketKeyStatus: string | null;
  /** Whether a binance_listen_keys row exists. */
  hasKey: boolean;
  /** The keepalive cron's last outcome (SQL): success or failure. */
  keepAliveStatus: string | null;
  keepAliveAgeSeconds: number | null;
  failureCount: number | null;
  reconnects: number | null;
}

export interface StreamsView {
  userData: { running: boolean; host: string | null; heartbeatAgeSeconds: number | null; accountsTotal: number | null; accountsConnected: number | null; deadLettersPending: number | null };
  prices: { running: boolean; host: string | null; connected: boolean | null; lastFrameAgeSeconds: number | null; lastFlushAgeSeconds: number | null; symbolsKnown: number | null };
  accounts: StreamAccount[];
  markPrices: { symbols: number; withPrice: number; stale: number; newestAgeSeconds: number | null };
}

function newest(beats: Heartbeat[]): Heartbeat | null {
  return beats.sort((a, b) => Date.parse(b.at) - Date.parse(a.at))[0] ?? null;
}

export async function readMarkPriceFreshness(ctx: DataContext): Promise<StreamsView['markPrices']> {
  const now = ctx.clock.now();
  const f = await markPriceFreshness(ctx.db, new Date(now - MARK_PRICE_STALE_SECONDS * 1000));
  return { symbols: f.symbols, withPrice: f.withPrice, stale: f.stale, newestAgeSeconds: ageSeconds(now, f.newest) };
}

export async function readStreams(ctx: DataContext): Promise<StreamsView> {
  const now = ctx.clock.now();
  const ud = newest(await readHeartbeats(ctx.redis, ctx.prefix, 'stream-user-data'));
  const pr = newest(await readHeartbeats(ctx.redis, ctx.prefix, 'stream-prices'));
  const hbAccounts = (ud?.accounts ?? {}) as Record<string, { connected?: unknown; last_frame_at?: string; listen_key_status?: string; reconnects?: unknown }>;

  const accounts: StreamAccount[] = (await listenKeyOverview(ctx.db)).map((r) => {
    const hb = hbAccounts[String(r.accountId)];
    const frameHb = hb?.last_frame_at ? Date.parse(hb.last_frame_at) : NaN;
    const frameSql = r.lastFrameAt?.getTime() ?? NaN;
    const frame = Math.max(Number.isFinite(frameHb) ? frameHb : -Infinity, Number.isFinite(frameSql) ? frameSql : -Infinity);
    return {
      id: r.accountId,
      name: r.name,
      active: r.isActive,
      connected: hb ? toBool(hb.connected) : null,
      lastFrameAgeSeconds: Number.isFinite(frame) ? ageSeconds(now, frame) : null,
      socketKeyStatus: typeof hb?.listen_key_status === 'string' ? hb.listen_key_status : null,
      hasKey: r.hasKey,
      keepAliveStatus: r.lastKeepAliveStatus,
      keepAliveAgeSeconds: ageSeconds(now, r.lastKeepAliveAt),
      failureCount: r.failureCount,
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
      symbolsKnown: pr ? toNumber(pr.symbols_known) : null,
    },
    accounts,
    markPrices: await readMarkPriceFreshness(ctx),
  };
}

export function streamsSection(ctx: DataContext): Promise<Section<StreamsView>> {
  return section('streams', ctx.log, () => readStreams(ctx));
}
