/**
 * `kraite:stream-binance-user-data`: one authenticated WebSocket per eligible account (active, with key
 * and secret), every frame onto the sharded `user-data-stream-<n>` queue, unfiltered.
 *
 * Loops (all on the injected Clock; each iteration catches and reports its own errors):
 *  - discovery (60 s): reap slots of accounts no longer eligible (close, delete the key row, alert),
 *    re-initialise accounts whose API key changed, spawn new ones staggered by 250 ms;
 *  - rotation check (30 s): when the keepalive cron stored a different listen key, re-initialise;
 *  - health (30 s): heartbeat, memory guard, freeze, retries of reconciliations Redis refused;
 *  - backlog (5 s): replay dead letters while the sink is in backlog mode.
 * Beyond Kraite: after every open (start, connect, reconnect, rotation, key change) a ReconcileAccount
 * job covers whatever the stream may have missed.
 */
import { setMaxListeners } from 'node:events';
import type { IntervalHistogram } from 'node:perf_hooks';
import { loopDelayMonitor, loopDelayMs } from '../loop-delay.js';
import { decodeUserFrame } from '../decode.js';
import type { Redis } from 'ioredis';
import type { RawData } from 'ws';
import type { QueueFactory } from '../../queue/queues.js';
import { writeHeartbeat } from '../../support/heartbeat.js';
import { errorMessage } from '../../support/errors.js';
import { deleteListenKey, listListenKeys, streamAccounts, upsertListenKey, type StreamAccount } from '../../db/repositories/listen-keys.js';
import { ALERTS, RECONNECT_DEFAULTS, USER_DATA_DEFAULTS, WS_PATHS } from '../constants.js';
import { accountClient, safeNotify, type AccountClient, type BinanceDeps } from '../context.js';
import type { ReconcileReason } from '../reconcile.js';
import { FrameHeartbeats, ReconcileRequests } from './bookkeeping.js';
import { ReconnectingSocket, type OpenInfo } from '../ws/reconnecting-socket.js';
import type { BackoffOptions } from '../ws/backoff.js';
import { DeadLetterStore } from './dead-letters.js';
import { FrameSink, type ReplayLock } from './frame-sink.js';

export type UserDataTimings = { -readonly [K in keyof typeof USER_DATA_DEFAULTS]: number };
export type ExitReason = 'signal' | 'memory' | 'frozen' | 'no-api-system';

export interface UserDataDaemonOptions {
  deps: BinanceDeps;
  /** Producer queues; their Redis connection must have enableOfflineQueue: false. */
  queues: QueueFactory;
  shards: number;
  /** Heartbeats (and the replay lock). */
  redis: Redis;
  prefix: string;
  hostname: string;
  deadLetterDir: string;
  timings?: Partial<UserDataTimings>;
  backoff?: BackoffOptions;
  stormThreshold?: number;
  random?: () => number;
  isFrozen?: () => boolean;
  rssBytes?: () => number;
  replayLock?: ReplayLock | null;
}

interface Slot {
  account: StreamAccount;
  acc: AccountClient;
  listenKey: string;
  socket: ReconnectingSocket;
  openReason: ReconcileReason;
  lastFrameAt: number | null;
  keyStatus: 'active' | 'expired' | 'changing';
  retired: boolean;
}

export interface UserDataStats {
  frames: number;
  malformed: number;
  keyExpiries: number;
  reinits: number;
  reaped: number;
  reconcilesRequested: number;
}

export class UserDataStreamDaemon {
  readonly timings: UserDataTimings;
  readonly sink: FrameSink;
  readonly deadLetters: DeadLetterStore;
  private readonly counters = { frames: 0, malformed: 0, keyExpiries: 0, reinits: 0, reaped: 0 };
  private readonly slots = new Map<number, Slot>();
  private readonly spawning = new Map<number, Promise<void>>();
  private readonly frameBeats: FrameHeartbeats;
  private readonly reconciles: ReconcileRequests;
  private readonly stop = new AbortController();
  private exitReason: ExitReason = 'signal';
  private eligibleCount = 0;
  private started = false;
  private closed: Promise<void> | null = null;
  private readonly startedAt: number;
  /** Event-loop delay since the last heartbeat: every socket of the process waits behind a stall. */
  private readonly loopDelay: IntervalHistogram = loopDelayMonitor();

