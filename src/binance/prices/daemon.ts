/**
 * `kraite:stream-binance-prices`: one public socket to `/market/stream?streams=!markPrice@arr@1s`.
 *
 *  - Frames are coalesced: each one is a full snapshot, so valid prices are merged into a pending map
 *    and written once per `writeIntervalMs` (1 s by default), in one UPDATE … CASE per chunk of 500.
 *  - Only changed prices are written, plus unchanged ones older than `unchangedRewriteMs`, so that
 *    mark_price_synced_at stays a truthful freshness signal without rewriting 2,000 rows a second.
 *  - null, zero, negative and non-numeric prices are skipped: the previous value and its timestamp stay.
 *  - Symbols not in the database are ignored; the symbol map is reloaded every 5 min.
 *  - The socket reconnects with back-off and jitter; an idle watchdog (30 s, pings do not count) catches a
 *    silent socket; with no data frame for `noDataExitMs` (300 s) the daemon exits so supervisor starts
 *    a clean process.
 */
import type { Redis } from 'ioredis';
import type { RawData } from 'ws';
import { writeHeartbeat } from '../../support/heartbeat.js';
import { errorMessage } from '../../support/errors.js';
import { isPositiveDecimal, normalizeDecimal } from '../../support/decimal.js';
import { knownSymbols, writeMarkPrices, type KnownSymbol, type PriceWrite } from '../../db/repositories/mark-prices.js';
import { ALERTS, PRICES_DEFAULTS, RECONNECT_DEFAULTS, WS_PATHS } from '../constants.js';
import { safeNotify, type BinanceDeps } from '../context.js';
import { ReconnectingSocket } from '../ws/reconnecting-socket.js';
import { loopDelayMonitor, loopDelayMs } from '../loop-delay.js';
import { decodeMarkFrame } from '../decode.js';
import type { BackoffOptions } from '../ws/backoff.js';

export type PriceTimings = { -readonly [K in keyof typeof PRICES_DEFAULTS]: number } & { heartbeatIntervalMs: number };
export type PriceExitReason = 'signal' | 'no-data' | 'frozen';

export interface PriceDaemonOptions {
  deps: Pick<BinanceDeps, 'db' | 'clock' | 'log' | 'notifier' | 'wsUrl'>;
  redis: Redis;
  prefix: string;
  hostname: string;
  timings?: Partial<PriceTimings>;
  backoff?: BackoffOptions;
  random?: () => number;
  isFrozen?: () => boolean;
}

export interface FlushResult {
  written: number;
  statements: number;
  ms: number;
}

export interface PriceStats {
  frames: number;
  badFrames: number;
  skippedPrices: number;
  unknownSymbols: number;
  flushes: number;
  rowsWritten: number;
  lastFlushMs: number | null;
  lastFlushAt: number | null;
}

export class MarkPriceDaemon {
  readonly timings: PriceTimings;
  readonly stats: PriceStats = { frames: 0, badFrames: 0, skippedPrices: 0, unknownSymbols: 0, flushes: 0, rowsWritten: 0, lastFlushMs: null, lastFlushAt: null };
  private symbols = new Map<string, KnownSymbol>();
  private symbolsLoadedAt = -Infinity;
  private readonly pending = new Map<string, string>();
  private readonly socket: ReconnectingSocket;
  private readonly stop = new AbortController();
  private exitReason: PriceExitReason = 'signal';
  private lastDataAt: number;
  private readonly startedAt: number;
  private flushing: Promise<FlushResult> | null = null;
  private readonly loopDelay = loopDelayMonitor();

