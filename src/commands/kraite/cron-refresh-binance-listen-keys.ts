import { BaseCommand } from '../../base-command.js';

export default class CronRefreshBinanceListenKeys extends BaseCommand {
  static override summary = 'Keep every Binance listen key alive (every minute)';
  static override description = [
    'PUT /fapi/v1/listenKey for every binance_listen_keys row whose account still has credentials. Success sets',
    'last_keep_alive_at and resets failure_count; -1125 (the key is gone) creates a new key by POST, which the',
    'user-data daemon follows within 30 s. A failure increments failure_count; the third in a row sends',
    'binance_listen_key_keepalive_failed once. Rows are never deleted here. Exits 1 when any keepalive failed.',
  ].join(' ');
  static override examples = ['<%= config.bin %> kraite:cron-refresh-binance-listen-keys', '<%= config.bin %> kraite:cron-refresh-binance-listen-keys --json'];

  async run(): Promise<unknown> {
    await this.parse(CronRefreshBinanceListenKeys);
    const [{ binanceDeps }, { refreshListenKeys }] = await Promise.all([import('../../binance/context.js'), import('../../binance/listen-keys.js')]);
    const summary = await refreshListenKeys(await binanceDeps(this.runtime, { component: 'cron-refresh-binance-listen-keys' }));
    if (summary.failed > 0) process.exitCode = 1;
    if (this.jsonEnabled()) return summary;
    this.log(`${summary.rows} listen keys: ${summary.succeeded} kept alive, ${summary.renewed} renewed after -1125, ${summary.failed} failed, ${summary.skipped} skipped${summary.alerted ? `, ${summary.alerted} alerted` : ''}.`);
    for (const r of summary.results.filter((x) => x.outcome === 'failure')) this.log(`  account ${r.account_id}: failure ${r.failure_count} in a row: ${r.error}`);
    return undefined;
  }
}
