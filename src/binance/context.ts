/**
 * What the Binance services need, built once per command from the Runtime: DB, APP_KEY, clock, logger,
 * notifier, and a REST client without credentials from which per-account clients are derived (they all
 * share one per-IP weight budget, whose 418 ban is shared through Redis with the other processes).
 */
import type { Knex } from 'knex';
import type { Redis } from 'ioredis';
import type { Runtime } from '../runtime.js';
import type { Clock } from '../support/clock.js';
import type { Logger } from '../support/log.js';
import { errorMessage } from '../support/errors.js';
import { Notifier, type Alert } from '../notify/notifier.js';
import { getCredentials } from '../db/repositories/accounts.js';
import { BinanceRestClient } from './rest-client.js';
import { RedisBanStore, WeightBudget } from './weight-budget.js';

export interface BinanceDeps {
  db: Knex;
  appKey: Buffer;
  clock: Clock;
  log: Logger;
  notifier: Notifier;
  rest: BinanceRestClient;
  restUrl: string;
  wsUrl: string;
}

export interface AccountClient {
  accountId: number;
  name: string;
  apiKey: string;
  client: BinanceRestClient;
}

/**
 * Build the dependencies from a Runtime: Redis in 'cli' mode for crons; daemons pass their own client
 * (reconnecting, with enableOfflineQueue off, so an alert or a ban check fails fast instead of hanging
 * while Redis is down).
 */
export async function binanceDeps(runtime: Runtime, opts: { redis?: Redis; component?: string } = {}): Promise<BinanceDeps> {
  const db = await runtime.db();
  const redis: Redis = opts.redis ?? (await runtime.redis('cli'));
  const log = runtime.log.child(opts.component ?? 'binance');
  const clock = runtime.clock;
  const notifier = new Notifier({ db, redis, prefix: runtime.config.redis.prefix, log, clock, hostname: runtime.config.hostname, webhookUrl: runtime.config.notifyWebhookUrl });
  const budget = new WeightBudget({ clock, banStore: new RedisBanStore(redis, runtime.key('binance', 'ip-ban'), clock) });
  const rest = new BinanceRestClient({ baseUrl: runtime.config.binance.restUrl, clock, budget, log });
  return { db, appKey: runtime.appKey(), clock, log, notifier, rest, restUrl: runtime.config.binance.restUrl, wsUrl: runtime.config.binance.wsUrl };
}

/** A REST client signed with one account's credentials, or null when the account has none. */
export async function accountClient(deps: Pick<BinanceDeps, 'db' | 'appKey' | 'rest'>, accountId: number): Promise<AccountClient | null> {
  const creds = await getCredentials(deps.db, deps.appKey, accountId);
  if (!creds) return null;
  return { accountId, name: creds.name, apiKey: creds.apiKey, client: deps.rest.withCredentials({ apiKey: creds.apiKey, apiSecret: creds.apiSecret }) };
}

/**
 * Send an alert without letting the alert path break the caller (a daemon must keep streaming when the
 * notifications table or Redis hiccups); the failure is logged.
 */
export async function safeNotify(deps: Pick<BinanceDeps, 'notifier' | 'log'>, alert: Alert): Promise<boolean> {
  try {
    return (await deps.notifier.notify(alert)).delivered;
  } catch (err) {
    deps.log.error('could not deliver an alert', { canonical: alert.canonical, error: errorMessage(err) });
    return false;
  }
}

/**
 * The Redis client of a stream daemon: reconnects forever, but commands fail at once while it is down
 * (no offline queue), so that frames go to the dead-letter file and alerts, heartbeats and ban checks
 * never hang. A command already sent when the connection drops fails too (maxRetriesPerRequest 0):
 * with BullMQ's null it would wait, unanswered, until Redis is back, and the account's lane with it, so
 * a long outage would pile frames up in memory instead of on disk. Such a frame may have reached Redis
 * before the drop; its dead-letter replay is then a duplicate, which the consumer's idempotency key
 * absorbs. The client issues no blocking command (no Worker uses it). Closed with the Runtime.
 */
export async function daemonRedis(runtime: Runtime): Promise<Redis> {
  const { connectRedis, closeRedis } = await import('../redis/connection.js');
  const client = await connectRedis(runtime.config.redis, 'daemon', { enableOfflineQueue: false, maxRetriesPerRequest: 0 });
  // Connection errors surface on the commands that fail (and are handled there); this only stops ioredis
  // from printing "Unhandled error event".
  client.on('error', (err) => runtime.log.debug('redis connection error', { error: err.message }));
  runtime.onClose(() => closeRedis(client));
  return client;
}
