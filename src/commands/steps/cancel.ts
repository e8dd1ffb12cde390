import { Args } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';
import { prefixFlag } from '../../steps/cli.js';

export default class StepsCancel extends BaseCommand {
  static override summary = 'Cancel a step that has not started';
  static override description =
    'Moves a pending, dispatched or dormant step to cancelled; the dispatcher then cancels its later siblings and its children. A running step cannot be cancelled (the state machine has no running → cancelled).';
  static override examples = ['<%= config.bin %> steps:cancel 42', '<%= config.bin %> steps:cancel 42 --prefix=trading --json'];
  static override args = { id: Args.integer({ description: 'Step id', required: true, min: 1 }) };
  static override flags = { prefix: prefixFlag };

  async run(): Promise<unknown> {
    const { args, flags } = await this.parse(StepsCancel);
    const { stepsFor } = await import('../../steps/services.js');
    const { cancelStep } = await import('../../steps/operator.js');
    const steps = await stepsFor(this.runtime, flags.prefix);
    const r = await cancelStep(steps, await this.runtime.db(), this.runtime.clock, args.id);
    if (this.jsonEnabled()) return r;
    this.log(`Step ${r.id}: ${r.from} → cancelled`);
    return undefined;
  }
}
