/**
 * A fake Binance USDⓈ-M futures exchange on localhost: REST (./rest.ts), WebSockets (user data on
 * /private/ws?listenKey=…, mark prices on /market/stream) and a control API under /_sim/ (./control.ts).
 *
 * Everything time-based (listen-key expiry, the server's pings and pong deadline, the 24 h connection
 * limit, the mark ticker, scripted lifecycles, load generation) runs on the injected Clock, so tests can
 * share one FakeClock between the simulator and the daemons and compress a day into a few steps.
 *
 * Used by `kraite:simulate-binance`, by the tests in-process (`await BinanceSimulator.start({port: 0})`,
 * then `close()`), and by the benchmarks.
 */
import { setMaxListeners } from 'node:events';
import http from 'node:http';
import { WebSocketServer, WebSocket } from 'ws';
import { systemClock, type Clock } from '../../support/clock.js';
import type { Logger } from '../../support/log.js';
import { errorMessage } from '../../support/errors.js';
import { DEMO_ACCOUNTS, demoCredentials } from '../../db/seed/demo-data.js';
import type { BinancePositionRisk } from '../types.js';
import { SimAccount } from './accounts.js';
import { listenKeyExpired } from './events.js';
import { SimFailures, SimRateLimits } from './limits.js';
import { SimMarket } from './market.js';
import { randomToken, seededRandom, type Random } from './prng.js';
import { restRoutes, serveRest } from './rest.js';
import { serveControl } from './control.js';
import { sendJson } from './http.js';
import { onUpgrade } from './ws-server.js';
import { positionRisk } from './positions.js';
import { SimScenarios } from './scenarios.js';

export interface SimulatorSettings {
  /** Server ping cadence (Binance: 3 min). */
  pingIntervalMs: number;
  /** Close a socket that has not answered a ping within this time (Binance: 10 min). */
  pongDeadlineMs: number;
  /** Server-side cut of every connection (Binance: 24 h). */
  connectionLimitMs: number;
  /** Listen-key validity after creation or keepalive (Binance: 60 min). */
  listenKeyTtlMs: number;
  /** Mark-price frame cadence for !markPrice@arr@1s. */
  markIntervalMs: number;
  weightLimit: number;
  banAfterLimited: number;
  banMs: number;
  /** Add `_simSentAt` (epoch ms, sub-ms precision) to every user-data frame, for the latency benchmark. */
  benchStamps: boolean;
}

export const DEFAULT_SIM_SETTINGS: SimulatorSettings = {
  pingIntervalMs: 180_000,
  pongDeadlineMs: 600_000,
  connectionLimitMs: 86_400_000,
  listenKeyTtlMs: 3_600_000,
  markIntervalMs: 1_000,
  weightLimit: 2400,
  banAfterLimited: 10,
  banMs: 120_000,
  benchStamps: false,
};

export interface SimulatorOptions extends Partial<SimulatorSettings> {
  port?: number;
  host?: string;
  /** Symbols on the exchange: the demo symbols first, synthetic ones after. Default 50. */
  symbols?: number;
  seed?: number;
  clock?: Clock;
  /** Preload demo accounts 1..n with demoCredentials(n) (labels 1..n). Default: the seeded demo accounts. */
  demoAccounts?: number;
  accounts?: Array<{ apiKey: string; apiSecret: string; label?: number }>;
  log?: Logger;
}

export interface SimSocket {
  ws: WebSocket;
  kind: 'user' | 'market';
  account: SimAccount | null;
  listenKey: string | null;
  /** Market sockets: wrap frames in the combined-stream envelope. */
  envelope: boolean;
  openedAt: number;
  lastPongAt: number;
  halfOpen: boolean;
  abort: AbortController;
}

export interface SimCounters {
  restRequests: number;
  restByEndpoint: Record<string, number>;
  connectionAttempts: number;
  marketFramesSent: number;
  marketConnectionsOpened: number;
  rejectedConnections: number;
  /** Connections cut by the connection limit (Binance's 24 h rule). */
  lifetimeCuts: number;
}

const OPEN = WebSocket.OPEN;

export class BinanceSimulator {
  readonly clock: Clock;
  readonly settings: SimulatorSettings;
  readonly market: SimMarket;
  readonly limits: SimRateLimits;
  readonly failures = new SimFailures();
  readonly scenarios: SimScenarios;
  readonly log: Logger | undefined;
  readonly counters: SimCounters = { restRequests: 0, restByEndpoint: {}, connectionAttempts: 0, marketFramesSent: 0, marketConnectionsOpened: 0, rejectedConnections: 0, lifetimeCuts: 0 };
  /** The last REST requests (method path, status, clock time), newest last; for tests. */
  readonly requestLog: Array<{ endpoint: string; status: number; at: number }> = [];
  /** Clock times of WebSocket connection attempts, for stagger checks. */
  readonly connectionLog: Array<{ path: string; at: number }> = [];

