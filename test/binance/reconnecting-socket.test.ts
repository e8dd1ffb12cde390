/**
 * The connection manager shared by both daemons, against the simulator: frames written right behind the
 * handshake are not lost, rotation is make-before-break, close() is final, and the back-off is bounded
 * and jittered.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BinanceSimulator } from '../../src/binance/simulator/index.js';
import { ReconnectingSocket, type ReconnectingSocketOptions } from '../../src/binance/ws/reconnecting-socket.js';
import { backoffDelay } from '../../src/binance/ws/backoff.js';
import { FakeClock } from '../../src/support/clock.js';
import { createLogger, MemorySink } from '../../src/support/log.js';
import { T0, waitFor } from './helpers.js';

let sim: BinanceSimulator;
let clock: FakeClock;

beforeAll(async () => {
  clock = new FakeClock(T0);
  sim = await BinanceSimulator.start({ port: 0, clock, demoAccounts: 1, symbols: 3 });
});

afterAll(async () => {
  await sim?.close();
});

function socket(received: string[], extra: Partial<ReconnectingSocketOptions> = {}): ReconnectingSocket {
  const key = sim.startListenKey(sim.account(1));
  return new ReconnectingSocket({
    name: 'test',
    clock,
    log: createLogger('test', {}, new MemorySink()),
    url: () => `${sim.wsUrl}/private/ws?listenKey=${key}`,
    onMessage: (d) => received.push(d.toString()),
    idleTimeoutMs: 0,
    pingsCountAsAlive: true,
    pingIntervalMs: 0,
    pongTimeoutMs: 10_000,
    random: () => 0.5,
    ...extra,
  });
}

describe('ReconnectingSocket', () => {
  it('keeps frames the server writes right behind the handshake', async () => {
    const received: string[] = [];
    sim.onSocketOpen = (s) => {
      for (let i = 0; i < 3; i++) sim.push(s.account!.label, { e: 'EARLY', n: i });
    };
    const ws = socket(received);
    try {
      ws.start();
      await waitFor(() => received.length === 3, 'three early frames');
      expect(received.map((r) => JSON.parse(r).n)).toEqual([0, 1, 2]);
    } finally {
      sim.onSocketOpen = null;
      await ws.close();
    }
  });

  it('rotates make-before-break: the new socket is open before the old one closes, every frame arrives', async () => {
    const received: string[] = [];
    const ws = socket(received);
    ws.start();
    await waitFor(() => ws.connected, 'open');
    let n = 0;
    const pushMany = (k: number) => {
      for (let i = 0; i < k; i++) sim.push(1, { e: 'SEQ', n: n++ });
    };
    pushMany(20);
    const rotating = ws.rotate();
    pushMany(20); // while the new socket is being opened
    expect(await rotating).toBe(true);
    pushMany(20);
    await waitFor(() => new Set(received.map((r) => JSON.parse(r).n)).size === 60, 'all 60 distinct frames');
    expect(ws.stats.rotations).toBe(1);
    expect(ws.stats.reconnects).toBe(0);
    await waitFor(() => sim.openSockets(1).length === 1, 'old socket closed');
    await ws.close();
  });

  it('close() is final: code 1000 to the server and no reconnect afterwards', async () => {
    const ws = socket([]);
    ws.start();
    await waitFor(() => ws.connected, 'open');
    const [server] = sim.openSockets(1);
    const code = new Promise<number>((r) => server!.ws.on('close', (c) => r(c)));
    const attempts = sim.counters.connectionAttempts;
    await ws.close();
    expect(await code).toBe(1000);
    await clock.advance(120_000);
    await new Promise((r) => setTimeout(r, 30));
    expect(sim.counters.connectionAttempts).toBe(attempts);
  });

  it('backs off exponentially up to 30 s, with jitter', () => {
    const nominal = [1, 2, 3, 4, 5, 6, 7, 12].map((a) => backoffDelay(a, () => 0));
    expect(nominal).toEqual([1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
    expect(backoffDelay(3, () => 1)).toBe(2000); // 50 % jitter at most
    expect(backoffDelay(3, () => 0.5, { jitter: 0 })).toBe(4000);
  });
});
