import { Flags } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';
import { readPackageVersion } from '../../launcher/manifest.js';
import { collectSnapshot, storeSnapshot } from '../../ops/fleet.js';
import { supervisorUnits } from '../../ops/supervisor-status.js';

export default class FleetReport extends BaseCommand {
  static override summary = "Store this host's heartbeat snapshot in Redis";
  static override description =
    'Collect this host\'s role, version, CPU, RAM, disk, uptime and supervisor program states, and store them under <REDIS_PREFIX>:fleet:<host> with a 7-day TTL. The admin UI\'s fleet heartbeat reads these keys; a host is stale after 12 minutes. Scheduled every 5 minutes, on one server, even in maintenance mode.';
  static override examples = ['<%= config.bin %> kraite:fleet-report', '<%= config.bin %> kraite:fleet-report --json', '<%= config.bin %> kraite:fleet-report --dry-run'];
  static override flags = {
    'dry-run': Flags.boolean({ description: 'Print the snapshot without storing it' }),
  };

  async run(): Promise<unknown> {
    const { flags } = await this.parse(FleetReport);
    const cfg = this.runtime.config;
    const units = await supervisorUnits({ conf: cfg.env.SUPERVISORCTL_CONF ?? null });
    const snapshot = collectSnapshot({ hostname: cfg.hostname, role: cfg.serverRole, version: readPackageVersion(), now: new Date(this.runtime.clock.now()), units });
    if (!flags['dry-run']) await storeSnapshot(await this.runtime.redis('cli'), cfg.redis.prefix, snapshot);
    if (this.jsonEnabled()) return { stored: !flags['dry-run'], snapshot };
    this.log(`${flags['dry-run'] ? 'Would store' : 'Stored'} fleet snapshot for ${snapshot.hostname} (${snapshot.role}, v${snapshot.version}).`);
    this.log(`  cpu ${snapshot.cpu?.percent ?? '?'}%  ram ${snapshot.ram?.percent ?? '?'}%  disk ${snapshot.disk?.percent ?? '?'}%  uptime ${snapshot.uptime_seconds}s`);
    const unitLine = Object.entries(snapshot.units).map(([k, v]) => `${k}=${v}`).join(' ');
    this.log(`  units ${unitLine || (snapshot.supervisor === 'unavailable' ? '(supervisorctl unavailable)' : '(none)')}`);
    return undefined;
  }
}
