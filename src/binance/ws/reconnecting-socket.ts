/**
 * One logical WebSocket that stays connected: the connection manager shared by both stream daemons.
 *
 *  - reconnects forever with exponential back-off plus jitter; the URL is resolved again on every try
 *    (the user-data daemon re-POSTs its listen key there);
 *  - counts consecutive failures and reports a storm once per streak (the streak ends only when traffic
 *    proves the connection healthy, not merely on open);
 *  - sends its own pings and cuts a socket whose pong does not come back in time (half-open);
 *  - an idle watchdog cuts a socket that has been silent too long;
 *  - rotates make-before-break: a new socket is opened, and only once it is open is the old one closed,
 *    still delivering whatever arrives on it until its close completes.
 *
 * All scheduling runs on the injected Clock. The only real timers are I/O guards inside `ws` (handshake
 * timeout) and the close guard below, which must fire even when a test's FakeClock stands still.
 */
import WebSocket, { type RawData } from 'ws';
import type { Clock } from '../../support/clock.js';
import type { Logger } from '../../support/log.js';
import { errorMessage } from '../../support/errors.js';
import { RECONNECT_DEFAULTS } from '../constants.js';
import { backoffDelay, type BackoffOptions } from './backoff.js';

export interface OpenInfo {
  /** False for the very first connection of this socket. */
  reconnect: boolean;
  /** True when this open is a planned make-before-break rotation. */
  rotation: boolean;
}

export interface ReconnectingSocketOptions {
  name: string;
  clock: Clock;
  log: Logger;
  /** Resolved before every connection attempt. */
  url: (info: OpenInfo) => string | Promise<string>;
  onMessage: (data: RawData, isBinary: boolean) => void;
  onOpen?: (info: OpenInfo) => void;
  onClose?: (info: { code: number; reason: string; intentional: boolean }) => void;
  /** Server pings (and our pongs) — the user-data daemon persists them as liveness. */
  onPing?: () => void;
  onStorm?: (failures: number, lastError: string | null) => void;
  onIdle?: (silentMs: number) => void;
  onHalfOpen?: () => void;
  random?: () => number;
  backoff?: BackoffOptions;
  stormThreshold?: number;
  /** Force a reconnect after this long without traffic; 0 disables. */
  idleTimeoutMs: number;
  /** Do pings and pongs count as traffic for the idle watchdog (true for user data, false for prices)? */
  pingsCountAsAlive: boolean;
  /** Our own ping cadence; 0 disables. */
  pingIntervalMs: number;
  pongTimeoutMs: number;
  /** Rotate this long after a socket opened; 0 disables. */
  rotateAfterMs?: number;
  handshakeTimeoutMs?: number;
}

interface Opened {
  ws: WebSocket;
  early: Array<[RawData, boolean]>;
  onEarly: (data: RawData, isBinary: boolean) => void;
}

interface Session {
  lost: Promise<void>;
  resolveLost: () => void;
}

interface Conn {
  ws: WebSocket;
  session: Session;
  retired: boolean;
  openedAt: number;
  lastPongAt: number;
  abort: AbortController;
  closed: Promise<void>;
}

export interface SocketStats {
  connected: boolean;
  connectedSince: number | null;
  lastTrafficAt: number | null;
  lastDataAt: number | null;
  framesReceived: number;
  reconnects: number;
  rotations: number;
  consecutiveFailures: number;
}

const CLOSE_GUARD_MS = 3000;

export class ReconnectingSocket {
  private current: Conn | null = null;
  private readonly conns = new Set<Conn>();
  private stopped = false;
  private started = false;
  private rotating = false;
  private readonly lifetime = new AbortController();
  private failures = 0;
  private stormReported = false;
  private lastError: string | null = null;
  private loop: Promise<void> | null = null;
  readonly stats: SocketStats = { connected: false, connectedSince: null, lastTrafficAt: null, lastDataAt: null, framesReceived: 0, reconnects: 0, rotations: 0, consecutiveFailures: 0 };

  constructor(private readonly opts: ReconnectingSocketOptions) {}

  get connected(): boolean {
    return !!this.current && this.current.ws.readyState === WebSocket.OPEN;
  }

