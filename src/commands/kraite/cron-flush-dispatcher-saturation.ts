import { BaseCommand } from '../../base-command.js';
import { prefixFlag } from '../../steps/cli.js';

export default class FlushDispatcherSaturation extends BaseCommand {
  static override summary = 'Move finished minutes of dispatcher saturation counters into SQL';
  static override description =
    'Reads the per-group, per-minute saturation counters the dispatcher keeps in Redis for one step set and upserts every finished minute into steps_dispatcher_saturation (group names carry the prefix, e.g. trading_alpha), then deletes them. Scheduled every minute for each set. Saturation % = ticks_capped_with_leftover / ticks_observed.';
  static override examples = ['<%= config.bin %> kraite:cron-flush-dispatcher-saturation', '<%= config.bin %> kraite:cron-flush-dispatcher-saturation --prefix=trading'];
  static override flags = { prefix: prefixFlag };

  async run(): Promise<unknown> {
    const { flags } = await this.parse(FlushDispatcherSaturation);
    const { flushSaturation } = await import('../../steps/saturation.js');
    const rt = this.runtime;
    const r = await flushSaturation(await rt.db(), await rt.redis('cli'), rt.config.redis.prefix, flags.prefix, rt.clock.now());
    if (r.errors.length) process.exitCode = 1;
    if (this.jsonEnabled()) return { ...r, flushed: r.flushed.map((f) => ({ ...f, bucket_started_at: new Date(f.bucket_started_at).toISOString() })) };
    this.log(`Flushed ${r.flushed.length} group-minute(s)${r.skipped ? `, ${r.skipped} empty` : ''}.`);
    for (const e of r.errors) this.logToStderr(`  ${e.group} ${e.bucket}: ${e.error}`);
    return undefined;
  }
}
