/**
 * The simulator's control API (JSON over HTTP under /_sim/), for tests, demos and the benchmarks.
 * Every route calls a public method of BinanceSimulator or SimScenarios, so in-process tests and remote
 * callers share one behaviour. docs/simulator.md lists the routes.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { errorMessage } from '../../support/errors.js';
import { HttpError, readJson, sendJson } from './http.js';
import type { RateLimitMode } from './limits.js';
import type { LifecycleSpec, MalformedKind, ScriptedFrame } from './scenarios.js';
import { DEFAULT_SIM_SETTINGS, type BinanceSimulator, type SimulatorSettings } from './simulator.js';

type Body = Record<string, unknown>;
type ControlHandler = (sim: BinanceSimulator, body: Body) => unknown;

function ref(body: Body, required = true): number | string | null {
  const v = body.account;
  if (typeof v === 'number' || (typeof v === 'string' && v !== '')) return v;
  if (required) throw new HttpError(400, { error: '"account" (label number or API key) is required' });
  return null;
}

function num(body: Body, name: string, fallback?: number): number {
  const v = body[name];
  if (v === undefined && fallback !== undefined) return fallback;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new HttpError(400, { error: `"${name}" must be a number` });
  return v;
}

function str(body: Body, name: string): string {
  const v = body[name];
  if (typeof v !== 'string' || !v) throw new HttpError(400, { error: `"${name}" must be a non-empty string` });
  return v;
}

const ROUTES: Record<string, ControlHandler> = {
  'GET /_sim/state': (sim) => sim.state(),
  'GET /_sim/requests': (sim) => ({ requests: sim.requestLog, connections: sim.connectionLog }),
  'POST /_sim/accounts': (sim, b) => {
    const a = sim.registerAccount({ apiKey: str(b, 'apiKey'), apiSecret: str(b, 'apiSecret'), label: b.label === undefined ? undefined : num(b, 'label') });
    return { label: a.label };
  },
  'POST /_sim/push': (sim, b) => {
    const events = Array.isArray(b.events) ? b.events : [b.event];
    if (events.some((e) => e === undefined)) throw new HttpError(400, { error: '"event" or "events" is required' });
    const account = ref(b)!;
    return { delivered: events.map((e) => sim.push(account, e)) };
  },
  'POST /_sim/lifecycle': (sim, b) => sim.scenarios.playLifecycle(ref(b)!, b as LifecycleSpec),
  'POST /_sim/burst': (sim, b) => {
    const kind = str(b, 'kind');
    if (kind !== 'out-of-order' && kind !== 'duplicate') throw new HttpError(400, { error: '"kind" must be out-of-order or duplicate' });
    return sim.scenarios.burst(ref(b)!, kind, b as LifecycleSpec);
  },
  'POST /_sim/malformed': (sim, b) => ({ sent: sim.scenarios.malformed(ref(b)!, str(b, 'kind') as MalformedKind, num(b, 'count', 1)) }),
  'POST /_sim/orders': (sim, b) => sim.scenarios.upsertOrder(ref(b)!, { ...(b as object), symbol: str(b, 'symbol') }),
  'DELETE /_sim/orders': (sim, b) => ({ deleted: sim.scenarios.forgetOrder(ref(b)!, num(b, 'orderId')) }),
  'POST /_sim/expire-key': (sim, b) => ({ expired: sim.expireListenKey(sim.account(ref(b)!), b.notify !== false) !== null }),
  'POST /_sim/drop': (sim, b) => ({ dropped: sim.dropSockets(ref(b, false), { kind: b.kind as 'user' | 'market' | undefined, terminate: b.terminate !== false, code: b.code as number | undefined }) }),
  'POST /_sim/half-open': (sim, b) => ({ sockets: sim.setHalfOpen(ref(b)!, b.on !== false) }),
  'POST /_sim/refuse-connections': (sim, b) => {
    sim.refuseUpgrades = b.on !== false;
    return { refusing: sim.refuseUpgrades };
  },
  'POST /_sim/mark/stall': (sim, b) => {
    sim.market.stalled = b.on !== false;
    return { stalled: sim.market.stalled };
  },
  'POST /_sim/mark/inject': (sim, b) => {
    if (!Array.isArray(b.entries)) throw new HttpError(400, { error: '"entries" must be an array of {s, p}' });
    sim.market.inject(b.entries as Array<{ s: string; p: unknown }>, num(b, 'frames', 1));
    return { queued: b.entries.length };
  },
  'POST /_sim/mark/tick': (sim) => ({ sockets: sim.tickMark() }),
  'POST /_sim/rate-limit': (sim, b) => {
    const mode = str(b, 'mode');
    if (!['off', '429', '418'].includes(mode)) throw new HttpError(400, { error: '"mode" must be off, 429 or 418' });
    sim.limits.setMode(mode as RateLimitMode, b.retryAfterSeconds === undefined ? undefined : num(b, 'retryAfterSeconds'));
    return { mode };
  },
  'POST /_sim/reset-limits': (sim) => {
    sim.limits.reset();
    return { ok: true };
  },
  'POST /_sim/fail': (sim, b) => {
    sim.failures.arm(num(b, 'count'), num(b, 'status', 500));
    return { ok: true };
  },
  'POST /_sim/config': (sim, b) => {
    const patch: Partial<SimulatorSettings> = {};
    for (const k of Object.keys(DEFAULT_SIM_SETTINGS) as Array<keyof SimulatorSettings>) {
      if (b[k] === undefined) continue;
      if (typeof DEFAULT_SIM_SETTINGS[k] === 'boolean') (patch as Record<string, unknown>)[k] = b[k] === true;
      else (patch as Record<string, unknown>)[k] = num(b, k);
    }
    sim.configure(patch);
    return sim.settings;
  },
  'POST /_sim/symbols': (sim, b) => {
    const status = b.status === null || b.delist === true ? null : str(b, 'status');
    if (!sim.market.setStatus(str(b, 'symbol'), status)) throw new HttpError(404, { error: 'unknown symbol' });
    return { ok: true };
  },
  'POST /_sim/load': (sim, b) => {
    if (b.frames !== undefined) {
      const frames = b.frames;
      if (!Array.isArray(frames) || frames.length === 0) throw new HttpError(400, { error: '"frames" must be a non-empty array of {account, event}' });
      frames.forEach((f: unknown, i) => {
        const x = f as { account?: unknown; event?: unknown } | null;
        if (!x || typeof x !== 'object' || (typeof x.account !== 'number' && typeof x.account !== 'string') || x.event === undefined) throw new HttpError(400, { error: `frames[${i}] must be {account, event}` });
        sim.account(x.account); // throws for an unknown account (400 with the reason)
      });
      const rate = num(b, 'rate');
      if (rate <= 0) throw new HttpError(400, { error: '"rate" must be positive' });
      sim.scenarios.startLoad({ rate, durationMs: 0, tickMs: num(b, 'tickMs', 2), frames: frames as ScriptedFrame[] });
      return sim.scenarios.loadState();
    }
    const accounts = b.accounts === undefined ? undefined : Array.isArray(b.accounts) && b.accounts.every((a) => Number.isInteger(a)) ? (b.accounts as number[]) : null;
    if (accounts === null) throw new HttpError(400, { error: '"accounts" must be an array of account labels' });
    sim.scenarios.startLoad({ rate: num(b, 'rate'), durationMs: num(b, 'durationMs'), tickMs: num(b, 'tickMs', 5), accounts });
    return sim.scenarios.loadState();
  },
  'DELETE /_sim/load': (sim) => {
    sim.scenarios.stopLoad();
    return sim.scenarios.loadState();
  },
};

export async function serveControl(sim: BinanceSimulator, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const key = `${req.method} ${(req.url ?? '/').split('?')[0]}`;
  const handler = ROUTES[key];
  try {
    if (!handler) throw new HttpError(404, { error: `no control route ${key}`, routes: Object.keys(ROUTES) });
    const body = req.method === 'GET' ? {} : await readJson(req);
    sendJson(res, 200, await handler(sim, body));
  } catch (err) {
    if (err instanceof HttpError) return sendJson(res, err.status, err.body);
    // Unknown account, bad kind…: the caller's mistake, reported as 400 with the reason.
    sendJson(res, 400, { error: errorMessage(err) });
  }
}

export const CONTROL_ROUTES = Object.keys(ROUTES);
