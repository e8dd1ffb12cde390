import { BaseCommand } from '../base-command.js';
import { readPackageVersion } from '../launcher/manifest.js';
import { pingDb } from '../db/connection.js';
import { migrationStatus } from '../db/migrator.js';
import { maskUrl } from '../support/mask.js';
import { errorMessage } from '../support/errors.js';

export default class About extends BaseCommand {
  static override summary = 'Show the environment and check the database and Redis';
  static override description =
    'Print the version, environment, role and the database and Redis targets, then check that both answer. Exits 1 when either is unreachable, with the reason (e.g. "Redis is not reachable at redis://127.0.0.1:6390"), within 5 seconds.';
  static override examples = ['<%= config.bin %> about', '<%= config.bin %> about --json'];
  /** Only reads state: viewers may run it from the admin runner (copied into oclif.manifest.json). */
  static readOnly = true;

  async run(): Promise<unknown> {
    await this.parse(About);
    const cfg = this.runtime.config;
    const checks: Record<string, { ok: boolean; detail: string }> = {};
    try {
      const db = await this.runtime.db();
      await pingDb(db);
      const pending = (await migrationStatus(db)).filter((m) => !m.ran).length;
      checks.database = { ok: true, detail: pending ? `${pending} migration(s) pending` : 'migrated' };
    } catch (err) {
      checks.database = { ok: false, detail: errorMessage(err) };
    }
    try {
      const redis = await this.runtime.redis('cli');
      const info = await redis.info('server');
      checks.redis = { ok: true, detail: `redis ${/redis_version:(\S+)/.exec(info)?.[1] ?? '?'}` };
    } catch (err) {
      checks.redis = { ok: false, detail: errorMessage(err) };
    }
    const report = {
      version: readPackageVersion(),
      node: process.version,
      app_env: cfg.appEnv,
      server_role: cfg.serverRole,
      hostname: cfg.hostname,
      database: { client: cfg.database.client, url: maskUrl(cfg.database.url) },
      redis: { url: maskUrl(cfg.redis.url), prefix: cfg.redis.prefix },
      app_key: cfg.appKey ? 'set' : 'missing',
      checks,
    };
    const failed = Object.values(checks).some((c) => !c.ok);
    if (failed) process.exitCode = 1;
    if (this.jsonEnabled()) return report;
    this.log(`Athena ${report.version} (node ${report.node})`);
    this.log(`  Environment   ${report.app_env}, role ${report.server_role}, host ${report.hostname}`);
    this.log(`  Database      ${report.database.client} ${report.database.url}`);
    this.log(`  Redis         ${report.redis.url} (prefix ${report.redis.prefix})`);
    this.log(`  APP_KEY       ${report.app_key}`);
    for (const [name, c] of Object.entries(checks)) {
      const line = `  ${name.padEnd(12)}  ${c.ok ? 'OK' : 'FAIL'}  ${c.detail}`;
      if (c.ok) this.log(line);
      else process.stderr.write(`${line}\n`);
    }
    return undefined;
  }
}