  private readonly rand: Random;
  private readonly server: http.Server;
  readonly wss: WebSocketServer;
  private readonly routes;
  private readonly byKey = new Map<string, SimAccount>();
  private readonly byLabel = new Map<number, SimAccount>();
  private readonly byListenKey = new Map<string, SimAccount>();
  private readonly keyTimers = new Map<SimAccount, AbortController>();
  readonly sockets = new Set<SimSocket>();
  private readonly lifetime = new AbortController();
  private markLoopRunning = false;
  /** Test hook: called as soon as a socket is accepted (a push here lands right behind the handshake). */
  onSocketOpen: ((s: SimSocket) => void) | null = null;
  /** Refuse every WebSocket upgrade with 503 (an outage), to test reconnect storms. */
  refuseUpgrades = false;
  private nextLabel = 1;
  private port = 0;

  private constructor(private readonly opts: SimulatorOptions) {
    this.clock = opts.clock ?? systemClock;
    this.log = opts.log;
    setMaxListeners(0, this.lifetime.signal); // the mark loop and every scripted wait listen to it
    this.settings = { ...DEFAULT_SIM_SETTINGS };
    this.configure(opts);
    this.rand = seededRandom(opts.seed ?? 1);
    this.market = new SimMarket(opts.symbols ?? 50, this.rand, this.clock.now());
    this.limits = new SimRateLimits(this.settings);
    this.scenarios = new SimScenarios(this);
    this.routes = restRoutes(this);
    this.wss = new WebSocketServer({ noServer: true, autoPong: false, perMessageDeflate: false });
    this.server = http.createServer((req, res) => this.onRequest(req, res));
    this.server.on('upgrade', (req, socket, head) => onUpgrade(this, req, socket, head));
    const demo = opts.demoAccounts ?? DEMO_ACCOUNTS.length;
    for (let n = 1; n <= demo; n++) this.registerAccount({ ...demoCredentials(n), label: n });
    for (const a of opts.accounts ?? []) this.registerAccount(a);
  }

