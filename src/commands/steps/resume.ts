import { BaseCommand } from '../../base-command.js';
import { pauseScopeFlag } from '../../steps/cli.js';

export default class StepsResume extends BaseCommand {
  static override summary = 'Resume step dispatch';
  static override description =
    'Removes the dispatch pause. Without --prefix it lifts every pause (all-sets and per-set); with --prefix only that set\'s own pause (an all-sets pause still applies). Wakes the dispatch daemon.';
  static override examples = ['<%= config.bin %> steps:resume', '<%= config.bin %> steps:resume --prefix=trading'];
  static override flags = { prefix: pauseScopeFlag };

  async run(): Promise<unknown> {
    const { flags } = await this.parse(StepsResume);
    const { dispatchPause, resumeDispatch, stepSetName } = await import('../../support/box-flags.js');
    const { notifyDispatcher } = await import('../../steps/notify.js');
    const { STEP_PREFIXES } = await import('../../steps/tables.js');
    const rp = this.runtime.config.redis.prefix;
    const redis = await this.runtime.redis('cli');
    const scope = flags.prefix ?? null;
    if (scope === null) {
      await resumeDispatch(redis, rp, null);
      for (const p of STEP_PREFIXES) await resumeDispatch(redis, rp, p);
    } else {
      await resumeDispatch(redis, rp, scope);
    }
    const sets = scope === null ? [...STEP_PREFIXES] : [scope];
    await notifyDispatcher(redis, rp, sets.map((p) => ({ set: stepSetName(p), group: null })), this.runtime.log);
    const still = scope === null ? null : await dispatchPause(redis, rp, scope);
    if (this.jsonEnabled()) return { resumed: scope === null ? 'all' : stepSetName(scope), still_paused: still };
    this.log(`Dispatch resumed for ${scope === null ? 'all sets' : `the ${stepSetName(scope)} set`}.`);
    if (still) this.log(`Note: an all-sets pause is still active (${still.reason}); run steps:resume without --prefix to lift it.`);
    return undefined;
  }
}
