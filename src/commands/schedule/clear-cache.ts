import { Flags } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';

export default class ScheduleClearCache extends BaseCommand {
  static override summary = 'Free stuck overlap locks';
  static override description = `Deletes the withoutOverlapping locks (<prefix>:schedule:lock:<task>) now, whoever holds them, and says who held each one. Locks renew themselves only while their run is alive, so a crashed run frees its lock within the lease anyway; this is for when you cannot wait. One-server claims are left alone.`;
  static override examples = ['<%= config.bin %> schedule:clear-cache', '<%= config.bin %> schedule:clear-cache --task=kraite:cron-sync-orders'];
  static override flags = {
    task: Flags.string({ description: 'Only the lock of this task id' }),
  };

  async run(): Promise<unknown> {
    const { flags } = await this.parse(ScheduleClearCache);
    const { RedisEventMutex } = await import('../../kernel/redis-mutex.js');
    const mutex = new RedisEventMutex(await this.runtime.redis('cli'), this.runtime.config.redis.prefix, this.runtime.clock);
    const held = (await mutex.held()).filter((l) => flags.task === undefined || l.taskId === flags.task);
    const cleared = [];
    for (const l of held) if (await mutex.forget(l.taskId)) cleared.push(l);
    if (this.jsonEnabled()) return { cleared: cleared.map((l) => ({ task: l.taskId, holder: l.holder ? { host: l.holder.host, pid: l.holder.pid, since: l.holder.since } : null })) };
    if (cleared.length === 0) this.log(flags.task ? `No overlap lock is held for "${flags.task}".` : 'No overlap locks were held.');
    for (const l of cleared) this.log(`Cleared the lock of [${l.taskId}]${l.holder ? ` (held by ${l.holder.host}:${l.holder.pid} since ${l.holder.since})` : ''}.`);
    return undefined;
  }
}