  /** Start a simulator listening on `port` (0 = any free port). */
  static async start(opts: SimulatorOptions = {}): Promise<BinanceSimulator> {
    const sim = new BinanceSimulator(opts);
    await new Promise<void>((resolve, reject) => {
      sim.server.once('error', reject);
      sim.server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve());
    });
    sim.port = (sim.server.address() as { port: number }).port;
    return sim;
  }

  get restUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get wsUrl(): string {
    return `ws://127.0.0.1:${this.port}`;
  }

  /** Change timing knobs at run time (new values apply to new timers). */
  configure(patch: Partial<SimulatorSettings>): void {
    for (const k of Object.keys(DEFAULT_SIM_SETTINGS) as Array<keyof SimulatorSettings>) {
      const v = patch[k];
      if (v !== undefined) (this.settings as unknown as Record<string, unknown>)[k] = v;
    }
  }

  async close(): Promise<void> {
    this.lifetime.abort();
    this.scenarios.stopLoad();
    for (const c of this.keyTimers.values()) c.abort();
    for (const s of this.sockets) {
      s.abort.abort();
      s.ws.terminate();
    }
    this.sockets.clear();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  // ---- accounts and listen keys ----

  registerAccount(a: { apiKey: string; apiSecret: string; label?: number }): SimAccount {
    const existing = this.byKey.get(a.apiKey);
    if (existing) return existing;
    const label = a.label ?? this.nextLabel;
    if (this.byLabel.has(label)) throw new Error(`account label ${label} is taken`);
    const acc = new SimAccount(label, a.apiKey, a.apiSecret);
    this.byKey.set(a.apiKey, acc);
    this.byLabel.set(label, acc);
    this.nextLabel = Math.max(this.nextLabel, label + 1);
    return acc;
  }

  accountByApiKey(apiKey: string): SimAccount | undefined {
    return this.byKey.get(apiKey);
  }

  /** An account by label (number) or API key (string); throws when unknown. */
  account(ref: number | string): SimAccount {
    const acc = typeof ref === 'number' || /^\d+$/.test(ref) ? this.byLabel.get(Number(ref)) : this.byKey.get(ref);
    if (!acc) throw new Error(`unknown simulated account ${ref}`);
    return acc;
  }

  /** The account whose active key this is, or undefined. */
  accountForListenKey(key: string): SimAccount | undefined {
    const acc = this.byListenKey.get(key);
    return acc && acc.activeKey(this.clock.now())?.key === key ? acc : undefined;
  }

  accounts(): SimAccount[] {
    return [...this.byLabel.values()];
  }

  /** POST /fapi/v1/listenKey: the active key extended by the TTL, or a brand-new one. */
  startListenKey(acc: SimAccount): string {
    const now = this.clock.now();
    if (acc.listenKey && acc.listenKey.expiresAt <= now) this.expireListenKey(acc, true);
    if (!acc.listenKey) {
      acc.listenKey = { key: randomToken(this.rand, 64), expiresAt: 0 };
      this.byListenKey.set(acc.listenKey.key, acc);
    }
    acc.listenKey.expiresAt = now + this.settings.listenKeyTtlMs;
    this.armKeyExpiry(acc);
    return acc.listenKey.key;
  }

  /** PUT /fapi/v1/listenKey: extend the active key; null when there is none (→ -1125). */
  keepAliveListenKey(acc: SimAccount): string | null {
    const now = this.clock.now();
    const k = acc.activeKey(now);
    if (!k) {
      if (acc.listenKey) this.expireListenKey(acc, true);
      return null;
    }
    k.expiresAt = now + this.settings.listenKeyTtlMs;
    this.armKeyExpiry(acc);
    return k.key;
  }

  /**
   * Invalidate the account's key (DELETE, expiry, or the control API). With `notify`, its sockets get
   * `listenKeyExpired` first; either way they stay open but receive nothing more, as on Binance.
   */
  expireListenKey(acc: SimAccount, notify: boolean): string | null {
    const k = acc.listenKey;
    if (!k) return null;
    acc.listenKey = null;
    this.byListenKey.delete(k.key);
    this.keyTimers.get(acc)?.abort();
    this.keyTimers.delete(acc);
    if (notify) this.sendToKey(acc, k.key, listenKeyExpired(k.key, this.clock.now()));
    return k.key;
  }

  private armKeyExpiry(acc: SimAccount): void {
    this.keyTimers.get(acc)?.abort();
    const ctl = new AbortController();
    this.keyTimers.set(acc, ctl);
    const k = acc.listenKey!;
    this.clock.sleep(k.expiresAt - this.clock.now(), ctl.signal).then(
      () => {
        if (acc.listenKey === k && k.expiresAt <= this.clock.now()) this.expireListenKey(acc, true);
      },
      () => undefined, // aborted: the key was extended or removed
    );
  }

  // ---- delivery ----

  private serialise(payload: unknown): string {
    if (!this.settings.benchStamps || !payload || typeof payload !== 'object' || Array.isArray(payload)) return JSON.stringify(payload);
    return JSON.stringify({ ...(payload as Record<string, unknown>), _simSentAt: performance.timeOrigin + performance.now() });
  }

  private sendToKey(acc: SimAccount, key: string, payload: unknown): number {
    let n = 0;
    for (const s of this.sockets) {
      if (s.kind !== 'user' || s.account !== acc || s.listenKey !== key || s.halfOpen || s.ws.readyState !== OPEN) continue;
      s.ws.send(this.serialise(payload));
      n++;
    }
    acc.counters.framesSent += n;
    if (n === 0) acc.counters.framesDropped++;
    return n;
  }

  /** Deliver one user-data event to every live socket of the account's active key. Returns the sockets reached. */
  push(ref: number | string | SimAccount, payload: unknown): number {
    const acc = ref instanceof SimAccount ? ref : this.account(ref);
    const k = acc.activeKey(this.clock.now());
    if (!k) {
      acc.counters.framesDropped++;
      return 0;
    }
    return this.sendToKey(acc, k.key, payload);
  }

  /** Write raw text (malformed on purpose) to the account's live sockets. */
  pushRaw(ref: number | string, text: string | Buffer): number {
    const acc = this.account(ref);
    const k = acc.activeKey(this.clock.now());
    let n = 0;
    for (const s of this.sockets) {
      if (s.kind !== 'user' || s.account !== acc || !k || s.listenKey !== k.key || s.halfOpen || s.ws.readyState !== OPEN) continue;
      s.ws.send(text);
      n++;
    }
    acc.counters.malformedSent += n;
    return n;
  }

  /** Close sockets abruptly (terminate: no close frame) or politely (close with `code`). */
  dropSockets(ref: number | string | null, opts: { kind?: 'user' | 'market'; terminate?: boolean; code?: number } = {}): number {
    const acc = ref === null ? null : this.account(ref);
    let n = 0;
    for (const s of [...this.sockets]) {
      if (acc && s.account !== acc) continue;
      if (opts.kind && s.kind !== opts.kind) continue;
      if (opts.terminate === false) s.ws.close(opts.code ?? 1000, 'closed by the simulator');
      else s.ws.terminate();
      n++;
    }
    return n;
  }

  /** Half-open: the account's current sockets send nothing and answer no pings; TCP stays up. */
  setHalfOpen(ref: number | string, on: boolean): number {
    const acc = this.account(ref);
    let n = 0;
    for (const s of this.sockets) {
      if (s.account === acc) {
        s.halfOpen = on;
        n++;
      }
    }
    return n;
  }

  openSockets(ref?: number | string): SimSocket[] {
    const acc = ref === undefined ? undefined : this.account(ref);
    return [...this.sockets].filter((s) => s.ws.readyState === OPEN && (acc === undefined ? true : s.account === acc));
  }

  // ---- market ----

  /** Step the random walk and send one mark-price frame to every market socket now. */
  tickMark(): number {
    if (this.market.stalled) return 0;
    this.market.step();
    const now = this.clock.now();
    const data = this.market.snapshot(now);
    let enveloped: string | null = null;
    let bare: string | null = null;
    let n = 0;
    for (const s of this.sockets) {
      if (s.kind !== 'market' || s.halfOpen || s.ws.readyState !== OPEN) continue;
      if (s.envelope) s.ws.send((enveloped ??= JSON.stringify({ stream: '!markPrice@arr@1s', data })));
      else s.ws.send((bare ??= JSON.stringify(data)));
      n++;
    }
    this.counters.marketFramesSent += n;
    return n;
  }

  /** Send mark frames while market sockets are connected (started by the first one). */
  async markLoop(): Promise<void> {
    if (this.markLoopRunning) return;
    this.markLoopRunning = true;
    try {
      while (!this.lifetime.signal.aborted && [...this.sockets].some((s) => s.kind === 'market')) {
        await this.clock.sleep(this.settings.markIntervalMs, this.lifetime.signal);
        this.tickMark();
      }
    } catch (err) {
      if ((err as Error).name !== 'AbortError') this.log?.error('mark ticker failed', { error: errorMessage(err) });
    } finally {
      this.markLoopRunning = false;
    }
  }

  positionRisk(acc: SimAccount, symbol: string | null): BinancePositionRisk[] {
    return positionRisk(acc, this.market, symbol);
  }

  // ---- counters ----

  recordRequest(endpoint: string, status: number, at: number): void {
    this.requestLog.push({ endpoint, status, at });
    if (this.requestLog.length > 5000) this.requestLog.splice(0, this.requestLog.length - 5000);
  }

  state(): Record<string, unknown> {
    const accounts: Record<string, unknown> = {};
    for (const a of this.byLabel.values()) {
      accounts[a.label] = { ...a.counters, connections: this.openSockets(a.label).length, listen_key_active: !!a.activeKey(this.clock.now()), orders: a.orders.size };
    }
    return {
      now: this.clock.now(),
      settings: this.settings,
      rate_limit_mode: this.limits.mode,
      market: { stalled: this.market.stalled, symbols: this.market.symbols.length, connections: [...this.sockets].filter((s) => s.kind === 'market').length, frames_sent: this.counters.marketFramesSent, connections_opened: this.counters.marketConnectionsOpened },
      rest: { requests: this.counters.restRequests, by_endpoint: this.counters.restByEndpoint },
      connection_attempts: this.counters.connectionAttempts,
      rejected_connections: this.counters.rejectedConnections,
      lifetime_cuts: this.counters.lifetimeCuts,
      refuse_upgrades: this.refuseUpgrades,
      load: this.scenarios.loadState(),
      accounts,
    };
  }

  // ---- HTTP and WebSocket plumbing ----

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0]!;
    const done = (p: Promise<void>) =>
      p.catch((err: unknown) => {
        // The handlers answer their own errors; this only catches a failure to write the answer.
        this.log?.error('simulator request failed', { path, error: errorMessage(err) });
        if (!res.headersSent) sendJson(res, 500, { error: errorMessage(err) });
      });
    if (path.startsWith('/_sim/')) return void done(serveControl(this, req, res));
    if (path.startsWith('/fapi/')) return void done(serveRest(this, this.routes, req, res));
    sendJson(res, 404, { code: -1000, msg: `Unknown path ${path}` });
  }

}