  constructor(private readonly opts: UserDataDaemonOptions) {
    this.timings = { ...USER_DATA_DEFAULTS, ...opts.timings };
    setMaxListeners(0, this.stop.signal); // every spawn and loop waits on it
    const { deps } = opts;
    this.startedAt = deps.clock.now();
    this.frameBeats = new FrameHeartbeats(deps.db, deps.clock);
    this.reconciles = new ReconcileRequests(opts.queues, deps.clock, deps.log);
    this.deadLetters = new DeadLetterStore(opts.deadLetterDir, deps.clock, deps.log.child('dead-letters'));
    this.sink = new FrameSink({
      queues: opts.queues,
      shards: opts.shards,
      deadLetters: this.deadLetters,
      log: deps.log.child('sink'),
      lock: opts.replayLock,
      replayBatch: this.timings.replayBatch,
      onDeadLetter: (error) => void safeNotify(deps, { canonical: ALERTS.deadLetter, severity: 'high', title: 'User-data frames are going to the dead-letter file', message: 'Redis refused an enqueue; frames are kept on disk and replayed when it is back.', context: { error } }),
      onLost: (accountId, error) => void safeNotify(deps, { canonical: ALERTS.frameLost, key: accountId, severity: 'critical', title: `A user-data frame of account ${accountId} was lost`, context: { account_id: accountId, error }, throttleSeconds: 60 }),
    });
  }

  get stats(): UserDataStats {
    return { ...this.counters, reconcilesRequested: this.reconciles.requested };
  }

  /** Ask run() to stop (signal handlers call this; it only sets a flag). */
  requestStop(reason: ExitReason = 'signal'): void {
    if (!this.stop.signal.aborted) this.exitReason = reason;
    this.stop.abort();
  }

  get stopping(): boolean {
    return this.stop.signal.aborted;
  }

  /** Prepare the queues and replay what an earlier process left on disk. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    this.loopDelay.enable();
    await this.sink.init();
    if (this.sink.backlog) await this.sink.replay();
  }

  /** Run until stopped; returns why. */
  async run(): Promise<ExitReason> {
    const { clock, log } = this.opts.deps;
    while (this.opts.isFrozen?.() && !this.stopping) await clock.sleep(1000, this.stop.signal).catch(() => undefined);
    if (this.stopping) return this.exitReason;
    await this.start();
    await this.sweep();
    log.info('user-data daemon online', { accounts: this.eligibleCount, pid: process.pid });
    void safeNotify(this.opts.deps, { canonical: ALERTS.daemonOnline, severity: 'info', title: 'Binance user-data daemon online', context: { account_count: this.eligibleCount, pid: process.pid, host: this.opts.hostname }, throttleSeconds: 0 });
    const t = this.timings;
    const loops = [
      this.every(t.discoveryIntervalMs, () => this.sweep()),
      this.every(t.rotationCheckIntervalMs, () => this.checkRotations()),
      this.every(t.healthTickIntervalMs, () => this.healthTick(), true),
      this.every(t.replayIntervalMs, () => this.backlogTick()),
      this.every(t.frameHeartbeatThrottleMs, () => this.persistFrameHeartbeats()),
    ];
    await Promise.all(loops);
    await this.close();
    return this.exitReason;
  }

  /** One pass of everything run() does periodically. */
  async tick(): Promise<void> {
    await this.start();
    await this.sweep();
    await this.checkRotations();
    await this.backlogTick();
    await this.persistFrameHeartbeats();
    await this.healthTick();
  }

