/**
 * Scripted behaviour of the simulator: realistic order lifecycles (NEW → PARTIALLY_FILLED → FILLED,
 * cancels, with TRADE_LITE and ACCOUNT_UPDATE), out-of-order bursts, duplicates, malformed frames, silent
 * order edits (drift), and a load generator for the benchmarks.
 */
import { errorMessage } from '../../support/errors.js';
import { normalizeDecimal, toScaled, fromScaled } from '../../support/decimal.js';
import type { SimAccount } from './accounts.js';
import { accountUpdate, orderTradeUpdate, tradeLite, type SimOrder } from './events.js';
import type { BinanceSimulator } from './simulator.js';

export type LifecycleOutcome = 'fill' | 'partial-fill' | 'cancel' | 'partial-cancel' | 'expire';

export interface LifecycleSpec {
  symbol?: string;
  side?: 'BUY' | 'SELL';
  positionSide?: string;
  type?: 'LIMIT' | 'MARKET';
  qty?: string;
  price?: string;
  outcome?: LifecycleOutcome;
  /** Number of fills for 'fill' (the last one completes the order). Default 2. */
  fills?: number;
  /** Clock time between two steps; 0 sends everything at once. */
  stepMs?: number;
  clientOrderId?: string;
}

/** One frame of a scripted load: sent to `account` (label or API key) as is. */
export interface ScriptedFrame {
  account: number | string;
  event: unknown;
}

export type MalformedKind = 'garbage' | 'truncated' | 'scalar' | 'string' | 'null' | 'empty' | 'binary';

const MALFORMED: Record<MalformedKind, () => string | Buffer> = {
  garbage: () => 'this is not json {',
  truncated: () => '{"e":"ORDER_TRADE_UPDATE","E":17850000',
  scalar: () => '42',
  string: () => '"hello"',
  null: () => 'null',
  empty: () => '',
  binary: () => Buffer.from([0xff, 0xfe, 0x00, 0x01, 0x7b]),
};

interface LoadState {
  running: boolean;
  rate: number;
  sent: number;
  startedAt: number | null;
  endedAt: number | null;
}

export class SimScenarios {
  private nextOrderId = 9_100_000_000;
  private nextTradeId = 5_000_000;
  private load: LoadState = { running: false, rate: 0, sent: 0, startedAt: null, endedAt: null };
  private loadAbort: AbortController | null = null;

  constructor(private readonly sim: BinanceSimulator) {}

  /** Create or overwrite an order without sending any event (to set up drift between DB and exchange). */
  upsertOrder(ref: number | string, o: Partial<SimOrder> & { symbol: string }): SimOrder {
    const acc = this.sim.account(ref);
    const now = this.sim.clock.now();
    const orderId = o.orderId ?? this.nextOrderId++;
    const prev = acc.orders.get(orderId);
    const d = (v: unknown, fallback: string) => normalizeDecimal(v) ?? fallback;
    const order: SimOrder = {
      orderId,
      symbol: o.symbol,
      clientOrderId: o.clientOrderId ?? prev?.clientOrderId ?? `sim-${orderId}`,
      side: o.side ?? prev?.side ?? 'BUY',
      positionSide: o.positionSide ?? prev?.positionSide ?? 'BOTH',
      type: o.type ?? prev?.type ?? 'LIMIT',
      origType: o.origType ?? o.type ?? prev?.origType ?? 'LIMIT',
      timeInForce: o.timeInForce ?? prev?.timeInForce ?? 'GTC',
      price: d(o.price, prev?.price ?? '0.00000000'),
      avgPrice: d(o.avgPrice, prev?.avgPrice ?? '0.00000000'),
      origQty: d(o.origQty, prev?.origQty ?? '1.00000000'),
      executedQty: d(o.executedQty, prev?.executedQty ?? '0.00000000'),
      cumQuote: d(o.cumQuote, prev?.cumQuote ?? '0.00000000'),
      stopPrice: d(o.stopPrice, prev?.stopPrice ?? '0.00000000'),
      status: o.status ?? prev?.status ?? 'NEW',
      reduceOnly: o.reduceOnly ?? prev?.reduceOnly ?? false,
      closePosition: o.closePosition ?? prev?.closePosition ?? false,
      workingType: o.workingType ?? prev?.workingType ?? 'CONTRACT_PRICE',
      time: prev?.time ?? now,
      updateTime: now,
    };
    acc.orders.set(orderId, order);
    return order;
  }

