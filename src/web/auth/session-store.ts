/**
 * Session records in Redis: `<prefix>:web:session:<id>` holding {data, createdAt, expiresAt} as JSON, with a
 * TTL to the absolute expiry. Sessions survive a web restart and are shared by every web process of the
 * box; logging out deletes the key, so a stolen cookie dies with the logout.
 *
 * Reads are cached in this process for READ_CACHE_MS (1 s), so a busy page or API client does not pay a
 * Redis round trip per request. Writes and deletes by this process update the cache at once; the only lag
 * is for a logout performed by *another* web process (at most 1 s).
 */
import type { Redis } from 'ioredis';

export const READ_CACHE_MS = 1000;
const READ_CACHE_MAX = 10_000;

export interface SessionRecord {
  data: Record<string, unknown>;
  createdAt: number;
  expiresAt: number;
}

export class RedisSessionStore {
  private cache = new Map<string, { at: number; rec: SessionRecord | null }>();

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  key(id: string): string {
    return `${this.prefix}:web:session:${id}`;
  }

  private remember(id: string, rec: SessionRecord | null): void {
    if (this.cache.size >= READ_CACHE_MAX) this.cache.clear();
    this.cache.set(id, { at: Date.now(), rec });
  }

  async read(id: string): Promise<SessionRecord | null> {
    const hit = this.cache.get(id);
    if (hit && Date.now() - hit.at < READ_CACHE_MS) return hit.rec;
    const raw = await this.redis.get(this.key(id));
    let rec: SessionRecord | null = null;
    if (raw) {
      try {
        rec = JSON.parse(raw) as SessionRecord;
      } catch {
        rec = null; // a corrupt record is treated as none: the operator logs in again
      }
    }
    this.remember(id, rec);
    return rec;
  }

  async write(id: string, rec: SessionRecord): Promise<void> {
    const ttl = Math.max(1, Math.ceil((rec.expiresAt - Date.now()) / 1000));
    await this.redis.set(this.key(id), JSON.stringify(rec), 'EX', ttl);
    this.remember(id, rec);
  }

  async remove(id: string): Promise<void> {
    this.cache.delete(id);
    await this.redis.del(this.key(id));
    this.cache.delete(id);
  }
}