  private async every(ms: number, fn: () => Promise<unknown>, immediate = false): Promise<void> {
    const { clock, log } = this.opts.deps;
    for (let first = true; !this.stopping; first = false) {
      if (!(first && immediate)) {
        try {
          await clock.sleep(ms, this.stop.signal);
        } catch {
          return; // stopping
        }
      }
      try {
        await fn();
      } catch (err) {
        log.error('daemon step failed', { step: fn.name || 'loop', error: errorMessage(err) });
      }
    }
  }

  // ---- discovery ----

  /** Reap, re-key and spawn against the eligible accounts. Spawns run in the background, staggered. */
  async sweep(): Promise<void> {
    const accounts = await streamAccounts(this.opts.deps.db);
    this.eligibleCount = accounts.length;
    const eligible = new Map(accounts.map((a) => [a.id, a]));
    for (const slot of [...this.slots.values()]) {
      const a = eligible.get(slot.account.id);
      if (!a) await this.reap(slot);
      else if ((a.updatedAt?.getTime() ?? 0) !== (slot.account.updatedAt?.getTime() ?? 0)) await this.checkCredentials(slot, a);
    }
    let i = 0;
    for (const a of accounts) {
      if (this.slots.has(a.id) || this.spawning.has(a.id) || this.stopping) continue;
      this.spawn(a, i++ * this.timings.connectStaggerMs, this.firstSweepDone ? 'connect' : 'start');
    }
    this.firstSweepDone = true;
  }

  private firstSweepDone = false;

  /** Wait for every pending spawn (tests and shutdown). */
  async settled(): Promise<void> {
    while (this.spawning.size > 0) await Promise.all([...this.spawning.values()]);
  }

  private spawn(a: StreamAccount, delayMs: number, reason: ReconcileReason): void {
    const { clock, log } = this.opts.deps;
    const p = (async () => {
      try {
        if (delayMs > 0) await clock.sleep(delayMs, this.stop.signal);
        if (this.stopping) return;
        await this.initAccount(a, reason);
      } catch (err) {
        if ((err as Error).name === 'AbortError') return;
        log.error('account init failed; the next sweep retries', { account_id: a.id, error: errorMessage(err) });
        await safeNotify(this.opts.deps, { canonical: ALERTS.accountInitFailed, key: a.id, severity: 'high', title: `User-data stream of account ${a.id} (${a.name}) could not start`, context: { account_id: a.id, account_name: a.name, error: errorMessage(err) } });
      } finally {
        this.spawning.delete(a.id);
      }
    })();
    this.spawning.set(a.id, p);
  }

  /** POST the listen key, store it, open the socket. */
  private async initAccount(a: StreamAccount, reason: ReconcileReason): Promise<Slot> {
    const { deps } = this.opts;
    const acc = await accountClient(deps, a.id);
    if (!acc) throw new Error('the account has no API key and secret');
    const listenKey = await acc.client.createListenKey(this.stop.signal);
    await upsertListenKey(deps.db, deps.appKey, a.id, listenKey, new Date(deps.clock.now()));
    const slot: Slot = { account: a, acc, listenKey, openReason: reason, lastFrameAt: null, keyStatus: 'active', retired: false, socket: null as unknown as ReconnectingSocket };
    slot.socket = this.makeSocket(slot);
    const previous = this.slots.get(a.id);
    this.slots.set(a.id, slot);
    slot.socket.start();
    if (previous) this.retire(previous, 'replaced');
    return slot;
  }

