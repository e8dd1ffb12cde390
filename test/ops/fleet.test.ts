import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from '../support/context.js';
import { artisan } from '../support/artisan.js';
import { classify, fleetKey, readFleet, storeSnapshot, type FleetSnapshot } from '../../src/ops/fleet.js';
import { parseSupervisorStatus } from '../../src/ops/supervisor-status.js';

let ctx: TestContext;
beforeAll(async () => {
  ctx = await createTestContext('fleet');
});
afterAll(async () => {
  await ctx?.cleanup();
});

const snap = (host: string, reportedAt: string, uptime = 5000): FleetSnapshot => ({
  hostname: host,
  role: 'worker',
  reported_at: reportedAt,
  version: '0.1.0',
  uptime_seconds: uptime,
  boot_id: 'b',
  cpu: { load1: 0.5, cores: 2, percent: 25 },
  ram: { used_mb: 1, total_mb: 2, percent: 50 },
  disk: { used_gb: 1, total_gb: 10, free_percent: 90, percent: 10 },
  units: { 'kraite-horizon': 'RUNNING' },
  supervisor: 'ok',
});

describe('fleet heartbeat', () => {
  it('parses supervisorctl status', () => {
    const units = parseSupervisorStatus(
      'kraite-dispatch-daemon           RUNNING   pid 12, uptime 0:01:02\nkraite-web                       FATAL     Exited too quickly\nkraite-horizon                   STOPPED   Nov 27 09:00 AM\n',
    );
    expect(units).toEqual({ 'kraite-dispatch-daemon': 'RUNNING', 'kraite-web': 'FATAL', 'kraite-horizon': 'STOPPED' });
  });

  it('classifies online, stale and missing hosts', async () => {
    const now = Date.parse('2026-11-27T12:00:00Z');
    expect(classify(snap('a', '2026-11-27T11:55:00Z'), now)).toEqual({ status: 'online', age: 300 });
    expect(classify(snap('a', '2026-11-27T11:47:59Z'), now).status).toBe('stale');
    expect(classify(snap('a', '2026-11-27T12:05:00Z'), now)).toEqual({ status: 'online', age: 0 }); // future counts as 0
    expect(classify(null, now).status).toBe('missing');

    await storeSnapshot(ctx.redis, ctx.prefix, snap('eos', '2026-11-27T11:58:00Z', 120));
    await storeSnapshot(ctx.redis, ctx.prefix, snap('iris', '2026-11-27T11:30:00Z'));
    const ttl = await ctx.redis.ttl(fleetKey(ctx.prefix, 'eos'));
    expect(ttl).toBeGreaterThan(7 * 24 * 3600 - 60);
    const fleet = await readFleet(ctx.redis, ctx.prefix, now, ['nyx', 'eos']);
    const by = Object.fromEntries(fleet.map((f) => [f.hostname, f]));
    expect(by.eos).toMatchObject({ status: 'online', recently_rebooted: true });
    expect(by.iris).toMatchObject({ status: 'stale', recently_rebooted: false });
    expect(by.nyx).toMatchObject({ status: 'missing', snapshot: null });
  });

  it('kraite:fleet-report stores this host under the prefix', async () => {
    const r = await artisan(['kraite:fleet-report', '--json'], { ...ctx.env, APP_HOSTNAME: 'athena-test-host', SERVER_ROLE: 'ingestion' });
    expect(r.exitCode).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.stored).toBe(true);
    const raw = await ctx.redis.get(fleetKey(ctx.prefix, 'athena-test-host'));
    const stored = JSON.parse(raw!);
    expect(stored).toMatchObject({ hostname: 'athena-test-host', role: 'ingestion', version: out.snapshot.version });
    expect(stored.ram.total_mb).toBeGreaterThan(0);
    expect(stored.disk.total_gb).toBeGreaterThan(0);
    expect(typeof stored.uptime_seconds).toBe('number');
  });
});
