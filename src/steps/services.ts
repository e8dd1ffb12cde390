/** Build the step services of a command from its Runtime (dynamic imports keep command files light). */
import type { Runtime } from '../runtime.js';
import { Notifier } from '../notify/notifier.js';
import { Steps } from './api.js';

export async function stepsFor(rt: Runtime, prefix: string, withRedis = true): Promise<Steps> {
  const db = await rt.db();
  const redis = withRedis ? await rt.redis('cli') : null;
  return new Steps({ db, clock: rt.clock, redis, redisPrefix: rt.config.redis.prefix, log: rt.log }, prefix);
}

export async function notifierFor(rt: Runtime): Promise<Notifier> {
  return new Notifier({ db: await rt.db(), redis: await rt.redis('cli'), prefix: rt.config.redis.prefix, log: rt.log, clock: rt.clock, hostname: rt.config.hostname, webhookUrl: rt.config.notifyWebhookUrl });
}