  private makeSocket(slot: Slot): ReconnectingSocket {
    const { deps } = this.opts;
    const t = this.timings;
    const id = slot.account.id;
    return new ReconnectingSocket({
      name: `user-data:${id}`,
      clock: deps.clock,
      log: deps.log.child('socket', { account_id: id }),
      url: (info) => this.urlFor(slot, info),
      onMessage: (data, isBinary) => this.onFrame(slot, data, isBinary),
      onOpen: (info) => this.onOpen(slot, info),
      onPing: () => this.frameHeartbeat(slot),
      onClose: () => this.heartbeatSoon(),
      onStorm: (failures, lastError) =>
        void safeNotify(deps, { canonical: ALERTS.reconnectStorm, key: `user-data:${id}`, severity: 'high', title: `User-data socket of account ${id} failed ${failures} times in a row`, context: { account_id: id, failures, error: lastError } }),
      onIdle: (silentMs) => void safeNotify(deps, { canonical: ALERTS.reconnectTriggered, key: `user-data:${id}`, severity: 'warning', title: `User-data socket of account ${id} was silent; reconnecting`, context: { account_id: id, reason: 'idle', silent_ms: silentMs } }),
      onHalfOpen: () => void safeNotify(deps, { canonical: ALERTS.reconnectTriggered, key: `user-data:${id}`, severity: 'warning', title: `User-data socket of account ${id} did not answer our ping; reconnecting`, context: { account_id: id, reason: 'half-open' } }),
      random: this.opts.random,
      backoff: this.opts.backoff,
      stormThreshold: this.opts.stormThreshold ?? RECONNECT_DEFAULTS.stormThreshold,
      idleTimeoutMs: t.idleTimeoutMs,
      pingsCountAsAlive: true,
      pingIntervalMs: t.clientPingIntervalMs,
      pongTimeoutMs: t.pongTimeoutMs,
      rotateAfterMs: t.rotateAfterMs,
    });
  }

  /** Before a reconnect, POST again: Binance returns the active key (extended), or a new one if it died. */
  private async urlFor(slot: Slot, info: OpenInfo): Promise<string> {
    const { deps } = this.opts;
    if (info.reconnect && !slot.retired) {
      try {
        const key = await slot.acc.client.createListenKey(this.stop.signal);
        const changed = await upsertListenKey(deps.db, deps.appKey, slot.account.id, key, new Date(deps.clock.now()));
        if (key !== slot.listenKey) {
          slot.listenKey = key;
          slot.keyStatus = 'active';
          if (changed) slot.openReason = 'key-change';
        }
      } catch (err) {
        deps.log.warn('listen key refresh before reconnect failed; trying the current key', { account_id: slot.account.id, error: errorMessage(err) });
      }
    }
    return `${deps.wsUrl}${WS_PATHS.privateWs}${encodeURIComponent(slot.listenKey)}`;
  }

  private onOpen(slot: Slot, info: OpenInfo): void {
    const reason: ReconcileReason = slot.openReason === 'key-change' ? 'key-change' : info.rotation ? 'rotation' : info.reconnect ? 'reconnect' : slot.openReason;
    slot.openReason = 'reconnect';
    this.opts.deps.log.info('user-data socket open', { account_id: slot.account.id, reason });
    this.frameHeartbeat(slot);
    void this.reconciles.request(slot.account.id, reason);
    this.heartbeatSoon();
  }

  /** Connection changes show in the heartbeat at once (at most one write per tick of the event loop). */
  private heartbeatSoon(): void {
    if (this.heartbeatQueued || this.stopping) return;
    this.heartbeatQueued = true;
    setImmediate(() => {
      this.heartbeatQueued = false;
      this.writeHeartbeat().catch((err: unknown) => this.opts.deps.log.warn('could not write the heartbeat', { error: errorMessage(err) }));
    });
  }

  private heartbeatQueued = false;

  // ---- frames ----

  private onFrame(slot: Slot, data: RawData, isBinary: boolean): void {
    const { deps } = this.opts;
    const receivedAt = deps.clock.now();
    const frame = decodeUserFrame(data, isBinary);
    if (!frame.ok) {
      this.counters.malformed++;
      deps.log.warn('malformed JSON frame dropped', { account_id: slot.account.id, bytes: frame.bytes, binary: isBinary });
      return;
    }
    const payload = frame.payload;
    this.counters.frames++;
    slot.lastFrameAt = receivedAt;
    void this.sink.submit({ accountId: slot.account.id, payload, receivedAt, apiSystem: 'binance' });
    this.frameHeartbeat(slot);
    if (!Array.isArray(payload) && (payload as { e?: unknown }).e === 'listenKeyExpired' && !slot.retired) void this.onKeyExpired(slot);
  }

