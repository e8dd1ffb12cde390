import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from '../support/context.js';
import { runHealthChecks } from '../../src/ops/health.js';
import { FakeClock } from '../../src/support/clock.js';
import { setMaintenance } from '../../src/support/box-flags.js';
import { writeHeartbeat } from '../../src/support/heartbeat.js';
import { seedDemo } from '../../src/db/seed/demo.js';
import { loadConfig } from '../../src/config/index.js';
import { Notifier } from '../../src/notify/notifier.js';
import { createLogger } from '../../src/support/log.js';

let ctx: TestContext;
const T0 = Date.parse('2026-11-27T12:00:00Z');

beforeAll(async () => {
  ctx = await createTestContext('health');
  await seedDemo(ctx.db, loadConfig(ctx.env).appKey!, { now: new Date(T0) });
});
afterAll(async () => {
  await ctx?.cleanup();
});

const byCheck = (results: Awaited<ReturnType<typeof runHealthChecks>>) => Object.fromEntries(results.map((r) => [r.check, r]));

describe('system health', () => {
  it('is quiet when prices are fresh and the daemons beat', async () => {
    const clock = new FakeClock(T0 + 30_000);
    await writeHeartbeat(ctx.redis, ctx.prefix, { daemon: 'stream-user-data', host: 'h1', pid: 1, started_at: new Date(T0).toISOString(), at: new Date(T0 + 20_000).toISOString() }, 300);
    const r = byCheck(await runHealthChecks({ db: ctx.db, redis: ctx.redis, prefix: ctx.prefix, clock }));
    expect(r.mark_prices!.status).toBe('ok');
    expect(r.user_data_daemon!.status).toBe('ok');
    expect(r.maintenance!.status).toBe('ok');
    expect(r.connectivity!.status).toBe('ok');
  });

  it('raises stale prices, a stale heartbeat and low disk, throttled per signal', async () => {
    const clock = new FakeClock(T0 + 10 * 60_000);
    const results = await runHealthChecks({ db: ctx.db, redis: ctx.redis, prefix: ctx.prefix, clock, thresholds: { diskFreePercentMin: 101 } });
    const r = byCheck(results);
    expect(r.mark_prices!.signals[0]).toMatchObject({ signal: 'mark_price_stale', severity: 'high' });
    expect(r.mark_prices!.signals[0]!.message).toContain('BTCUSDT');
    expect(r.user_data_daemon!.signals[0]!.signal).toBe('daemon_heartbeat_stale');
    expect(r.disk!.signals[0]!.signal).toBe('disk_pressure_low');
    const notifier = new Notifier({ db: ctx.db, redis: ctx.redis, prefix: ctx.prefix, log: createLogger('test', {}, { write: () => undefined }), clock, hostname: 'h' });
    const signals = results.flatMap((x) => x.signals);
    const first = await Promise.all(signals.map((s) => notifier.notify({ canonical: 'system_health_alert', key: s.signal, severity: s.severity, title: s.title, throttleSeconds: 300 })));
    const second = await Promise.all(signals.map((s) => notifier.notify({ canonical: 'system_health_alert', key: s.signal, severity: s.severity, title: s.title, throttleSeconds: 300 })));
    expect(first.every((x) => x.delivered)).toBe(true);
    expect(second.every((x) => !x.delivered)).toBe(true);
    const rows = await ctx.db('notifications').where({ canonical: 'system_health_alert' });
    expect(rows.length).toBe(signals.length);
  });

  it('runs only the maintenance check while down, and flags it when stuck', async () => {
    await setMaintenance(ctx.redis, ctx.prefix, { since: new Date(T0).toISOString(), reason: 'deploy' });
    try {
      const soon = byCheck(await runHealthChecks({ db: ctx.db, redis: ctx.redis, prefix: ctx.prefix, clock: new FakeClock(T0 + 10 * 60_000) }));
      expect(soon.maintenance!.status).toBe('ok');
      expect(soon.mark_prices!.status).toBe('skipped');
      const late = byCheck(await runHealthChecks({ db: ctx.db, redis: ctx.redis, prefix: ctx.prefix, clock: new FakeClock(T0 + 50 * 60_000) }));
      expect(late.maintenance!.signals[0]!.signal).toBe('maintenance_mode_stuck');
    } finally {
      await setMaintenance(ctx.redis, ctx.prefix, null);
    }
  });
});
