import { Flags } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';
import { prefixFlag } from '../../steps/cli.js';

export default class StepsRecoverStale extends BaseCommand {
  static override summary = 'Repair stuck steps and dispatcher locks';
  static override description = [
    'Four sweeps over one step set, in this order:',
    '  --release-locks       free dispatcher locks untouched for --lock-threshold seconds;',
    '  --recover-dispatched  requeue steps stuck in dispatched for --step-threshold seconds at high priority (or fail them when their retry budget is spent);',
    '  --watchdog-progress   alert when a group\'s oldest pending step waited --progress-threshold seconds and nothing in the group concluded meanwhile;',
    '  always                steps left running by a lost worker (class timeout + 60 s) go back to pending, or fail when their budget is spent.',
    'Alerts go to the notifications table, the log and the webhook.',
  ].join('\n');
  static override examples = [
    '<%= config.bin %> steps:recover-stale --recover-dispatched --release-locks --watchdog-progress',
    '<%= config.bin %> steps:recover-stale --recover-dispatched --release-locks --watchdog-progress --prefix=trading',
  ];
  static override flags = {
    'recover-dispatched': Flags.boolean({ description: 'Requeue steps stuck in dispatched' }),
    'release-locks': Flags.boolean({ description: 'Free stale dispatcher locks' }),
    'watchdog-progress': Flags.boolean({ description: 'Alert on groups that make no progress' }),
    'step-threshold': Flags.integer({ description: 'Seconds a step may sit in dispatched', default: 300, min: 1 }),
    'lock-threshold': Flags.integer({ description: 'Seconds a dispatcher lock may sit untouched', default: 30, min: 1 }),
    'progress-threshold': Flags.integer({ description: 'Seconds without progress before a group alarms', default: 600, min: 1 }),
    prefix: prefixFlag,
  };

  async run(): Promise<unknown> {
    const { flags } = await this.parse(StepsRecoverStale);
    const { recoverStale } = await import('../../steps/recover.js');
    const { notifierFor } = await import('../../steps/services.js');
    const rt = this.runtime;
    const report = await recoverStale(
      { db: await rt.db(), redis: await rt.redis('cli'), redisPrefix: rt.config.redis.prefix, clock: rt.clock, log: rt.log, notifier: await notifierFor(rt), hostname: rt.config.hostname },
      flags.prefix,
      {
        recoverDispatched: flags['recover-dispatched'],
        releaseLocks: flags['release-locks'],
        watchdogProgress: flags['watchdog-progress'],
        stepThreshold: flags['step-threshold'],
        lockThreshold: flags['lock-threshold'],
        progressThreshold: flags['progress-threshold'],
      },
    );
    if (this.jsonEnabled()) return report;
    const d = report.dispatched;
    const r = report.running;
    this.log(`Set ${report.set}:`);
    if (flags['release-locks']) this.log(`  locks released:        ${report.releasedLocks}`);
    if (flags['recover-dispatched']) this.log(`  stale dispatched:      ${d.stale} (requeued ${d.requeued}, failed ${d.failed}${d.stillStuck && d.stale ? ', all already promoted: still stuck' : ''})`);
    if (flags['watchdog-progress']) this.log(`  stalled groups:        ${report.stalledGroups.map((g) => `${g.group} (${g.pending_count} pending since ${g.oldest_pending_at})`).join(', ') || 'none'}`);
    this.log(`  lost running steps:    ${r.requeued + r.failed} (requeued ${r.requeued}, failed ${r.failed}; parents with children left alone: ${r.skippedParents})`);
    if (report.alerts.length) this.log(`  alerts:                ${report.alerts.join(', ')}`);
    return undefined;
  }
}
