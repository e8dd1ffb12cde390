/**
 * Waking the dispatch daemon. Whoever creates a step, or moves one so that other work may become runnable
 * (a completion, a failure, a retry with a delay), appends an entry to the Redis stream
 * <REDIS_PREFIX>:steps:notify: {s: set name, g: group ('' = NULL lane), d: due epoch ms or 0, m: '1' when a
 * step changed state (the lane's cleanup phases may have work)}. Every daemon
 * blocks on XREAD over that stream between cycles, so it ticks the named group within milliseconds instead
 * of waiting out its sleep; an entry with a future due time arms a timer instead. The stream is capped
 * (MAXLEN ~ 10000): it is a wake-up signal, not a queue, and the daemon's periodic ticks are the safety net.
 */
import type { Redis } from 'ioredis';
import type { Logger } from '../support/log.js';
import { errorMessage } from '../support/errors.js';

export interface WakeSignal {
  /** Set name: 'default' or 'trading'. */
  set: string;
  group: string | null;
  /** Epoch ms when the step becomes due (0 or absent: now). */
  due?: number;
  /**
   * A step changed state (finished, failed, was requeued…), so the lane's cleanup phases may have work;
   * false/absent for a new step.
   */
  moved?: boolean;
}

export function notifyStreamKey(redisPrefix: string): string {
  return `${redisPrefix}:steps:notify`;
}

export const NOTIFY_MAXLEN = 10000;

/**
 * Append wake-up signals (one pipelined round trip). Never throws: the steps are already committed, and a
 * daemon that misses the signal still finds them on its next periodic tick; the failure is logged.
 */
export async function notifyDispatcher(redis: Redis | null | undefined, redisPrefix: string, signals: WakeSignal[], log?: Logger): Promise<void> {
  if (!redis || signals.length === 0) return;
  const key = notifyStreamKey(redisPrefix);
  const seen = new Set<string>();
  const pipe = redis.pipeline();
  for (const s of signals) {
    const k = `${s.set}|${s.group ?? ''}|${s.due ?? 0}|${s.moved ? 1 : 0}`;
    if (seen.has(k)) continue;
    seen.add(k);
    pipe.xadd(key, 'MAXLEN', '~', NOTIFY_MAXLEN, '*', 's', s.set, 'g', s.group ?? '', 'd', String(s.due ?? 0), 'm', s.moved ? '1' : '0');
  }
  try {
    const res = await pipe.exec();
    const failed = res?.find(([err]) => err);
    if (failed) throw failed[0];
  } catch (err) {
    // Deliberately not rethrown: see the function comment.
    log?.warn('could not wake the dispatch daemon', { error: errorMessage(err) });
  }
}

/** Parse XREAD entries into signals. */
export function parseNotifyEntries(entries: Array<[string, string[]]>): WakeSignal[] {
  const out: WakeSignal[] = [];
  for (const [, fields] of entries) {
    const m: Record<string, string> = {};
    for (let i = 0; i + 1 < fields.length; i += 2) m[fields[i]!] = fields[i + 1]!;
    if (!m.s) continue;
    out.push({ set: m.s, group: m.g ? m.g : null, due: Number(m.d) || 0, moved: m.m === '1' });
  }
  return out;
}
