import { Flags } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';
import { CHECKS, runHealthChecks } from '../../ops/health.js';
import { Notifier } from '../../notify/notifier.js';
import { QueueFactory } from '../../queue/queues.js';
import { allUserDataQueues } from '../../queue/user-data.js';
import { renderTable } from '../../support/table.js';
import { UserError } from '../../support/errors.js';

export default class CronCheckSystemHealth extends BaseCommand {
  static override summary = 'Check the box and raise an alert for every unhealthy signal';
  static override description = `Check mark-price freshness, the user-data daemon heartbeat, the dispatcher tick (when there is work), the scheduler's liveness, failed-job bursts, queue depth, disk space and stuck maintenance mode. Each signal is raised through the notifications module, at most once per 5 minutes per signal. While the box is down only the maintenance check runs. Checks: ${Object.keys(CHECKS).join(', ')}.`;
  static override examples = ['<%= config.bin %> kraite:cron-check-system-health', '<%= config.bin %> kraite:cron-check-system-health --json --no-alerts', '<%= config.bin %> kraite:cron-check-system-health --only=disk,maintenance'];
  static override flags = {
    only: Flags.string({ description: 'Comma-separated checks to run' }),
    alerts: Flags.boolean({ description: 'Raise alerts for the signals found (--no-alerts only reports)', default: true, allowNo: true }),
  };

  async run(): Promise<unknown> {
    const { flags } = await this.parse(CronCheckSystemHealth);
    const only = flags.only?.split(',').map((s) => s.trim()).filter(Boolean);
    const unknown = only?.filter((c) => !(c in CHECKS)) ?? [];
    if (unknown.length) throw new UserError(`Unknown check(s): ${unknown.join(', ')}. Known: ${Object.keys(CHECKS).join(', ')}.`);
    const rt = this.runtime;
    const [db, redis] = await Promise.all([rt.db(), rt.redis('cli')]);
    const queues = new QueueFactory({ prefix: rt.config.redis.prefix, connection: redis });
    rt.onClose(() => queues.close());
    const results = await runHealthChecks(
      {
        db,
        redis,
        prefix: rt.config.redis.prefix,
        clock: rt.clock,
        userDataQueues: allUserDataQueues(rt.config.userDataShards),
        queueDepths: async (names) => {
          const out: Record<string, number> = {};
          for (const name of names) {
            const counts = await (await queues.queue(name)).getJobCounts('waiting', 'prioritized');
            out[name] = (counts.waiting ?? 0) + (counts.prioritized ?? 0);
          }
          return out;
        },
      },
      only,
    );
    const signals = results.flatMap((r) => r.signals);
    let raised = 0;
    if (flags.alerts && signals.length) {
      const notifier = new Notifier({ db, redis, prefix: rt.config.redis.prefix, log: rt.log, clock: rt.clock, hostname: rt.config.hostname, webhookUrl: rt.config.notifyWebhookUrl });
      for (const s of signals) {
        const r = await notifier.notify({ canonical: 'system_health_alert', key: s.signal, severity: s.severity, title: s.title, message: s.message, context: { signal: s.signal, ...s.context }, throttleSeconds: 300 });
        if (r.delivered) raised++;
      }
    }
    if (this.jsonEnabled()) return { healthy: signals.length === 0, raised, checks: results };
    this.log(renderTable(['Check', 'Status', 'Detail'], results.map((r) => [r.check, r.status.toUpperCase(), r.detail])));
    this.log(signals.length ? `\n${signals.length} signal(s), ${raised} alert(s) raised (others throttled).` : '\nAll checks passed.');
    return undefined;
  }
}
