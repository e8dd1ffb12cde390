/** Wires the Runtime into the dependencies of the cooldown/warmup services (BullMQ loaded lazily). */
import type { Runtime } from '../runtime.js';
import { QueueFactory } from '../queue/queues.js';
import { allUserDataQueues } from '../queue/user-data.js';
import type { OpsDeps } from './cooldown.js';

export async function opsDeps(rt: Runtime, say?: (line: string) => void): Promise<OpsDeps> {
  const [db, redis] = await Promise.all([rt.db(), rt.redis('cli')]);
  const queues = new QueueFactory({ prefix: rt.config.redis.prefix, connection: redis });
  rt.onClose(() => queues.close());
  return {
    db,
    redis,
    prefix: rt.config.redis.prefix,
    clock: rt.clock,
    role: rt.config.serverRole,
    userDataQueues: allUserDataQueues(rt.config.userDataShards),
    supervisorConf: rt.config.env.SUPERVISORCTL_CONF ?? null,
    say,
    queueLoad: async (names) => {
      const out: Record<string, number> = {};
      for (const name of names) {
        const c = await (await queues.queue(name)).getJobCounts('waiting', 'prioritized', 'active');
        out[name] = (c.waiting ?? 0) + (c.prioritized ?? 0) + (c.active ?? 0);
      }
      return out;
    },
  };
}
