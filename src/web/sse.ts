/**
 * Server-Sent Events on a hijacked fastify reply: the dashboard's live updates and the command runner's
 * output stream. Proxies must not buffer (X-Accel-Buffering: no); a comment line every 15 s keeps idle
 * connections open; the server closes every stream on shutdown.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { WebServices } from './services.js';

export interface SseStream {
  send(event: string, data: unknown): void;
  close(): void;
  readonly closed: boolean;
  onClose(fn: () => void): void;
}

export function openSse(req: FastifyRequest, reply: FastifyReply, s: WebServices): SseStream {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-store',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  res.write('retry: 3000\n\n');
  let closed = false;
  const closers: Array<() => void> = [];
  const keepAlive = setInterval(() => {
    if (!closed) res.write(': keep-alive\n\n');
  }, 15_000);
  const client = {
    close: () => {
      if (closed) return;
      closed = true;
      clearInterval(keepAlive);
      s.sseClients.delete(client);
      for (const fn of closers) {
        try {
          fn();
        } catch (err) {
          s.log.warn('sse close handler failed', { err });
        }
      }
      res.end();
    },
  };
  s.sseClients.add(client);
  req.raw.on('close', () => client.close());
  return {
    send(event: string, data: unknown) {
      if (closed) return;
      const payload = typeof data === 'string' ? data : JSON.stringify(data);
      res.write(`event: ${event}\n${payload.split('\n').map((l) => `data: ${l}`).join('\n')}\n\n`);
    },
    close: client.close,
    get closed() {
      return closed;
    },
    onClose(fn: () => void) {
      closers.push(fn);
    },
  };
}
