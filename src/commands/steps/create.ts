import { Flags } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';
import { prefixFlag } from '../../steps/cli.js';
import { UserError } from '../../support/errors.js';

export default class StepsCreate extends BaseCommand {
  static override summary = 'Create steps (demos, tests, operators)';
  static override description =
    'Creates --count blocks, each of --chain sequential steps (index 1…chain) of --class, through the Step API: round-robin groups, one transaction, and a wake-up for the dispatch daemon. Built-in classes: noop, sleep (args {"ms": 1000}), fail (args {"message", "times", "policy", "backoff_ms"}).';
  static override examples = [
    '<%= config.bin %> steps:create --class=noop',
    '<%= config.bin %> steps:create --class=sleep --args=\'{"ms":200}\' --count=100 --chain=10',
    '<%= config.bin %> steps:create --class=noop --priority=high --prefix=trading --json',
  ];
  static override flags = {
    class: Flags.string({ description: 'Step class', required: true }),
    args: Flags.string({ description: 'Arguments as a JSON object' }),
    count: Flags.integer({ description: 'Number of blocks', default: 1, min: 1, max: 100000 }),
    chain: Flags.integer({ description: 'Sequential steps per block (index 1…chain)', default: 1, min: 1, max: 1000 }),
    queue: Flags.string({ description: 'Queue (default: "default", or "priority" for high priority)' }),
    priority: Flags.option({ description: 'Priority', options: ['high'] as const })(),
    delay: Flags.integer({ description: 'Not runnable for this many ms', min: 0 }),
    label: Flags.string({ description: 'Label shown in listings' }),
    prefix: prefixFlag,
  };

  async run(): Promise<unknown> {
    const { flags } = await this.parse(StepsCreate);
    let args: Record<string, unknown> | null = null;
    if (flags.args) {
      try {
        args = JSON.parse(flags.args);
      } catch (err) {
        throw new UserError(`--args is not valid JSON: ${(err as Error).message}`);
      }
      if (!args || typeof args !== 'object' || Array.isArray(args)) throw new UserError('--args must be a JSON object');
    }
    const { stepsFor } = await import('../../steps/services.js');
    const steps = await stepsFor(this.runtime, flags.prefix);
    const dispatchAfter = flags.delay ? this.runtime.clock.now() + flags.delay : null;
    const blocks = Array.from({ length: flags.count }, () => ({
      steps: Array.from({ length: flags.chain }, (_, i) => ({ class: flags.class, index: i + 1, arguments: args, queue: flags.queue, priority: flags.priority ?? null, dispatchAfter, label: flags.label })),
    }));
    const created = [];
    for (let i = 0; i < blocks.length; i += 500) created.push(...(await steps.createBlocks(blocks.slice(i, i + 500))));
    const ids = created.flatMap((b) => b.ids);
    if (this.jsonEnabled()) return { set: steps.tables.set, blocks: created };
    this.log(`Created ${ids.length} step(s) in ${created.length} block(s) of the ${steps.tables.set} set${ids.length <= 20 ? `: ${ids.join(', ')}` : ` (ids ${ids[0]}…${ids[ids.length - 1]})`}.`);
    return undefined;
  }
}
