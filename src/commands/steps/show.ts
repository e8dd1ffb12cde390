import { Args } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';
import { fmtTime, prefixFlag } from '../../steps/cli.js';
import { UserError } from '../../support/errors.js';
import type { StepTreeNode } from '../../steps/api.js';

export default class StepsShow extends BaseCommand {
  static override summary = 'Show a step and the tree it belongs to';
  static override description = 'Prints the whole tree of the step (from its root block down through every child block), with states, indexes and errors, and the step\'s own details. Archived steps are shown from the archive.';
  static override examples = ['<%= config.bin %> steps:show 42', '<%= config.bin %> steps:show 42 --prefix=trading --json'];
  static readOnly = true;
  static override args = { id: Args.integer({ description: 'Step id', required: true, min: 1 }) };
  static override flags = { prefix: prefixFlag };

  async run(): Promise<unknown> {
    const { args, flags } = await this.parse(StepsShow);
    const { stepsFor } = await import('../../steps/services.js');
    const { stepJson } = await import('../../steps/types.js');
    const { findArchivedStep } = await import('../../db/steps/repository.js');
    const steps = await stepsFor(this.runtime, flags.prefix, false);
    const step = await steps.find(args.id);
    if (!step) {
      const archived = await findArchivedStep(await this.runtime.db(), steps.tables, args.id);
      if (!archived) throw new UserError(`Step ${args.id} does not exist in ${steps.tables.steps} or ${steps.tables.archive}`);
      if (this.jsonEnabled()) return { step: stepJson(archived), archived: true, tree: null };
      this.log(`Step ${args.id} is archived (${archived.state}, ${archived.class}); its tree is in ${steps.tables.archive}.`);
      return undefined;
    }
    const tree = await steps.tree(args.id);
    const toJson = (n: StepTreeNode): unknown => ({ block_uuid: n.blockUuid, steps: n.steps.map((e) => ({ ...stepJson(e.step), children: e.children ? toJson(e.children) : null })) });
    if (this.jsonEnabled()) return { step: stepJson(step), archived: false, tree: tree ? toJson(tree) : null };
    const lines: string[] = [];
    const walk = (n: StepTreeNode, depth: number) => {
      lines.push(`${'  '.repeat(depth)}block ${n.blockUuid}`);
      for (const e of n.steps) {
        const s = e.step;
        const mark = s.id === args.id ? '▶' : ' ';
        lines.push(`${'  '.repeat(depth)}${mark} [${s.index ?? '-'}] #${s.id} ${s.state.padEnd(12)} ${s.class ?? ''}${s.type === 'resolve-exception' ? ' (resolver)' : ''}${s.error_message ? `  — ${s.error_message.slice(0, 80)}` : ''}`);
        if (e.children) walk(e.children, depth + 2);
      }
    };
    if (tree) walk(tree, 0);
    this.log(lines.join('\n'));
    this.log('');
    const detail: Array<[string, unknown]> = [
      ['id', step.id],
      ['state', step.state],
      ['class', step.class],
      ['label', step.label],
      ['group', step.group ?? 'null'],
      ['queue', step.queue],
      ['priority', step.priority ?? ''],
      ['retries', step.retries],
      ['workflow', step.workflow_id],
      ['arguments', step.arguments ? JSON.stringify(step.arguments) : ''],
      ['response', step.response === null ? '' : JSON.stringify(step.response)],
      ['dispatch after', fmtTime(step.dispatch_after)],
      ['started', fmtTime(step.started_at)],
      ['completed', fmtTime(step.completed_at)],
      ['duration ms', step.duration],
      ['host', step.hostname ?? ''],
      ['error', step.error_message ?? ''],
    ];
    for (const [k, v] of detail) this.log(`${k.padEnd(15)} ${v ?? ''}`);
    return undefined;
  }
}
