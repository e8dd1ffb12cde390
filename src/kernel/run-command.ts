/**
 * `schedule:run`, shared by the fast entry (src/launcher/fast-entries.ts, no oclif) and the oclif command,
 * so both behave the same. This module stays light on purpose: when the prefilter rules every task out,
 * the run costs the schedule module, one heartbeat written with the one-shot Redis client, and nothing
 * else (no cron-parser, Intl, ioredis, knex, bullmq or oclif). Otherwise ./kernel.ts is loaded.
 */
import type { Config } from '@oclif/core';
import { getConfig, type AppConfig } from '../config/index.js';
import { connectRedis, closeRedis } from '../redis/connection.js';
import { writeHeartbeat } from '../support/heartbeat.js';
import { createLogger } from '../support/log.js';
import { systemClock } from '../support/clock.js';
import { shiftedClock } from './clocks.js';
import { loadSchedule } from './loader.js';
import { kernelLogSink } from './log-sink.js';
import { OneShotRedis, UnsupportedRedisUrl } from './mini-redis.js';
import { mayBeDue } from './prefilter.js';
import { NOTHING_DUE } from './present.js';
import type { Kernel, ScheduleRunResult } from './kernel.js';
import { minuteOf, schedulerBeat, SCHEDULER_HEARTBEAT_TTL_S, type BeatSummary } from './state.js';

export interface ScheduleRunOptions {
  /** Do not print "No scheduled commands are ready to run." */
  whisper?: boolean;
  /** Print nothing; the caller prints the returned document. */
  json?: boolean;
  /** Run as of this instant (epoch ms): tests and benchmarks only (hidden flag --at). */
  at?: number;
  oclifConfig?: Config;
  config?: AppConfig;
  write?(line: string): void;
}

/** Open the one-shot connection now (the handshake overlaps loading the schedule), or null for rediss:// and Redis Cluster. */
function earlyConnection(config: AppConfig): OneShotRedis | null {
  if (config.redis.cluster) return null; // a Redis Cluster answers MOVED: ioredis' Cluster client handles it
  try {
    return new OneShotRedis(config.redis.url);
  } catch (err) {
    if (err instanceof UnsupportedRedisUrl) return null; // rediss:// and friends: ioredis handles them
    throw err;
  }
}

async function quickHeartbeat(config: AppConfig, conn: OneShotRedis | null, beat: ReturnType<typeof schedulerBeat>): Promise<void> {
  if (conn) await writeHeartbeat(conn, config.redis.prefix, beat, SCHEDULER_HEARTBEAT_TTL_S);
  else {
    const redis = await connectRedis(config.redis, 'cli');
    try {
      await writeHeartbeat(redis, config.redis.prefix, beat, SCHEDULER_HEARTBEAT_TTL_S);
    } finally {
      await closeRedis(redis);
    }
  }
}

export async function scheduleRun(opts: ScheduleRunOptions = {}): Promise<ScheduleRunResult> {
  const config = opts.config ?? getConfig();
  const offset = opts.at === undefined ? 0 : opts.at - Date.now();
  const clock = opts.at === undefined ? systemClock : shiftedClock(offset);
  const write = opts.write ?? ((line: string) => void process.stdout.write(`${line}\n`));
  const startedAt = clock.now();
  const slot = minuteOf(startedAt);
  const log = createLogger('scheduler', { host: config.hostname }, kernelLogSink);

  let kernel: Kernel | null = null;
  const getKernel = async (): Promise<Kernel> => {
    if (!kernel) {
      const { Kernel } = await import('./kernel.js');
      kernel = new Kernel(config, clock, { oclifConfig: opts.oclifConfig, clockOffsetMs: offset });
    }
    return kernel;
  };
  const conn = earlyConnection(config);
  try {
    const schedule = await loadSchedule(config, { log, readCoolingDown: async () => (await getKernel()).readCoolingDown() });
    if (!schedule.tasks.some((t) => mayBeDue(t, slot))) {
      const summary: BeatSummary = { slot: new Date(slot).toISOString(), due: 0, failed: 0 };
      await quickHeartbeat(config, conn, schedulerBeat(config.hostname, process.pid, startedAt, clock.now(), summary));
      if (!opts.whisper && !opts.json) write(NOTHING_DUE);
      return { exitCode: 0, document: { ...summary, interrupted: false, outcomes: [] } };
    }
    conn?.close(); // something may be due: the kernel uses ioredis from here on
    return await (await getKernel()).runSchedule(schedule, startedAt, { whisper: opts.whisper, json: opts.json, write });
  } finally {
    conn?.close();
    if (kernel) {
      await (kernel as Kernel).close();
      (kernel as Kernel).exitIfStuck();
    }
  }
}

