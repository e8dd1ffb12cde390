import { Flags } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';
import { renderTable } from '../../support/table.js';

export default class CronCheckBinanceListenKeysStale extends BaseCommand {
  static override summary = 'Report accounts whose user-data stream looks stale (every 5 min; alerts only)';
  static override description = [
    'For every eligible account: missing_row (no binance_listen_keys row 120 s after the account last changed),',
    'stale_keep_alive (no keepalive for --max-staleness-minutes), stale_frame_heartbeat (no frame or ping for',
    '--max-frame-staleness-minutes although the keepalive is fresh). Each hit sends binance_listen_key_stale',
    '(deduplicated per account). Nothing is fixed automatically.',
  ].join(' ');
  static override examples = ['<%= config.bin %> kraite:cron-check-binance-listen-keys-stale', '<%= config.bin %> kraite:cron-check-binance-listen-keys-stale --json --max-frame-staleness-minutes=5'];
  static override flags = {
    'max-staleness-minutes': Flags.integer({ description: 'Keepalive age that counts as stale', default: 30, min: 1 }),
    'max-frame-staleness-minutes': Flags.integer({ description: 'Frame/ping age that counts as stale when the keepalive is fresh', default: 15, min: 1 }),
  };

  async run(): Promise<unknown> {
    const { flags } = await this.parse(CronCheckBinanceListenKeysStale);
    const [{ binanceDeps }, { checkStaleListenKeys }] = await Promise.all([import('../../binance/context.js'), import('../../binance/listen-keys.js')]);
    const result = await checkStaleListenKeys(await binanceDeps(this.runtime, { component: 'cron-check-binance-listen-keys-stale' }), {
      maxStalenessMinutes: flags['max-staleness-minutes'],
      maxFrameStalenessMinutes: flags['max-frame-staleness-minutes'],
    });
    if (this.jsonEnabled()) return result;
    if (result.stale.length === 0) {
      this.log(`${result.checked} accounts checked: fresh listenKey and socket heartbeats.`);
      return undefined;
    }
    this.log(renderTable(['Account', 'Name', 'Reason', 'Detail'], result.stale.map((s) => [s.account_id, s.account_name, s.reason, s.detail])));
    return undefined;
  }
}
