/**
 * Talking to horizon masters through Redis (docs/contracts.md): what horizon:pause / continue / terminate /
 * status and the admin UI use. Nothing here imports bullmq.
 *
 *  - to one host:  LPUSH <p>:horizon:commands:<host> {"command", "at"}; that host's master pops it.
 *  - to every master: INCR <p>:horizon:commands-seq and RPUSH <p>:horizon:commands:* {"command", "at", "seq"}
 *    (trimmed to 100 entries), in one script; each master applies the entries whose seq is above the last it saw.
 */
import type { Redis } from 'ioredis';
import { horizonKeys } from './keys.js';
import { scanAll } from '../redis/scan.js';

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
  // One script: a master reading between a separate INCR and RPUSH would see the new seq without its entry,
  // take the seq as applied, and lose the command.
  await redis.eval(BROADCAST_SCRIPT, 2, k.broadcastSeq(), k.broadcast(), command, now.toISOString());
}

const BROADCAST_SCRIPT = `
local seq = redis.call('INCR', KEYS[1])
redis.call('RPUSH', KEYS[2], cjson.encode({command = ARGV[1], at = ARGV[2], seq = seq}))
redis.call('LTRIM', KEYS[2], -100, -1)
return seq`;

export async function readMasters(redis: Redis, prefix: string): Promise<MasterState[]> {
  const k = horizonKeys(prefix);
  const keys = await scanAll(redis, k.masterPattern(), 200);
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
      // The list may already hold entries pushed after that GET: the last seq applied is the highest one read.
      let last = this.lastSeq;
      for (const raw of await this.redis.lrange(k.broadcast(), 0, -1)) {
        const e = parse(raw);
        if (e && (e.seq ?? 0) > this.lastSeq) {
          out.push(e);
          last = Math.max(last, e.seq ?? 0);
        }
      }
      this.lastSeq = last;
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
