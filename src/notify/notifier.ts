/**
 * Alerts. One module that every daemon and cron uses: an alert is logged, written to the `notifications`
 * table and, when NOTIFY_WEBHOOK_URL is set, POSTed as JSON. Alerts are deduplicated and throttled per
 * (canonical, key) through Redis (SET NX EX), so a flapping signal pages once per window, on every box.
 */
import type { Knex } from 'knex';
import type { Redis } from 'ioredis';
import type { Clock } from '../support/clock.js';
import type { Logger } from '../support/log.js';
import { redact } from '../support/mask.js';
import { errorMessage } from '../support/errors.js';

export type Severity = 'info' | 'warning' | 'high' | 'critical';

export interface Alert {
  /** Stable type of the alert, e.g. "binance_listen_key_keepalive_failed". */
  canonical: string;
  /** What makes two alerts of one canonical different, e.g. the account id. Default: the canonical. */
  key?: string | number;
  severity: Severity;
  title: string;
  message?: string;
  context?: Record<string, unknown>;
  /** Minimum seconds between two deliveries of the same (canonical, key). Default 300; 0 disables. */
  throttleSeconds?: number;
}

export interface NotifyResult {
  delivered: boolean;
  reason?: 'throttled';
}

export interface NotifierDeps {
  db: Knex;
  redis: Redis;
  /** Redis key prefix of this box (REDIS_PREFIX). */
  prefix: string;
  log: Logger;
  clock: Clock;
  hostname: string;
  webhookUrl?: string | null;
  /** Injected for tests; defaults to global fetch. */
  fetchImpl?: typeof fetch;
}

export class Notifier {
  constructor(private readonly deps: NotifierDeps) {}

  throttleKey(canonical: string, key: string): string {
    return `${this.deps.prefix}:notify:throttle:${canonical}:${key}`;
  }

  async notify(alert: Alert): Promise<NotifyResult> {
    const { db, redis, log, clock, hostname } = this.deps;
    const key = String(alert.key ?? alert.canonical);
    const throttle = alert.throttleSeconds ?? 300;
    if (throttle > 0) {
      const won = await redis.set(this.throttleKey(alert.canonical, key), String(clock.now()), 'EX', throttle, 'NX');
      if (won !== 'OK') {
        log.debug('alert throttled', { canonical: alert.canonical, key });
        return { delivered: false, reason: 'throttled' };
      }
    }
    const context = redact(alert.context ?? {});
    const logFields = { canonical: alert.canonical, key, severity: alert.severity, title: alert.title, context };
    if (alert.severity === 'info') log.info('alert', logFields);
    else if (alert.severity === 'warning') log.warn('alert', logFields);
    else log.error('alert', logFields);

    await db('notifications').insert({
      canonical: alert.canonical,
      dedupe_key: key.slice(0, 191),
      severity: alert.severity,
      title: alert.title.slice(0, 255),
      message: alert.message ?? null,
      context: JSON.stringify(context),
      hostname,
      created_at: new Date(clock.now()),
    });

    if (this.deps.webhookUrl) await this.postWebhook({ ...alert, key, context, hostname, at: new Date(clock.now()).toISOString() });
    return { delivered: true };
  }

  /** Forget the throttle of one (canonical, key), e.g. when the condition has cleared. */
  async reset(canonical: string, key: string | number = canonical): Promise<void> {
    await this.deps.redis.del(this.throttleKey(canonical, String(key)));
  }

  private async postWebhook(body: Record<string, unknown>): Promise<void> {
    const doFetch = this.deps.fetchImpl ?? fetch;
    try {
      const res = await doFetch(this.deps.webhookUrl!, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(5000),
      });
      if (!res.ok) this.deps.log.warn('alert webhook answered with an error', { status: res.status });
    } catch (err) {
      // The alert is already logged and stored; a webhook outage must not fail the caller.
      this.deps.log.warn('alert webhook unreachable', { error: errorMessage(err) });
    }
  }
}
