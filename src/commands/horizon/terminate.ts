import { Flags } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';

export default class HorizonTerminate extends BaseCommand {
  static override summary = 'Terminate horizon: workers finish their current job, then the master exits (its process supervisor starts the new code)';
  static override description =
    'Sent through the Redis command list to every master (or the one of --host). With --wait, waits until the masters have exited (their state key is gone), at most HORIZON_TERMINATE_WAIT_SECONDS + 15 s; exits 1 if one is still running then.';
  static override examples = ['<%= config.bin %> horizon:terminate', '<%= config.bin %> horizon:terminate --wait'];
  static override flags = {
    host: Flags.string({ description: 'Only the master of this host' }),
    wait: Flags.boolean({ description: 'Wait until the masters have exited' }),
  };

  async run(): Promise<unknown> {
    const { flags } = await this.parse(HorizonTerminate);
    const { sendCommand, readMasters } = await import('../../horizon/control.js');
    const rt = this.runtime;
    const redis = await rt.redis('cli');
    const prefix = rt.config.redis.prefix;
    const targets = (await readMasters(redis, prefix)).filter((m) => !flags.host || m.host === flags.host).map((m) => m.host);
    await sendCommand(redis, prefix, 'terminate', flags.host ?? null, new Date(rt.clock.now()));
    let remaining = targets;
    if (flags.wait) {
      const deadline = Date.now() + (rt.config.horizon.terminateWaitSeconds + 15) * 1000;
      while (Date.now() < deadline) {
        const running = new Set((await readMasters(redis, prefix)).map((m) => m.host));
        remaining = targets.filter((h) => running.has(h));
        if (!remaining.length) break;
        await new Promise((r) => setTimeout(r, 250));
      }
      if (remaining.length) {
        const { UserError } = await import('../../support/errors.js');
        throw new UserError(`horizon is still running on ${remaining.join(', ')} after the wait`);
      }
    }
    if (this.jsonEnabled()) return { sent: 'terminate', host: flags.host ?? '*', masters: targets, waited: flags.wait };
    this.log(`Sent "terminate" to ${flags.host ? `the master of ${flags.host}` : 'every horizon master'}${flags.wait ? `; ${targets.length} master(s) exited` : ''}.`);
    return undefined;
  }
}
