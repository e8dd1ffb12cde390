import { Flags } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';
import { pauseScopeFlag } from '../../steps/cli.js';

export default class StepsPause extends BaseCommand {
  static override summary = 'Pause step dispatch (all sets or one), with a TTL that lifts it by itself';
  static override description =
    'Sets the dispatch pause flag in Redis. The dispatch daemon and steps:dispatch leave the paused set alone; running steps finish. The TTL (default 1800 s) lifts the pause by itself if whoever paused dies; --ttl=0 pauses until steps:resume.';
  static override examples = ['<%= config.bin %> steps:pause', '<%= config.bin %> steps:pause --prefix=trading --ttl=600 --reason="exchange maintenance"', '<%= config.bin %> steps:pause --prefix=default --ttl=0'];
  static override flags = {
    prefix: pauseScopeFlag,
    ttl: Flags.integer({ description: 'Seconds until the pause lifts by itself (0 = never)', default: 1800, min: 0 }),
    reason: Flags.string({ description: 'Why (shown in the admin UI and the heartbeat)', default: 'paused by operator' }),
  };

  async run(): Promise<unknown> {
    const { flags } = await this.parse(StepsPause);
    const { pauseDispatch, stepSetName } = await import('../../support/box-flags.js');
    const scope = flags.prefix ?? null;
    const redis = await this.runtime.redis('cli');
    await pauseDispatch(redis, this.runtime.config.redis.prefix, scope, flags.reason, flags.ttl || null, new Date(this.runtime.clock.now()));
    const name = scope === null ? 'all sets' : `the ${stepSetName(scope)} set`;
    if (this.jsonEnabled()) return { paused: scope === null ? 'all' : stepSetName(scope), ttl: flags.ttl || null, reason: flags.reason };
    this.log(`Dispatch paused for ${name}${flags.ttl ? ` for ${flags.ttl} s` : ' until steps:resume'}.`);
    return undefined;
  }
}