  constructor(private readonly opts: PriceDaemonOptions) {
    this.timings = { ...PRICES_DEFAULTS, heartbeatIntervalMs: 10_000, ...opts.timings };
    const { deps } = opts;
    this.startedAt = this.lastDataAt = deps.clock.now();
    this.socket = new ReconnectingSocket({
      name: 'mark-price',
      clock: deps.clock,
      log: deps.log.child('socket'),
      url: () => `${deps.wsUrl}${WS_PATHS.markPriceStream}`,
      onMessage: (data, isBinary) => this.onFrame(data, isBinary),
      onOpen: (info) => {
        deps.log.info('mark-price socket open', { reconnect: info.reconnect, rotation: info.rotation });
        void this.healthTick();
      },
      onStorm: (failures, lastError) => void safeNotify(deps, { canonical: ALERTS.reconnectStorm, key: 'mark-price', severity: 'high', title: `Mark-price socket failed ${failures} times in a row`, context: { failures, error: lastError } }),
      onIdle: (silentMs) => void safeNotify(deps, { canonical: ALERTS.reconnectTriggered, key: 'mark-price', severity: 'warning', title: 'Mark-price socket was silent; reconnecting', context: { silent_ms: silentMs } }),
      random: opts.random,
      backoff: opts.backoff,
      stormThreshold: RECONNECT_DEFAULTS.stormThreshold,
      idleTimeoutMs: this.timings.idleTimeoutMs,
      pingsCountAsAlive: false,
      pingIntervalMs: 0,
      pongTimeoutMs: 10_000,
      rotateAfterMs: 23 * 3_600_000 + 50 * 60_000,
    });
  }

  requestStop(reason: PriceExitReason = 'signal'): void {
    if (!this.stop.signal.aborted) this.exitReason = reason;
    this.stop.abort();
  }

  get connected(): boolean {
    return this.socket.connected;
  }

  /** Load the symbol map and open the socket. */
  async start(): Promise<void> {
    this.loopDelay.enable();
    await this.refreshSymbols();
    this.socket.start();
  }

  async run(): Promise<PriceExitReason> {
    await this.start();
    const t = this.timings;
    await Promise.all([
      this.every(t.writeIntervalMs, () => this.flush()),
      this.every(t.heartbeatIntervalMs, () => this.healthTick(), true),
      this.every(Math.min(10_000, Math.max(1, Math.floor(t.noDataExitMs / 10))), () => this.checkNoData()),
    ]);
    await this.close();
    return this.exitReason;
  }

  /** One flush and one health check. */
  async tick(): Promise<void> {
    await this.flush();
    await this.healthTick();
  }

  private async every(ms: number, fn: () => Promise<unknown>, immediate = false): Promise<void> {
    for (let first = true; !this.stop.signal.aborted; first = false) {
      if (!(first && immediate)) {
        try {
          await this.opts.deps.clock.sleep(ms, this.stop.signal);
        } catch {
          return; // stopping
        }
      }
      try {
        await fn();
      } catch (err) {
        this.opts.deps.log.error('price daemon step failed', { error: errorMessage(err) });
      }
    }
  }

  async refreshSymbols(): Promise<void> {
    this.symbols = await knownSymbols(this.opts.deps.db);
    this.symbolsLoadedAt = this.opts.deps.clock.now();
  }

  /** Parse a frame and merge its valid prices into the pending snapshot. */
  onFrame(data: RawData, isBinary: boolean): void {
    const { log, clock } = this.opts.deps;
    const entries = decodeMarkFrame(data, isBinary);
    if (!entries) {
      this.stats.badFrames++;
      log.warn('mark-price frame is not a snapshot; dropped');
      return;
    }
    this.stats.frames++;
    this.lastDataAt = clock.now();
    for (const e of entries as Array<{ s?: unknown; p?: unknown }>) {
      if (!e || typeof e.s !== 'string') {
        this.stats.skippedPrices++;
        continue;
      }
      if (!this.symbols.has(e.s)) {
        this.stats.unknownSymbols++;
        continue;
      }
      if (!isPositiveDecimal(e.p)) {
        this.stats.skippedPrices++;
        continue;
      }
      this.pending.set(e.s, normalizeDecimal(e.p)!);
    }
  }

