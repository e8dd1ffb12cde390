/**
 * The simulator's WebSocket side: routing of upgrades, per-socket server pings with the pong deadline,
 * and the connection-lifetime cut. Sockets live in `sim.sockets`; delivery is in ./simulator.ts.
 */
import http from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket } from 'ws';
import { errorMessage } from '../../support/errors.js';
import type { SimAccount } from './accounts.js';
import type { BinanceSimulator, SimSocket } from './simulator.js';

const OPEN = WebSocket.OPEN;

function reject(sim: BinanceSimulator, socket: Duplex, status: number, body: Record<string, unknown>): void {
  sim.counters.rejectedConnections++;
  const text = JSON.stringify(body);
  socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`);
}

/** Route a WebSocket upgrade: /private/ws (user data), /market (mark prices); the legacy routes are gone. */
export function onUpgrade(sim: BinanceSimulator, req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
  const url = new URL(req.url ?? '/', 'http://sim');
  sim.counters.connectionAttempts++;
  sim.connectionLog.push({ path: url.pathname, at: sim.clock.now() });
  if (sim.connectionLog.length > 5000) sim.connectionLog.splice(0, sim.connectionLog.length - 5000);
  socket.on('error', () => socket.destroy()); // a client vanishing mid-handshake is not our error
  if (sim.refuseUpgrades) return reject(sim, socket, 503, { code: -1000, msg: 'Service unavailable (simulated outage).' });

  if (url.pathname === '/private/ws' || url.pathname.startsWith('/private/ws/')) {
    const key = url.searchParams.get('listenKey') ?? decodeURIComponent(url.pathname.slice('/private/ws/'.length));
    const acc = key ? sim.accountForListenKey(key) : undefined;
    if (!acc || !acc.activeKey(sim.clock.now()) || acc.listenKey?.key !== key) {
      return reject(sim, socket, 400, { code: -1125, msg: 'This listenKey does not exist.' });
    }
    return sim.wss.handleUpgrade(req, socket, head, (ws) => adopt(sim, ws, 'user', acc, key, false));
  }
  if (url.pathname === '/market/stream' || url.pathname.startsWith('/market/ws/')) {
    const streams = url.pathname === '/market/stream' ? (url.searchParams.get('streams') ?? '').split('/') : [decodeURIComponent(url.pathname.slice('/market/ws/'.length))];
    if (!streams.some((s) => s === '!markPrice@arr@1s' || s === '!markPrice@arr')) return reject(sim, socket, 400, { code: -1121, msg: 'Invalid stream name; the simulator serves !markPrice@arr@1s.' });
    return sim.wss.handleUpgrade(req, socket, head, (ws) => adopt(sim, ws, 'market', null, null, url.pathname === '/market/stream'));
  }
  // The legacy routes (/ws/<key>, /stream?streams=) were retired on 2026-04-23.
  reject(sim, socket, 404, { code: -1000, msg: `No WebSocket route ${url.pathname} (legacy routes are retired; use /market or /private)` });
}

function adopt(sim: BinanceSimulator, ws: WebSocket, kind: 'user' | 'market', acc: SimAccount | null, key: string | null, envelope: boolean): void {
  const now = sim.clock.now();
  const s: SimSocket = { ws, kind, account: acc, listenKey: key, envelope, openedAt: now, lastPongAt: now, halfOpen: false, abort: new AbortController() };
  sim.sockets.add(s);
  if (acc) acc.counters.connectionsOpened++;
  else sim.counters.marketConnectionsOpened++;
  ws.on('ping', (data) => {
    if (!s.halfOpen && ws.readyState === OPEN) ws.pong(data);
  });
  ws.on('pong', () => {
    s.lastPongAt = sim.clock.now();
  });
  ws.on('error', (err) => sim.log?.debug('simulator socket error', { error: err.message }));
  ws.on('close', () => {
    s.abort.abort();
    sim.sockets.delete(s);
  });
  void pingLoop(sim, s);
  void lifetimeTimer(sim, s);
  if (kind === 'market') void sim.markLoop();
  sim.onSocketOpen?.(s);
}

/** Ping every pingIntervalMs; a socket that has not ponged within pongDeadlineMs of a ping is cut. */
async function pingLoop(sim: BinanceSimulator, s: SimSocket): Promise<void> {
  try {
    for (;;) {
      await sim.clock.sleep(sim.settings.pingIntervalMs, s.abort.signal);
      if (s.halfOpen || s.ws.readyState !== OPEN) continue;
      const sentAt = sim.clock.now();
      s.ws.ping();
      sim.clock.sleep(sim.settings.pongDeadlineMs, s.abort.signal).then(
        () => {
          if (s.lastPongAt < sentAt && s.ws.readyState === OPEN) s.ws.terminate();
        },
        () => undefined, // the socket closed first
      );
    }
  } catch (err) {
    if ((err as Error).name !== 'AbortError') sim.log?.error('simulator ping loop failed', { error: errorMessage(err) });
  }
}

/** Binance cuts every connection at 24 h (here: connectionLimitMs). */
async function lifetimeTimer(sim: BinanceSimulator, s: SimSocket): Promise<void> {
  try {
    await sim.clock.sleep(sim.settings.connectionLimitMs, s.abort.signal);
    if (s.ws.readyState === OPEN) {
      sim.counters.lifetimeCuts++;
      s.ws.close(1001, 'connection lifetime reached');
    }
  } catch (err) {
    if ((err as Error).name !== 'AbortError') sim.log?.error('simulator lifetime timer failed', { error: errorMessage(err) });
  }
}