  forgetOrder(ref: number | string, orderId: number): boolean {
    return this.sim.account(ref).orders.delete(orderId);
  }

  private newOrder(acc: SimAccount, spec: LifecycleSpec): SimOrder {
    const sym = this.sim.market.get(spec.symbol ?? 'BTCUSDT') ?? this.sim.market.symbols[0]!;
    const price = spec.price ?? this.sim.market.markPrice(sym);
    return this.upsertOrder(acc.label, {
      symbol: sym.symbol,
      side: spec.side ?? 'BUY',
      positionSide: spec.positionSide ?? 'BOTH',
      type: spec.type ?? 'LIMIT',
      price: spec.type === 'MARKET' ? '0' : price,
      origQty: spec.qty ?? '10',
      clientOrderId: spec.clientOrderId,
      status: 'NEW',
    });
  }

  private fillFrames(acc: SimAccount, o: SimOrder, qty: string, price: string): unknown[] {
    const now = this.sim.clock.now();
    const fill = { qty: normalizeDecimal(qty)!, price: normalizeDecimal(price)!, tradeId: this.nextTradeId++ };
    const pos = acc.applyFill(o, fill.qty, fill.price, now);
    return [tradeLite(o, fill, now), orderTradeUpdate(o, 'TRADE', now, fill), accountUpdate('ORDER', acc.balance, [pos], now)];
  }

  /** Play an order's life on the account's sockets and in its REST state. Resolves after the last frame. */
  async playLifecycle(ref: number | string, spec: LifecycleSpec = {}): Promise<{ orderId: number; frames: number }> {
    const acc = this.sim.account(ref);
    const o = this.newOrder(acc, spec);
    const outcome = spec.outcome ?? 'fill';
    const price = o.type === 'MARKET' ? this.sim.market.markPrice(this.sim.market.get(o.symbol)!) : o.price;
    // Each step builds its frames when it runs, so REST state and events move together.
    const steps: Array<() => unknown[]> = [() => [orderTradeUpdate(o, 'NEW', this.sim.clock.now())]];
    const fill = (qty: string) => () => this.fillFrames(acc, o, qty, price);
    const total = toScaled(o.origQty);
    if (outcome === 'fill') {
      const n = Math.max(1, spec.fills ?? 2);
      let left = total;
      for (let i = 0; i < n; i++) {
        const part = i === n - 1 ? left : total / BigInt(n);
        left -= part;
        steps.push(fill(fromScaled(part)));
      }
    } else if (outcome === 'partial-fill' || outcome === 'partial-cancel') {
      steps.push(fill(fromScaled(total / 2n)));
    }
    if (outcome === 'cancel' || outcome === 'partial-cancel' || outcome === 'expire') {
      steps.push(() => {
        o.status = outcome === 'expire' ? 'EXPIRED' : 'CANCELED';
        o.updateTime = this.sim.clock.now();
        return [orderTradeUpdate(o, outcome === 'expire' ? 'EXPIRED' : 'CANCELED', o.updateTime)];
      });
    }
    let frames = 0;
    for (const [i, step] of steps.entries()) {
      if (i > 0 && spec.stepMs) await this.sim.clock.sleep(spec.stepMs);
      for (const f of step()) frames += this.sim.push(acc, f);
    }
    return { orderId: o.orderId, frames };
  }

  /** PARTIALLY_FILLED arriving after FILLED (the TOSHIUSDT incident), or one frame sent twice. */
  burst(ref: number | string, kind: 'out-of-order' | 'duplicate', spec: LifecycleSpec = {}): { orderId: number; frames: number } {
    const acc = this.sim.account(ref);
    const o = this.newOrder(acc, spec);
    const now = this.sim.clock.now();
    const price = o.price === '0.00000000' ? this.sim.market.markPrice(this.sim.market.get(o.symbol)!) : o.price;
    const frames: unknown[] = [orderTradeUpdate(o, 'NEW', now)];
    if (kind === 'duplicate') {
      frames.push(frames[0]);
    } else {
      const half = fromScaled(toScaled(o.origQty) / 2n);
      const partial = this.fillFrames(acc, o, half, price)[1];
      const filled = this.fillFrames(acc, o, fromScaled(toScaled(o.origQty) - toScaled(half)), price)[1];
      frames.push(filled, partial);
    }
    let n = 0;
    for (const f of frames) n += this.sim.push(acc, f);
    return { orderId: o.orderId, frames: n };
  }

