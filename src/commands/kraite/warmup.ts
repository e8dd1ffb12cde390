import { Flags } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';
import { warmup } from '../../ops/cooldown.js';
import { opsDeps } from '../../ops/ops-deps.js';

export default class Warmup extends BaseCommand {
  static override summary = 'Bring the box back after a deploy: resume dispatch, go up, restart the programs';
  static override description =
    'Lift every dispatch pause, leave maintenance mode (`up`), and restart the box\'s supervisor programs (kraite-horizon, kraite-dispatch-daemon, both streams, kraite-web) with supervisorctl when it is present, so long-running daemons load the new code. Exits 1 if a restart fails.';
  static override examples = ['<%= config.bin %> kraite:warmup', '<%= config.bin %> kraite:warmup --no-restart'];
  static override flags = { restart: Flags.boolean({ description: 'Restart the supervisor programs (--no-restart skips it)', default: true, allowNo: true }) };

  async run(): Promise<unknown> {
    const { flags } = await this.parse(Warmup);
    const r = await warmup(await opsDeps(this.runtime, (l) => this.say(l)), { restart: flags.restart });
    if (r.restarts.some((x) => !x.ok)) process.exitCode = 1;
    if (this.jsonEnabled()) return r;
    this.log('Dispatch resumed; the box is up.');
    if (r.supervisor === 'unavailable') this.log('supervisorctl is not available: restart the programs yourself.');
    for (const x of r.restarts) this.log(`  ${x.ok ? 'restarted' : 'FAILED   '} ${x.program}${x.ok ? '' : `: ${x.output}`}`);
    return undefined;
  }
}
