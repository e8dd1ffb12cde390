import { Flags } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';
import { groupFlag, lanesOf, prefixFlag } from '../../steps/cli.js';
import { renderTable } from '../../support/table.js';

export default class StepsDispatch extends BaseCommand {
  static override summary = 'Run one dispatcher tick for each group of a step set';
  static override description =
    'Takes each group\'s lock, runs the cleanup phases and promotes runnable pending steps into their BullMQ queues (job "step:<id>:<retries>"). Without --group it ticks every group of the set\'s dispatcher table. Honours the dispatch pause unless --force. Exits 1 if a tick failed. The dispatch daemon does the same continuously.';
  static override examples = [
    '<%= config.bin %> steps:dispatch',
    '<%= config.bin %> steps:dispatch --group=alpha,beta --prefix=trading',
    '<%= config.bin %> steps:dispatch --group=null   # rows without a group',
  ];
  static override flags = {
    group: groupFlag,
    prefix: prefixFlag,
    'max-per-tick': Flags.integer({ description: 'Cap of the normal pass per tick (0 = no cap)', default: 500, min: 0 }),
    force: Flags.boolean({ description: 'Dispatch even while dispatch is paused' }),
  };

  async run(): Promise<unknown> {
    const { flags } = await this.parse(StepsDispatch);
    const { StepDispatcher } = await import('../../steps/dispatcher.js');
    const { knownLanes } = await import('../../db/steps/dispatch-queries.js');
    const { QueueFactory } = await import('../../queue/queues.js');
    const { dispatchPause, stepSetName } = await import('../../support/box-flags.js');
    const rt = this.runtime;
    const prefix = flags.prefix;
    const redis = await rt.redis('cli');
    const pause = flags.force ? null : await dispatchPause(redis, rt.config.redis.prefix, prefix);
    if (pause) {
      this.say(`Dispatch is paused for the ${stepSetName(prefix)} set (${pause.reason}); nothing done. Use --force to dispatch anyway.`);
      return { set: stepSetName(prefix), paused: pause, ticks: [] };
    }
    const db = await rt.db();
    const queues = new QueueFactory({ prefix: rt.config.redis.prefix, connection: redis });
    rt.onClose(() => queues.close());
    const dispatcher = new StepDispatcher({ db, redis, redisPrefix: rt.config.redis.prefix, queues, clock: rt.clock, log: rt.log }, prefix, { maxPerTick: flags['max-per-tick'] });
    const lanes = lanesOf(flags.group) ?? (await knownLanes(db, dispatcher.tables));
    const ticks = [];
    for (const lane of lanes) ticks.push(await dispatcher.tick(lane));
    const failed = ticks.filter((t) => t.error);
    if (failed.length) process.exitCode = 1;
    if (this.jsonEnabled()) return { set: stepSetName(prefix), paused: null, ticks };
    this.log(
      renderTable(
        ['Group', 'Lock', 'Progress', 'Phase', 'High', 'Dispatched', 'Capped', 'ms', 'Error'],
        ticks.map((t) => [t.lane ?? 'null', t.acquired ? 'taken' : 'busy', t.progress, t.phase ?? '', t.highDispatched, t.dispatched, t.capped ? 'yes' : '', t.durationMs, t.error ?? '']),
      ),
    );
    if (failed.length) this.logToStderr(`${failed.length} tick(s) failed`);
    return undefined;
  }
}