  /** A frame or ping arrived: remembered, written by persistFrameHeartbeats() (see ./bookkeeping.ts). */
  private frameHeartbeat(slot: Slot): void {
    this.frameBeats.mark(slot.account.id);
  }

  async persistFrameHeartbeats(): Promise<void> {
    await this.frameBeats.persist();
  }

  private async onKeyExpired(slot: Slot): Promise<void> {
    const { deps } = this.opts;
    this.counters.keyExpiries++;
    slot.keyStatus = 'expired';
    await safeNotify(deps, { canonical: ALERTS.listenKeyExpired, key: slot.account.id, severity: 'warning', title: `Listen key of account ${slot.account.id} expired; re-initialising`, context: { account_id: slot.account.id, account_name: slot.account.name } });
    await deleteListenKey(deps.db, slot.account.id).catch((err: unknown) => deps.log.warn('could not delete the expired key row', { account_id: slot.account.id, error: errorMessage(err) }));
    await this.reinit(slot, 'key-expired');
  }

  /** Replace an account's slot with a fresh key and socket (new socket first, then the old one closes). */
  private async reinit(slot: Slot, reason: ReconcileReason): Promise<void> {
    if (slot.retired || this.stopping || this.slots.get(slot.account.id) !== slot) return;
    this.counters.reinits++;
    slot.keyStatus = 'changing';
    try {
      await this.initAccount(slot.account, reason);
    } catch (err) {
      this.opts.deps.log.error('re-initialisation failed; the next sweep retries', { account_id: slot.account.id, error: errorMessage(err) });
      this.retire(slot, 'reinit failed');
      if (this.slots.get(slot.account.id) === slot) this.slots.delete(slot.account.id);
    }
  }

  private retire(slot: Slot, why: string): void {
    slot.retired = true;
    slot.socket.close(1000, why).catch((err: unknown) => this.opts.deps.log.warn('closing a retired socket failed', { account_id: slot.account.id, error: errorMessage(err) }));
  }

  private async reap(slot: Slot): Promise<void> {
    const { deps } = this.opts;
    const id = slot.account.id;
    this.slots.delete(id);
    this.retire(slot, 'account no longer eligible');
    await deleteListenKey(deps.db, id);
    this.counters.reaped++;
    deps.log.info('account reaped', { account_id: id });
    await safeNotify(deps, { canonical: ALERTS.accountReaped, key: id, severity: 'info', title: `User-data stream of account ${id} stopped (inactive or removed)`, context: { account_id: id, account_name: slot.account.name } });
  }

  /** accounts.updated_at moved: if the API key itself changed, the stream must move to the new key. */
  private async checkCredentials(slot: Slot, a: StreamAccount): Promise<void> {
    const fresh = await accountClient(this.opts.deps, a.id);
    const keyChanged = fresh && fresh.apiKey !== slot.acc.apiKey;
    slot.account = a;
    if (keyChanged) await this.reinit(slot, 'key-change');
  }

  // ---- rotation check ----

  /** The keepalive cron may have stored a new key (after -1125); follow it. */
  async checkRotations(): Promise<void> {
    const { deps } = this.opts;
    const rows = await listListenKeys(deps.db, deps.appKey, [...this.slots.keys()]);
    for (const row of rows) {
      const slot = this.slots.get(row.accountId);
      if (!slot || slot.retired || !row.listenKey || row.listenKey === slot.listenKey) continue;
      deps.log.info('listen key changed in the database; re-initialising', { account_id: row.accountId });
      await this.reinit(slot, 'key-change');
    }
  }

  // ---- health and backlog ----