  /** Write the pending snapshot: changed prices (and stale unchanged ones), one statement per chunk. */
  flush(): Promise<FlushResult> {
    this.flushing ??= this.doFlush().finally(() => {
      this.flushing = null;
    });
    return this.flushing;
  }

  private async doFlush(): Promise<FlushResult> {
    const { clock, db } = this.opts.deps;
    if (clock.now() - this.symbolsLoadedAt >= this.timings.symbolRefreshMs) await this.refreshSymbols();
    const now = clock.now();
    const rows: PriceWrite[] = [];
    const written: KnownSymbol[] = [];
    for (const [symbol, price] of this.pending) {
      const known = this.symbols.get(symbol);
      if (!known) continue;
      const fresh = known.syncedAt && now - known.syncedAt.getTime() < this.timings.unchangedRewriteMs;
      if (known.markPrice === price && fresh) continue;
      rows.push({ id: known.id, price });
      written.push(known);
    }
    this.pending.clear();
    if (rows.length === 0) return { written: 0, statements: 0, ms: 0 };
    const t0 = performance.now();
    const at = new Date(now);
    const statements = await writeMarkPrices(db, rows, at, this.timings.chunkSize);
    const ms = performance.now() - t0;
    rows.forEach((r, i) => {
      written[i]!.markPrice = r.price;
      written[i]!.syncedAt = at;
    });
    this.stats.flushes++;
    this.stats.rowsWritten += rows.length;
    this.stats.lastFlushMs = ms;
    this.stats.lastFlushAt = now;
    return { written: rows.length, statements, ms };
  }

  /** True (and the daemon stops) when no data frame arrived for noDataExitMs. */
  async checkNoData(): Promise<boolean> {
    const silent = this.opts.deps.clock.now() - this.lastDataAt;
    if (silent < this.timings.noDataExitMs) return false;
    this.opts.deps.log.error('no mark-price data; exiting so supervisor starts a clean process', { silent_ms: silent });
    await safeNotify(this.opts.deps, { canonical: ALERTS.pricesNoData, severity: 'high', title: `No mark-price data for ${Math.round(silent / 1000)} s; the price daemon restarts`, context: { silent_ms: silent } });
    this.requestStop('no-data');
    return true;
  }

  async healthTick(): Promise<void> {
    if (this.opts.isFrozen?.()) {
      this.requestStop('frozen');
      return;
    }
    const { deps } = this.opts;
    await writeHeartbeat(this.opts.redis, this.opts.prefix, { daemon: 'stream-prices', host: this.opts.hostname, pid: process.pid, started_at: new Date(this.startedAt).toISOString(), at: new Date(deps.clock.now()).toISOString(), ...this.heartbeat() }, (this.timings.heartbeatIntervalMs / 1000) * 3).catch((err: unknown) =>
      deps.log.warn('could not write the heartbeat', { error: errorMessage(err) }),
    );
  }

  heartbeat(): Record<string, unknown> {
    const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());
    return {
      connected: this.socket.connected,
      last_frame_at: iso(this.socket.stats.lastDataAt),
      last_flush_at: iso(this.stats.lastFlushAt),
      symbols_known: this.symbols.size,
      flushes: this.stats.flushes,
      last_flush_ms: this.stats.lastFlushMs === null ? null : Math.round(this.stats.lastFlushMs * 100) / 100,
      rows_written: this.stats.rowsWritten,
      skipped_prices: this.stats.skippedPrices,
      unknown_symbols: this.stats.unknownSymbols,
      event_loop_delay_ms: loopDelayMs(this.loopDelay),
    };
  }

  async close(): Promise<void> {
    this.stop.abort();
    this.loopDelay.disable();
    await this.socket.close(1000, 'shutdown');
    await this.flush().catch((err: unknown) => this.opts.deps.log.warn('last flush failed', { error: errorMessage(err) }));
  }
}
