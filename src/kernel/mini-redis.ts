/**
 * A one-shot Redis client for the start-up path of `schedule:run`: connect, send a few commands in one
 * pipelined write, read their replies, close. It exists because importing ioredis costs ~80 ms, more than
 * twice Node's own start-up, and a minute with nothing due only needs to write the scheduler heartbeat.
 * Everything else in Athena uses ioredis (src/redis/connection.ts).
 *
 * It speaks RESP2 over TCP (redis://, with AUTH and SELECT from the URL). rediss:// is not handled here:
 * the caller falls back to ioredis.
 */
import net from 'node:net';
import { RedisUnreachableError } from '../support/errors.js';
import { maskUrl } from '../support/mask.js';

export const ONE_SHOT_TIMEOUT_MS = 3000;

export class UnsupportedRedisUrl extends Error {}

type Reply = string | number | null | Error | Reply[];

function encode(args: Array<string | number>): string {
  let out = `*${args.length}\r\n`;
  for (const a of args) {
    const s = String(a);
    out += `$${Buffer.byteLength(s)}\r\n${s}\r\n`;
  }
  return out;
}

/** Parse one reply at `pos`; returns [reply, next position] or null when more bytes are needed. */
function parseReply(buf: Buffer, pos: number): [Reply, number] | null {
  const eol = buf.indexOf('\r\n', pos);
  if (eol < 0) return null;
  const type = String.fromCharCode(buf[pos]!);
  const line = buf.toString('utf8', pos + 1, eol);
  const next = eol + 2;
  switch (type) {
    case '+':
      return [line, next];
    case '-':
      return [new Error(line), next];
    case ':':
      return [Number(line), next];
    case '$': {
      const len = Number(line);
      if (len < 0) return [null, next];
      if (buf.length < next + len + 2) return null;
      return [buf.toString('utf8', next, next + len), next + len + 2];
    }
    case '*': {
      const n = Number(line);
      if (n < 0) return [null, next];
      const items: Reply[] = [];
      let p = next;
      for (let i = 0; i < n; i++) {
        const r = parseReply(buf, p);
        if (!r) return null;
        items.push(r[0]);
        p = r[1];
      }
      return [items, p];
    }
    default:
      throw new Error(`unexpected Redis reply type "${type}"`);
  }
}

/** Commands the URL implies before ours: AUTH and SELECT. */
function preamble(u: URL): Array<Array<string | number>> {
  const out: Array<Array<string | number>> = [];
  const user = decodeURIComponent(u.username);
  const pass = decodeURIComponent(u.password);
  if (pass) out.push(user ? ['AUTH', user, pass] : ['AUTH', pass]);
  const db = Number(u.pathname.replace(/^\//, '') || u.searchParams.get('db') || 0);
  if (db) out.push(['SELECT', db]);
  return out;
}

/**
 * One connection, opened at construction (so the TCP handshake overlaps whatever the caller does next),
 * used for one pipelined batch of commands, then closed. Errors surface from send(): a refused or silent
 * server gives RedisUnreachableError ("Redis is not reachable at <url>"), an error reply its message.
 */
export class OneShotRedis {
  private readonly socket: net.Socket;
  private readonly connected: Promise<void>;
  private readonly preamble: Array<Array<string | number>>;

  constructor(
    private readonly url: string,
    private readonly timeoutMs = ONE_SHOT_TIMEOUT_MS,
  ) {
    const u = new URL(url);
    if (u.protocol !== 'redis:') throw new UnsupportedRedisUrl(`${u.protocol} is not handled by the one-shot client`);
    this.preamble = preamble(u);
    this.socket = net.connect({ host: u.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1', port: Number(u.port || 6379) });
    this.socket.setNoDelay(true);
    this.connected = new Promise<void>((resolve, reject) => {
      this.socket.once('connect', resolve);
      this.socket.once('error', (err) => reject(new RedisUnreachableError(maskUrl(url), err.message)));
      this.socket.setTimeout(timeoutMs, () => reject(new RedisUnreachableError(maskUrl(url), `no answer within ${timeoutMs} ms`)));
    });
    // Not swallowed: send() awaits `connected` and rethrows. This only keeps an early failure from being
    // reported as an unhandled rejection before send() is called (or when close() is used instead).
    this.connected.catch(() => undefined);
  }

  /** Run `commands` in one round trip and return their replies; the connection is closed afterwards. */
  async send(commands: Array<Array<string | number>>): Promise<Reply[]> {
    const all = [...this.preamble, ...commands];
    try {
      await this.connected;
      const replies = await this.exchange(all);
      const firstError = replies.find((r) => r instanceof Error);
      if (firstError) throw new Error(`Redis answered: ${(firstError as Error).message}`);
      return replies.slice(this.preamble.length);
    } finally {
      this.close();
    }
  }

  private exchange(all: Array<Array<string | number>>): Promise<Reply[]> {
    return new Promise<Reply[]>((resolve, reject) => {
      let buf: Buffer = Buffer.alloc(0);
      const got: Reply[] = [];
      let pos = 0;
      this.socket.once('error', (err) => reject(new RedisUnreachableError(maskUrl(this.url), err.message)));
      this.socket.setTimeout(this.timeoutMs, () => reject(new RedisUnreachableError(maskUrl(this.url), `no answer within ${this.timeoutMs} ms`)));
      this.socket.on('data', (chunk: Buffer) => {
        buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
        try {
          while (got.length < all.length) {
            const r = parseReply(buf, pos);
            if (!r) break;
            got.push(r[0]);
            pos = r[1];
          }
        } catch (err) {
          return reject(err as Error);
        }
        if (got.length === all.length) resolve(got);
      });
      this.socket.write(all.map(encode).join(''));
    });
  }

  /** Close at once (every reply is in, or the connection is not needed): no wait for the server's FIN. */
  close(): void {
    this.socket.destroy();
  }

  /** Just enough of a client for writeHeartbeat(): `set(key, value, 'EX', seconds)`. */
  async set(key: string, value: string, mode: 'EX', seconds: number): Promise<'OK'> {
    await this.send([['SET', key, value, mode, seconds]]);
    return 'OK';
  }
}

/** Run `commands` in one round trip on a fresh connection. */
export function oneShot(url: string, commands: Array<Array<string | number>>, timeoutMs = ONE_SHOT_TIMEOUT_MS): Promise<Reply[]> {
  return new OneShotRedis(url, timeoutMs).send(commands);
}
