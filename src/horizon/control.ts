/**
 * Talking to horizon masters through Redis (docs/contracts.md): what horizon:pause / continue / terminate /
 * status and the admin UI use. Nothing here imports bullmq.
 *
 *  - to one host:  LPUSH <p>:horizon:commands:<host> {"command", "at"}; that host's master pops it.
 *  - to every master: INCR <p>:horizon:commands-seq, then RPUSH <p>:horizon:commands:* {"command", "at", "seq"}
 *    (trimmed to 100 entries); each master applies the entries whose seq is above the last it saw.
 */
import type { Redis } from 'ioredis';
import { horizonKeys } from './keys.js';

export type HorizonCommand = 'pause' | 'continue' | 'terminate';
export const HORIZON_COMMANDS: HorizonCommand[] = ['pause', 'continue', 'terminate'];

export interface CommandEnvelope {
  command: HorizonCommand;
  at: string;
  seq?: number;
}

export interface MasterState {
  host: string;
  pid: number;
  status: string;
  started_at: string;
  at: string;
  supervisors: Array<{
    name: string;
    queues: string[];
    balance: string;
    min: number;
    max: number;
    target?: number;
    restarts?: number;
    processes: Array<{ pid: number | null; queue: string | null; queues?: string[]; status: string; jobs: number; failed?: number; started_at: string; rss_mb: number | null }>;
  }>;
}

export async function sendCommand(redis: Redis, prefix: string, command: HorizonCommand, host: string | null, now: Date): Promise<void> {
  const k = horizonKeys(prefix);
  if (host) {
    await redis.lpush(k.commands(host), JSON.stringify({ command, at: now.toISOString() }));
    await redis.pexpire(k.commands(host), 3600_000);
    return;
  }
  const seq = await redis.incr(k.broadcastSeq());
  await redis.multi().rpush(k.broadcast(), JSON.stringify({ command, at: now.toISOString(), seq })).ltrim(k.broadcast(), -100, -1).exec();
}

export async function readMasters(redis: Redis, prefix: string): Promise<MasterState[]> {
  const k = horizonKeys(prefix);
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', k.masterPattern(), 'COUNT', 200);
    cursor = next;
    keys.push(...found);
  } while (cursor !== '0');
  if (!keys.length) return [];
  const values = await redis.mget(...keys);
  const out: MasterState[] = [];
  for (const v of values) {
    if (!v) continue;
    try {
      out.push(JSON.parse(v) as MasterState);
    } catch {
      // a torn or foreign value: not a master
    }
  }
  return out.sort((a, b) => a.host.localeCompare(b.host));
}

/** The command-reading side, kept by each master. */
export class CommandInbox {
  private lastSeq = 0;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly host: string,
  ) {}

  /** Skip broadcasts sent before this master started. */
  async init(): Promise<void> {
    this.lastSeq = Number((await this.redis.get(horizonKeys(this.prefix).broadcastSeq())) ?? 0);
  }

  async take(): Promise<CommandEnvelope[]> {
    const k = horizonKeys(this.prefix);
    const out: CommandEnvelope[] = [];
    const seq = Number((await this.redis.get(k.broadcastSeq())) ?? 0);
    if (seq > this.lastSeq) {
      for (const raw of await this.redis.lrange(k.broadcast(), 0, -1)) {
        const e = parse(raw);
        if (e && (e.seq ?? 0) > this.lastSeq) out.push(e);
      }
      this.lastSeq = seq;
    }
    for (;;) {
      const raw = await this.redis.rpop(k.commands(this.host));
      if (raw === null) break;
      const e = parse(raw);
      if (e) out.push(e);
    }
    return out;
  }
}

function parse(raw: string): CommandEnvelope | null {
  try {
    const e = JSON.parse(raw) as CommandEnvelope;
    return HORIZON_COMMANDS.includes(e.command) ? e : null;
  } catch {
    return null;
  }
}