  malformed(ref: number | string, kind: MalformedKind, count = 1): number {
    const make = MALFORMED[kind];
    if (!make) throw new Error(`unknown malformed kind ${kind}`);
    let n = 0;
    for (let i = 0; i < count; i++) n += this.sim.pushRaw(ref, make());
    return n;
  }

  // ---- load generator (benchmarks) ----

  loadState(): LoadState {
    return { ...this.load };
  }

  /**
   * Push `rate` ORDER_TRADE_UPDATE frames per second in total, round-robin over the accounts that have a
   * live socket (or over `accounts`, by label), for `durationMs`. Frames carry a global sequence number in `o.i`.
   */
  startLoad(opts: { rate: number; durationMs: number; tickMs?: number; accounts?: number[]; frames?: ScriptedFrame[] }): void {
    if (opts.frames) return this.playFrames(opts.frames, opts.rate, opts.tickMs ?? 5);
    this.runLoad(opts.rate, 'load generator', async (abort, state, start) => {
      const clock = this.sim.clock;
      let rr = 0;
      let due = 0;
      let listedAt = -Infinity;
      let accounts: SimAccount[] = [];
      const only = opts.accounts ? new Set(opts.accounts) : null;
      while (!abort.signal.aborted && clock.now() - start < opts.durationMs) {
        await clock.sleep(opts.tickMs ?? 5, abort.signal);
        if (clock.now() - listedAt >= 250) {
          // Which accounts have a live socket, refreshed 4 times a second (not per frame: it scans every socket).
          const live = new Set([...this.sim.sockets].filter((s) => s.kind === 'user' && s.ws.readyState === 1).map((s) => s.account!.label));
          accounts = this.sim.accounts().filter((a) => (!only || only.has(a.label)) && live.has(a.label));
          listedAt = clock.now();
        }
        if (accounts.length === 0) continue;
        due = Math.floor(((clock.now() - start) / 1000) * opts.rate);
        while (state.sent < due) {
          const acc = accounts[rr++ % accounts.length]!;
          const now = clock.now();
          this.sim.push(acc, { e: 'ORDER_TRADE_UPDATE', E: now, T: now, o: { s: 'BTCUSDT', c: `load-${state.sent}`, S: 'BUY', o: 'LIMIT', f: 'GTC', q: '0.010', p: '96000.00', ap: '0', sp: '0', x: 'NEW', X: 'NEW', i: state.sent, l: '0', z: '0', L: '0', T: now, t: 0, m: false, R: false, wt: 'CONTRACT_PRICE', ot: 'LIMIT', ps: 'BOTH', cp: false, rp: '0', pP: false, si: 0, ss: 0, V: 'EXPIRE_MAKER', pm: 'NONE', gtd: 0 } });
          state.sent++;
        }
      }
    });
  }

  /**
   * Push the given frames, in order, to their accounts at `rate` per second (the benchmark's script: each
   * frame aimed at a known order). The send schedule is kept by the simulator's clock, so the caller's own
   * load does not shape it. Ends when every frame is sent (or on stopLoad).
   */
  private playFrames(frames: ScriptedFrame[], rate: number, tickMs: number): void {
    this.runLoad(rate, 'frame script', async (abort, state, start) => {
      const clock = this.sim.clock;
      while (!abort.signal.aborted && state.sent < frames.length) {
        const due = Math.min(frames.length, Math.floor(((clock.now() - start) / 1000) * rate) + 1);
        while (state.sent < due) {
          const f = frames[state.sent]!;
          this.sim.push(f.account, f.event);
          state.sent++;
        }
        if (state.sent < frames.length) await clock.sleep(tickMs, abort.signal);
      }
    });
  }

  /** Replace the running load with `body`, which counts its frames in state.sent; errors are logged as `label` failed. */
  private runLoad(rate: number, label: string, body: (abort: AbortController, state: LoadState, start: number) => Promise<void>): void {
    this.stopLoad();
    const abort = (this.loadAbort = new AbortController());
    const start = this.sim.clock.now();
    const state: LoadState = { running: true, rate, sent: 0, startedAt: start, endedAt: null };
    this.load = state;
    body(abort, state, start)
      .catch((err: unknown) => {
        if ((err as Error).name !== 'AbortError') this.sim.log?.error(`${label} failed`, { error: errorMessage(err) });
      })
      .finally(() => {
        state.running = false;
        state.endedAt = this.sim.clock.now();
      });
  }

  stopLoad(): void {
    this.loadAbort?.abort();
    this.loadAbort = null;
  }
}
