import { Flags } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';
import { cooldown, cooldownStatus } from '../../ops/cooldown.js';
import { opsDeps } from '../../ops/ops-deps.js';

export default class Cooldown extends BaseCommand {
  static override summary = 'Drain the box for a deploy: pause dispatch, wait for in-flight work, then go down';
  static override description =
    'Pause step dispatch on every set (30-minute TTL), wait up to --timeout seconds until no leaf step is dispatched or running and every queue is empty, then put the box in maintenance mode (`down`). On timeout it still goes down and exits 1. --force goes down at once. Worker boxes wait for their queues only (at most 180 s); web boxes go down at once. --status only reports COOLED_DOWN or ACTIVE with the reasons.';
  static override examples = ['<%= config.bin %> kraite:cooldown', '<%= config.bin %> kraite:cooldown --status', '<%= config.bin %> kraite:cooldown --timeout=120', '<%= config.bin %> kraite:cooldown --force'];
  static override flags = {
    status: Flags.boolean({ description: 'Only report whether the box is cooled down' }),
    force: Flags.boolean({ description: 'Go down now without waiting for work to drain' }),
    timeout: Flags.integer({ description: 'Seconds to wait for the drain', default: 300, min: 0 }),
    poll: Flags.integer({ description: 'Seconds between drain probes', default: 5, min: 1, hidden: true }),
  };

  async run(): Promise<unknown> {
    const { flags } = await this.parse(Cooldown);
    const deps = await opsDeps(this.runtime, (l) => this.say(l));
    if (flags.status) {
      const s = await cooldownStatus(deps);
      if (this.jsonEnabled()) return s;
      this.log(s.state);
      for (const r of s.reasons) this.log(`  - ${r}`);
      return undefined;
    }
    const r = await cooldown(deps, { timeoutMs: flags.timeout * 1000, pollMs: flags.poll * 1000, force: flags.force });
    if (!r.drained) process.exitCode = 1;
    if (this.jsonEnabled()) return r;
    this.log(r.drained ? `Cooled down in ${Math.round(r.waitedMs / 1000)}s; the box is down.` : `Timed out after ${Math.round(r.waitedMs / 1000)}s; the box is down anyway. Still busy: ${r.reasons.join('; ')}`);
    return undefined;
  }
}
