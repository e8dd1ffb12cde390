/**
 * Everything the route modules share, built once per server: data access, the SQL runner, the command
 * runner, the dashboard hub, the docs site, the public status cache, login throttling and the audit log.
 */
import type { Knex } from 'knex';
import type { Redis } from 'ioredis';
import type { FastifyRequest } from 'fastify';
import type { AppConfig } from '../config/index.js';
import type { Clock } from '../support/clock.js';
import type { Logger } from '../support/log.js';
import { QueueFactory } from '../queue/queues.js';
import { readManifest, manifestPath, type Manifest } from '../launcher/manifest.js';
import { writeAudit } from '../db/repositories/audit-log.js';
import { createDataContext, type DataContext } from './data/context.js';
import { StepsData } from './data/steps.js';
import { readPublicStatus, STATUS_CACHE_SECONDS, type PublicStatus } from './data/status.js';
import { SqlRunner } from './sql/runner.js';
import { CommandRunner } from './commands/runner.js';
import { LoginThrottle } from './auth/throttle.js';
import { DashboardHub } from './admin/dashboard-hub.js';
import { DocsSite } from './docs/site.js';
import fs from 'node:fs';

export interface WebDeps {
  config: AppConfig;
  db: Knex;
  /** A client in 'daemon' mode (reconnects forever), also used for BullMQ reads. */
  redis: Redis;
  clock: Clock;
  log: Logger;
  /** Override the docs folder (tests). */
  docsDir?: string;
}

export interface SseClient {
  close(): void;
}

export class WebServices {
  readonly config: AppConfig;
  readonly db: Knex;
  readonly redis: Redis;
  readonly clock: Clock;
  readonly log: Logger;
  readonly prefix: string;
  readonly queues: QueueFactory;
  readonly data: DataContext;
  readonly steps: StepsData;
  readonly sql: SqlRunner;
  readonly runner: CommandRunner;
  readonly throttle: LoginThrottle;
  readonly dashboard: DashboardHub;
  readonly docs: DocsSite;
  readonly sseClients = new Set<SseClient>();
  /** Every route of the admin vhost (for the security tests and docs). */
  readonly adminRoutes: Array<{ method: string; url: string; public: boolean; adminOnly: boolean }> = [];
  private manifestCache: { mtimeMs: number; manifest: Manifest | null } | null = null;
  private statusCache: { at: number; value: Promise<PublicStatus> } | null = null;

  constructor(deps: WebDeps) {
    this.config = deps.config;
    this.db = deps.db;
    this.redis = deps.redis;
    this.clock = deps.clock;
    this.log = deps.log;
    this.prefix = deps.config.redis.prefix;
    this.queues = new QueueFactory({ prefix: this.prefix, connection: deps.redis });
    this.data = createDataContext({ db: deps.db, redis: deps.redis, prefix: this.prefix, clock: deps.clock, log: deps.log, config: deps.config, queues: this.queues });
    this.steps = new StepsData(this.data);
    this.sql = new SqlRunner(deps.config.web.sqlDatabase ?? deps.config.database, deps.config.web.sqlTimeoutMs);
    this.runner = new CommandRunner({
      db: deps.db,
      redis: deps.redis,
      prefix: this.prefix,
      clock: deps.clock,
      log: deps.log.child('runner'),
      host: deps.config.hostname,
      timeoutSeconds: deps.config.web.commandTimeoutSeconds,
      env: deps.config.env,
    });
    this.throttle = new LoginThrottle(deps.redis, this.prefix);
    this.dashboard = new DashboardHub(this);
    this.docs = new DocsSite({ docsDir: deps.docsDir, manifest: () => this.manifest(), log: deps.log.child('docs') });
  }

  /** The CLI manifest, re-read when the file changes (a deploy rebuilds it). */
  manifest(): Manifest | null {
    let mtimeMs = -1;
    try {
      mtimeMs = fs.statSync(manifestPath()).mtimeMs;
    } catch {
      mtimeMs = -1; // no manifest (not built): the runner and the reference pages are empty
    }
    if (!this.manifestCache || this.manifestCache.mtimeMs !== mtimeMs) this.manifestCache = { mtimeMs, manifest: mtimeMs < 0 ? null : readManifest() };
    return this.manifestCache.manifest;
  }

  hasCommand(id: string): boolean {
    return !!this.manifest()?.commands[id];
  }

  /** The public status, computed at most once per STATUS_CACHE_SECONDS for every visitor. */
  publicStatus(): Promise<PublicStatus> {
    const now = this.clock.now();
    if (!this.statusCache || now - this.statusCache.at >= STATUS_CACHE_SECONDS * 1000) {
      const value = readPublicStatus(this.data);
      this.statusCache = { at: now, value };
      value.catch(() => (this.statusCache = null));
    }
    return this.statusCache.value;
  }

  async audit(req: FastifyRequest | null, action: string, target: string | null, details?: Record<string, unknown> | null, actorOverride?: { id: number | null; email: string }): Promise<void> {
    const actor = actorOverride ?? (req?.user ? { id: req.user.id, email: req.user.email } : { id: null, email: 'anonymous' });
    await writeAudit(this.db, { userId: actor.id, actor: actor.email, action, target, details: details ?? null, ip: req?.ip ?? null }, new Date(this.clock.now()));
  }

  async close(): Promise<void> {
    for (const c of this.sseClients) c.close();
    this.sseClients.clear();
    this.dashboard.stop();
    await this.runner.close();
    await this.queues.close();
  }
}
