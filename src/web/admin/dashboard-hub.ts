/**
 * The dashboard's data, computed by one loop for every viewer: a snapshot is at most 1 s old when served
 * as JSON (/api/dashboard), and pushed every 2 s over SSE while someone watches. Each section degrades on
 * its own (a part that is not built or not running shows as such, never as an error page).
 */
import { readBoxHealth, type BoxHealth } from '../data/system.js';
import { dispatcherSection, type DispatcherView } from '../data/dispatcher.js';
import { streamsSection, type StreamsView } from '../data/streams.js';
import { queuesSection, type QueuesView } from '../data/queues.js';
import { schedulerSection, type SchedulerView } from '../data/scheduler.js';
import { alertsSection, type AlertRow } from '../data/alerts.js';
import type { Section } from '../data/safe.js';
import type { WebServices } from '../services.js';

export interface DashboardSnapshot {
  at: string;
  health: BoxHealth;
  dispatcher: Section<DispatcherView>;
  streams: Section<StreamsView>;
  queues: Section<QueuesView>;
  scheduler: Section<SchedulerView>;
  alerts: Section<AlertRow[]>;
}

export const SNAPSHOT_MAX_AGE_MS = 1000;
export const PUSH_INTERVAL_MS = 2000;
export const STALE_SERVE_MS = 10_000;

export class DashboardHub {
  private cached: { at: number; data: DashboardSnapshot; json: string } | null = null;
  private inflight: Promise<{ data: DashboardSnapshot; json: string }> | null = null;
  private listeners = new Set<(snap: DashboardSnapshot) => void>();
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly s: WebServices) {}

  async compute(): Promise<DashboardSnapshot> {
    const ctx = this.s.data;
    const [health, dispatcher, streams, queues, scheduler, alerts] = await Promise.all([
      readBoxHealth(this.s.config.hostname),
      dispatcherSection(ctx),
      streamsSection(ctx),
      queuesSection(ctx),
      schedulerSection(ctx),
      alertsSection(ctx, 8),
    ]);
    return { at: new Date(this.s.clock.now()).toISOString(), health, dispatcher, streams, queues, scheduler, alerts };
  }

  /**
   * The latest snapshot. Older than 1 s, it is recomputed once for all concurrent callers; while that
   * runs, callers still get the previous one if it is less than 10 s old (stale-while-revalidate), so no
   * request waits for the ~10 ms of queries behind the dashboard.
   */
  async snapshot(): Promise<{ data: DashboardSnapshot; json: string }> {
    const now = Date.now();
    if (this.cached && now - this.cached.at < SNAPSHOT_MAX_AGE_MS) return this.cached;
    const refresh = this.refresh();
    if (this.cached && now - this.cached.at < STALE_SERVE_MS) {
      refresh.catch((err) => this.s.log.error('dashboard snapshot failed', { err })); // the next caller retries
      return this.cached;
    }
    return refresh;
  }

  private refresh(): Promise<{ data: DashboardSnapshot; json: string }> {
    this.inflight ??= this.compute()
      .then((data) => {
        this.cached = { at: Date.now(), data, json: JSON.stringify(data) };
        return this.cached;
      })
      .finally(() => {
        this.inflight = null;
      });
    return this.inflight;
  }

  subscribe(fn: (snap: DashboardSnapshot) => void): () => void {
    this.listeners.add(fn);
    if (!this.timer) {
      this.timer = setInterval(() => void this.push(), PUSH_INTERVAL_MS);
      this.timer.unref();
    }
    return () => {
      this.listeners.delete(fn);
      if (!this.listeners.size) this.stop();
    };
  }

  private async push(): Promise<void> {
    try {
      const { data } = await this.snapshot();
      for (const l of this.listeners) l(data);
    } catch (err) {
      this.s.log.error('dashboard snapshot failed', { err });
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