  /** Start connecting (and reconnecting) in the background. */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.loop = this.run();
  }

  /** Drop the current socket so the loop reconnects (idle watchdog, pong deadline, operator). */
  forceReconnect(reason: string): void {
    const c = this.current;
    if (!c) return;
    this.opts.log.warn('forcing a reconnect', { socket: this.opts.name, reason });
    c.ws.terminate();
  }

  /** Stop for good: no reconnect, every socket closed with `code` (1000 by default). */
  async close(code = 1000, reason = 'shutdown'): Promise<void> {
    this.stopped = true;
    this.lifetime.abort();
    const all = [...this.conns];
    for (const c of all) {
      c.retired = true;
      c.abort.abort();
      c.session.resolveLost();
      if (c.ws.readyState === WebSocket.OPEN) c.ws.close(code, reason);
      else if (c.ws.readyState === WebSocket.CONNECTING) c.ws.terminate();
    }
    await Promise.all(all.map((c) => this.closeGuard(c)));
    this.current = null;
    this.stats.connected = false;
    await this.loop?.catch(() => undefined); // the loop reports its own errors
  }

  /** Make-before-break: open a new socket, then close the old one. Resolves when the new one is open. */
  async rotate(): Promise<boolean> {
    const old = this.current;
    if (!old || this.rotating || this.stopped) return false;
    this.rotating = true;
    try {
      const info: OpenInfo = { reconnect: false, rotation: true };
      const opened = await this.open(await this.opts.url(info));
      if (this.stopped || this.current !== old) {
        // Stopped, or the old socket died meanwhile and the reconnect loop owns recovery; keep what arrived.
        this.discard(opened);
        return false;
      }
      this.adopt(opened, old.session);
      old.retired = true;
      old.abort.abort();
      if (old.ws.readyState === WebSocket.OPEN) old.ws.close(1000, 'rotation');
      void this.closeGuard(old);
      this.stats.rotations++;
      this.opts.onOpen?.(info);
      return true;
    } catch (err) {
      this.opts.log.warn('rotation failed; keeping the current socket', { socket: this.opts.name, error: errorMessage(err) });
      return false;
    } finally {
      this.rotating = false;
    }
  }

  private async run(): Promise<void> {
    let first = true;
    const { clock } = this.opts;
    while (!this.stopped) {
      try {
        const info: OpenInfo = { reconnect: !first, rotation: false };
        const opened = await this.open(await this.opts.url(info));
        if (this.stopped) {
          this.discard(opened);
          break;
        }
        const conn = this.adopt(opened, newSession());
        if (!first) this.stats.reconnects++;
        first = false;
        this.opts.onOpen?.(info);
        await conn.session.lost;
      } catch (err) {
        this.lastError = errorMessage(err);
        if (!this.stopped) this.opts.log.warn('connection attempt failed', { socket: this.opts.name, error: this.lastError });
      }
      if (this.stopped) break;
      this.failures++;
      this.stats.consecutiveFailures = this.failures;
      if (this.failures >= (this.opts.stormThreshold ?? RECONNECT_DEFAULTS.stormThreshold) && !this.stormReported) {
        this.stormReported = true;
        this.opts.onStorm?.(this.failures, this.lastError);
      }
      try {
        await clock.sleep(backoffDelay(this.failures, this.opts.random ?? Math.random, this.opts.backoff), this.lifetime.signal);
      } catch {
        break; // aborted by close()
      }
    }
  }

  /**
   * Connect. Frames that arrive before adopt() runs (a server may write right behind the handshake, and
   * ws can emit them on process.nextTick, ahead of our promise continuation) are buffered, not lost.
   */
  private open(url: string): Promise<Opened> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { handshakeTimeout: this.opts.handshakeTimeoutMs ?? 10_000, perMessageDeflate: false });
      const early: Array<[RawData, boolean]> = [];
      const onEarly = (data: RawData, isBinary: boolean) => early.push([data, isBinary]);
      ws.on('message', onEarly);
      const onError = (err: Error) => {
        ws.removeListener('open', onOpen);
        ws.terminate();
        reject(err);
      };
      const onOpen = () => {
        ws.removeListener('error', onError);
        resolve({ ws, early, onEarly });
      };
      ws.once('error', onError);
      ws.once('open', onOpen);
    });
  }

  private adopt(opened: Opened, session: Session): Conn {
    const { ws } = opened;
    const now = this.opts.clock.now();
    let resolveClosed!: () => void;
    const conn: Conn = { ws, session, retired: false, openedAt: now, lastPongAt: now, abort: new AbortController(), closed: new Promise((r) => (resolveClosed = r)) };
    this.conns.add(conn);
    this.current = conn;
    this.stats.connected = true;
    this.stats.connectedSince = now;
    this.stats.lastTrafficAt = now;

    const onMessage = (data: RawData, isBinary: boolean) => {
      const t = this.opts.clock.now();
      this.stats.framesReceived++;
      this.stats.lastDataAt = t;
      this.traffic(t);
      this.opts.onMessage(data, isBinary);
    };
    ws.removeListener('message', opened.onEarly);
    ws.on('message', onMessage);
    for (const [data, isBinary] of opened.early.splice(0)) onMessage(data, isBinary);
    ws.on('ping', () => {
      if (this.opts.pingsCountAsAlive) this.traffic(this.opts.clock.now());
      this.opts.onPing?.();
    });
    ws.on('pong', () => {
      conn.lastPongAt = this.opts.clock.now();
      if (this.opts.pingsCountAsAlive) this.traffic(conn.lastPongAt);
      this.opts.onPing?.();
    });
    ws.on('error', (err) => {
      // 'close' always follows; the error is only worth a log line.
      this.opts.log.warn('socket error', { socket: this.opts.name, error: err.message });
    });
    ws.on('close', (code, reasonBuf) => {
      conn.abort.abort();
      this.conns.delete(conn);
      resolveClosed();
      const intentional = conn.retired || this.stopped;
      if (this.current === conn) {
        this.current = null;
        this.stats.connected = false;
      }
      this.opts.onClose?.({ code, reason: reasonBuf.toString(), intentional });
      if (!intentional) conn.session.resolveLost();
    });
    void this.pingLoop(conn);
    void this.idleLoop(conn);
    void this.rotationTimer(conn);
    return conn;
  }

  /** Drop a socket we will not use, delivering the frames it already received. */
  private discard(opened: Opened): void {
    opened.ws.removeListener('message', opened.onEarly);
    opened.ws.terminate();
    for (const [data, isBinary] of opened.early.splice(0)) this.opts.onMessage(data, isBinary);
  }

  /** Traffic proves the connection healthy: the failure streak ends. */
  private traffic(t: number): void {
    this.stats.lastTrafficAt = t;
    if (this.failures > 0) {
      this.failures = 0;
      this.stats.consecutiveFailures = 0;
      this.stormReported = false;
    }
  }

  private async pingLoop(conn: Conn): Promise<void> {
    const { clock, pingIntervalMs, pongTimeoutMs } = this.opts;
    if (!pingIntervalMs) return;
    try {
      for (;;) {
        await clock.sleep(pingIntervalMs, conn.abort.signal);
        if (conn.ws.readyState !== WebSocket.OPEN) return;
        const sentAt = clock.now();
        conn.ws.ping();
        await clock.sleep(pongTimeoutMs, conn.abort.signal);
        if (conn.lastPongAt < sentAt && conn.ws.readyState === WebSocket.OPEN) {
          this.opts.log.warn('no pong before the deadline; the socket is half-open', { socket: this.opts.name, waited_ms: clock.now() - sentAt });
          this.opts.onHalfOpen?.();
          conn.ws.terminate();
          return;
        }
      }
    } catch (err) {
      if ((err as Error).name !== 'AbortError') this.opts.log.error('ping loop failed', { socket: this.opts.name, error: errorMessage(err) });
    }
  }

  private async idleLoop(conn: Conn): Promise<void> {
    const { clock, idleTimeoutMs } = this.opts;
    if (!idleTimeoutMs) return;
    const every = Math.max(1, Math.min(10_000, Math.floor(idleTimeoutMs / 3)));
    try {
      for (;;) {
        await clock.sleep(every, conn.abort.signal);
        if (conn !== this.current) return;
        const silent = clock.now() - (this.stats.lastTrafficAt ?? conn.openedAt);
        if (silent > idleTimeoutMs) {
          this.opts.log.warn('socket idle; reconnecting', { socket: this.opts.name, silent_ms: silent });
          this.opts.onIdle?.(silent);
          conn.ws.terminate();
          return;
        }
      }
    } catch (err) {
      if ((err as Error).name !== 'AbortError') this.opts.log.error('idle watchdog failed', { socket: this.opts.name, error: errorMessage(err) });
    }
  }

  private async rotationTimer(conn: Conn): Promise<void> {
    const every = this.opts.rotateAfterMs ?? 0;
    if (!every) return;
    try {
      await this.opts.clock.sleep(every, conn.abort.signal);
      while (conn === this.current && !this.stopped && !(await this.rotate())) {
        await this.opts.clock.sleep(Math.min(60_000, Math.max(1000, every / 100)), conn.abort.signal); // retry soon, ahead of the server's cut
      }
    } catch (err) {
      if ((err as Error).name !== 'AbortError') this.opts.log.error('rotation timer failed', { socket: this.opts.name, error: errorMessage(err) });
    }
  }

  /** Wait for a socket's close, terminating it if the peer does not complete the close handshake soon. */
  private async closeGuard(conn: Conn): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      conn.closed,
      new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          conn.ws.terminate();
          resolve();
        }, CLOSE_GUARD_MS);
        timer.unref();
      }),
    ]);
    clearTimeout(timer);
    await conn.closed;
  }
}

function newSession(): Session {
  let resolveLost!: () => void;
  const lost = new Promise<void>((r) => (resolveLost = r));
  return { lost, resolveLost };
}
