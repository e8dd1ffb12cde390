import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';
import { prefixFlag } from '../../steps/cli.js';

export default class StepsRetry extends BaseCommand {
  static override summary = 'Retry a step';
  static override description =
    'pending: make it due now. dispatched: back to pending (a counted requeue). running: only with --force (its worker is gone). failed, stopped or cancelled: revive it with a fresh retry budget, together with the later siblings that were cancelled because of it and the ancestors that failed only because of it (an operator override outside the state machine).';
  static override examples = ['<%= config.bin %> steps:retry 42', '<%= config.bin %> steps:retry 42 --prefix=trading --force'];
  static override args = { id: Args.integer({ description: 'Step id', required: true, min: 1 }) };
  static override flags = { prefix: prefixFlag, force: Flags.boolean({ description: 'Requeue a running step' }) };

  async run(): Promise<unknown> {
    const { args, flags } = await this.parse(StepsRetry);
    const { stepsFor } = await import('../../steps/services.js');
    const { retryStep } = await import('../../steps/operator.js');
    const steps = await stepsFor(this.runtime, flags.prefix);
    const r = await retryStep(steps, await this.runtime.db(), this.runtime.clock, args.id, flags.force);
    if (this.jsonEnabled()) return r;
    this.log(`Step ${r.id}: ${r.from} → ${r.to}${r.revived.length ? ` (also revived ${r.revived.join(', ')})` : ''}`);
    return undefined;
  }
}
