/**
 * The `web` program: run() listens and blocks until SIGTERM/SIGINT, tick() writes the heartbeat
 * `<prefix>:heartbeat:web:<host>` every 10 s, close() stops accepting connections, ends SSE streams,
 * cancels running commands (their rows say so), waits for in-flight requests and closes DB and Redis.
 * Signal handlers only set a flag; the loop does the work.
 */
import type { FastifyInstance } from 'fastify';
import type { Runtime } from '../runtime.js';
import { interruptOrphanRuns } from '../db/repositories/command-runs.js';
import { writeHeartbeat } from '../support/heartbeat.js';
import { buildWebApp, type WebApp } from './server.js';
import { closeRedis, connectRedis } from '../redis/connection.js';
import type { Redis } from 'ioredis';

export const HEARTBEAT_INTERVAL_MS = 10_000;

export class WebDaemon {
  private web: WebApp | null = null;
  private redis: Redis | null = null;
  private stopping = false;
  private wake: (() => void) | null = null;
  private readonly startedAt = new Date().toISOString();
  address = '';

  constructor(
    private readonly runtime: Runtime,
    private readonly opts: { port: number; host: string; onListening?: (address: string) => void },
  ) {}

  get app(): FastifyInstance | null {
    return this.web?.app ?? null;
  }

  async start(): Promise<string> {
    const rt = this.runtime;
    const db = await rt.db({ poolMax: 10 });
    // Its own client: reconnects forever like a daemon, but a command issued while Redis is away fails
    // after two reconnect attempts instead of waiting, so requests answer (with an error) rather than hang.
    const redis = await connectRedis(rt.config.redis, 'daemon', { maxRetriesPerRequest: 2 });
    this.redis = redis;
    const marked = await interruptOrphanRuns(db, rt.config.hostname, new Date(rt.clock.now()));
    if (marked) rt.log.warn('marked command runs left by a previous web process as interrupted', { count: marked });
    this.web = await buildWebApp({ config: rt.config, db, redis, clock: rt.clock, log: rt.log.child('web') });
    this.address = await this.web.app.listen({ port: this.opts.port, host: this.opts.host });
    this.opts.onListening?.(this.address);
    await this.tick();
    return this.address;
  }

  /** One iteration: the heartbeat (errors are logged, the server keeps serving). */
  async tick(): Promise<void> {
    if (!this.web) return;
    try {
      const s = this.web.services;
      await writeHeartbeat(
        this.redis!,
        this.runtime.config.redis.prefix,
        { daemon: 'web', host: this.runtime.config.hostname, pid: process.pid, started_at: this.startedAt, address: this.address, sse_clients: s.sseClients.size, running_commands: s.runner.runningCount() },
        (HEARTBEAT_INTERVAL_MS / 1000) * 3,
      );
    } catch (err) {
      this.runtime.log.warn('web heartbeat failed', { err });
    }
  }

  requestStop(): void {
    this.stopping = true;
    this.wake?.();
  }

  /** Listen, then block until a signal asks to stop; then close gracefully. */
  async run(): Promise<void> {
    const onSignal = () => this.requestStop();
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    try {
      await this.start();
      while (!this.stopping) {
        await new Promise<void>((resolve) => {
          this.wake = resolve;
          setTimeout(resolve, HEARTBEAT_INTERVAL_MS).unref();
        });
        this.wake = null;
        if (!this.stopping) await this.tick();
      }
    } finally {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      await this.close();
    }
  }

  async close(): Promise<void> {
    const web = this.web;
    this.web = null;
    if (web) await web.app.close();
    const redis = this.redis;
    this.redis = null;
    if (redis) {
      try {
        await redis.del(`${this.runtime.config.redis.prefix}:heartbeat:web:${this.runtime.config.hostname}`);
      } catch (err) {
        this.runtime.log.warn('could not remove the web heartbeat', { err });
      }
      await closeRedis(redis);
    }
  }
}
