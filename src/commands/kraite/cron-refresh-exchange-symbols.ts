import { BaseCommand } from '../../base-command.js';

export default class CronRefreshExchangeSymbols extends BaseCommand {
  static override summary = 'Upsert exchange_symbols from Binance exchangeInfo (hourly)';
  static override description = [
    'GET /fapi/v1/exchangeInfo, then insert new symbols, update changed ones (status, precisions, tick and step size),',
    'and make sure every symbol has an exchange_symbol_prices row. A symbol that left the catalogue or is settling/closed',
    'gets delisted_at; it is never deleted. A symbol that comes back is cleared.',
  ].join(' ');
  static override examples = ['<%= config.bin %> kraite:cron-refresh-exchange-symbols', '<%= config.bin %> kraite:cron-refresh-exchange-symbols --json'];

  async run(): Promise<unknown> {
    await this.parse(CronRefreshExchangeSymbols);
    const [{ binanceDeps }, { refreshExchangeSymbols }] = await Promise.all([import('../../binance/context.js'), import('../../binance/symbols.js')]);
    const counts = await refreshExchangeSymbols(await binanceDeps(this.runtime, { component: 'cron-refresh-exchange-symbols' }));
    if (this.jsonEnabled()) return counts;
    this.log(`${counts.listed} symbols listed: ${counts.inserted} new, ${counts.updated} updated, ${counts.unchanged} unchanged, ${counts.delisted} delisted, ${counts.relisted} relisted, ${counts.price_rows_created} price rows created.`);
    return undefined;
  }
}
