/**
 * @fastify/session store in Redis: `<prefix>:web:session:<id>` holding the session JSON, with a TTL equal
 * to the cookie's remaining lifetime. Sessions survive a web restart and are shared by every web process
 * of the box; logging out deletes the key, so a stolen cookie dies with the logout.
 */
import type { Redis } from 'ioredis';
import type { Session } from 'fastify';

type Callback = (err?: unknown) => void;
type GetCallback = (err: unknown, result?: Session | null) => void;

export const SESSION_MAX_AGE_MS = 12 * 3600_000;

export class RedisSessionStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  key(id: string): string {
    return `${this.prefix}:web:session:${id}`;
  }

  set(sessionId: string, session: Session, callback: Callback): void {
    const cookie = (session as unknown as { cookie?: { expires?: Date | string | null } }).cookie;
    const expires = cookie?.expires ? new Date(cookie.expires).getTime() : Date.now() + SESSION_MAX_AGE_MS;
    const ttl = Math.max(1, Math.ceil((expires - Date.now()) / 1000));
    this.redis.set(this.key(sessionId), JSON.stringify(session), 'EX', ttl).then(
      () => callback(),
      (err) => callback(err),
    );
  }

  get(sessionId: string, callback: GetCallback): void {
    this.redis.get(this.key(sessionId)).then(
      (raw) => {
        if (!raw) return callback(null, null);
        try {
          callback(null, JSON.parse(raw) as Session);
        } catch {
          callback(null, null); // a corrupt session is treated as none: the user logs in again
        }
      },
      (err) => callback(err),
    );
  }

  destroy(sessionId: string, callback: Callback): void {
    this.redis.del(this.key(sessionId)).then(
      () => callback(),
      (err) => callback(err),
    );
  }
}
