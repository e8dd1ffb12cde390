import { Flags } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';
import { fmtTime, prefixFlag } from '../../steps/cli.js';
import { STATES } from '../../steps/states.js';
import { renderTable } from '../../support/table.js';

export default class StepsList extends BaseCommand {
  static override summary = 'List steps, newest first';
  static override description = 'Lists the steps of a set, newest first, filtered by state, group and class. --json prints every column.';
  static override examples = [
    '<%= config.bin %> steps:list',
    '<%= config.bin %> steps:list --state=failed --prefix=trading',
    '<%= config.bin %> steps:list --group=alpha --class=noop --limit=200 --json',
  ];
  static readOnly = true;
  static override flags = {
    state: Flags.option({ description: 'Only steps in this state', options: [...STATES] })(),
    group: Flags.string({ description: 'Only this group ("null" for rows without one)' }),
    class: Flags.string({ description: 'Only this step class' }),
    workflow: Flags.string({ description: 'Only this workflow id' }),
    prefix: prefixFlag,
    limit: Flags.integer({ description: 'At most this many rows', default: 50, min: 1, max: 10000 }),
  };

  async run(): Promise<unknown> {
    const { flags } = await this.parse(StepsList);
    const { stepsFor } = await import('../../steps/services.js');
    const { stepJson } = await import('../../steps/types.js');
    const { countByState } = await import('../../db/steps/repository.js');
    const steps = await stepsFor(this.runtime, flags.prefix, false);
    const rows = await steps.list({
      state: flags.state as (typeof STATES)[number] | undefined,
      group: flags.group === undefined ? undefined : flags.group === 'null' ? null : flags.group,
      class: flags.class,
      workflowId: flags.workflow,
      limit: flags.limit,
    });
    const counts = await countByState(await this.runtime.db(), steps.tables);
    if (this.jsonEnabled()) return { set: steps.tables.set, counts, steps: rows.map(stepJson) };
    if (rows.length === 0) this.log('No steps match.');
    else
      this.log(
        renderTable(
          ['ID', 'State', 'Class', 'Group', 'Idx', 'Queue', 'Retries', 'Dispatch after', 'Updated', 'Error'],
          rows.map((s) => [s.id, s.state, s.class, s.group ?? 'null', s.index, s.queue, s.retries, fmtTime(s.dispatch_after), fmtTime(s.updated_at), (s.error_message ?? '').slice(0, 60)]),
        ),
      );
    this.log(`\n${steps.tables.steps}: ${Object.entries(counts).map(([k, v]) => `${k} ${v}`).join(', ') || 'empty'}`);
    return undefined;
  }
}