  async backlogTick(): Promise<void> {
    if (this.sink.backlog) await this.sink.replay();
  }

  async healthTick(): Promise<void> {
    const { deps } = this.opts;
    await this.reconciles.retryPending();
    if (this.opts.isFrozen?.()) {
      deps.log.warn('freeze mode: closing every socket and stopping');
      this.requestStop('frozen');
      return;
    }
    const rss = (this.opts.rssBytes ?? (() => process.memoryUsage().rss))();
    const limit = this.timings.memoryBaseBytes + this.timings.memoryPerAccountBytes * Math.max(1, this.slots.size);
    if (rss > limit) {
      await safeNotify(deps, { canonical: ALERTS.memoryRestart, severity: 'warning', title: 'User-data daemon restarts to release memory', context: { rss_mb: Math.round(rss / 1048576), limit_mb: Math.round(limit / 1048576), slots: this.slots.size } });
      this.requestStop('memory');
    }
    await this.writeHeartbeat().catch((err: unknown) => deps.log.warn('could not write the heartbeat', { error: errorMessage(err) }));
  }

  /** The `stream-user-data` heartbeat of docs/contracts.md. */
  heartbeat(): Record<string, unknown> {
    const accounts: Record<string, unknown> = {};
    let connected = 0;
    for (const [id, s] of this.slots) {
      if (s.socket.connected) connected++;
      accounts[id] = { connected: s.socket.connected, last_frame_at: s.lastFrameAt ? new Date(s.lastFrameAt).toISOString() : null, listen_key_status: s.keyStatus, reconnects: s.socket.stats.reconnects };
    }
    const files = this.deadLetters.files();
    return {
      accounts_total: this.eligibleCount,
      accounts_connected: connected,
      accounts,
      dead_letters_pending: files.length ? this.deadLetters.pendingLines(files) : 0,
      frames: this.counters.frames,
      malformed: this.counters.malformed,
      enqueued: this.sink.stats.enqueued,
      dead_lettered: this.sink.stats.deadLettered,
      replayed: this.sink.stats.replayed,
      lost: this.sink.stats.lost,
      sink_mode: this.sink.stats.mode,
      event_loop_delay_ms: loopDelayMs(this.loopDelay),
    };
  }

  private async writeHeartbeat(): Promise<void> {
    const { deps } = this.opts;
    await writeHeartbeat(
      this.opts.redis,
      this.opts.prefix,
      { daemon: 'stream-user-data', host: this.opts.hostname, pid: process.pid, started_at: new Date(this.startedAt).toISOString(), at: new Date(deps.clock.now()).toISOString(), ...this.heartbeat() },
      (this.timings.healthTickIntervalMs / 1000) * 3,
    );
  }

  /** Slots by account id, for tests and the heartbeat. */
  slotInfo(): Array<{ accountId: number; connected: boolean; listenKey: string; reconnects: number; rotations: number }> {
    return [...this.slots.values()].map((s) => ({ accountId: s.account.id, connected: s.socket.connected, listenKey: s.listenKey, reconnects: s.socket.stats.reconnects, rotations: s.socket.stats.rotations }));
  }

  /** Close every socket with 1000 and flush the frames in flight; listen keys are NOT deleted. */
  close(): Promise<void> {
    this.closed ??= (async () => {
      this.stop.abort();
      this.loopDelay.disable();
      await Promise.allSettled([...this.spawning.values()]);
      const all = [...this.slots.values()];
      this.slots.clear();
      for (const s of all) s.retired = true;
      await Promise.allSettled(all.map((s) => s.socket.close(1000, 'shutdown')));
      await this.sink.flush();
      await this.persistFrameHeartbeats().catch((err: unknown) => this.opts.deps.log.warn('could not persist the frame heartbeats', { error: errorMessage(err) }));
      await this.writeHeartbeat().catch((err: unknown) => this.opts.deps.log.warn('could not write the last heartbeat', { error: errorMessage(err) }));
    })();
    return this.closed;
  }
}
