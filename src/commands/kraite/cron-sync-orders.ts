import { Flags } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';
import { UserError } from '../../support/errors.js';

export default class CronSyncOrders extends BaseCommand {
  static override summary = 'Re-anchor working orders from Binance REST (every 5 min)';
  static override description = [
    'Every working (NEW / PARTIALLY_FILLED) non-MARKET order with an exchange id is fetched with GET /fapi/v1/order',
    'and its status, price and quantity are overwritten with the exchange truth (reference_* columns untouched).',
    'An error on one order never stops the others; calls stay inside the weight budget. -2013 leaves the order as',
    'is, records the answer in api_result and alerts. --order-id syncs one order (any status); --account runs the',
    'gap reconciliation of one account (openOrders first, then GET /order), the same code the ReconcileAccount job',
    'runs. Exits 1 when any order failed with an error other than -2013.',
  ].join(' ');
  static override examples = ['<%= config.bin %> kraite:cron-sync-orders', '<%= config.bin %> kraite:cron-sync-orders --order-id=42 --json', '<%= config.bin %> kraite:cron-sync-orders --account=3'];
  static override flags = {
    'order-id': Flags.integer({ description: 'Sync only this order (orders.id)', min: 1, exclusive: ['account'] }),
    account: Flags.integer({ description: 'Reconcile this account (accounts.id)', min: 1, exclusive: ['order-id'] }),
  };

  async run(): Promise<unknown> {
    const { flags } = await this.parse(CronSyncOrders);
    const [{ binanceDeps }, { OrderSync }] = await Promise.all([import('../../binance/context.js'), import('../../binance/order-sync.js')]);
    const deps = await binanceDeps(this.runtime, { component: 'cron-sync-orders' });
    const sync = new OrderSync(deps);
    if (flags.account !== undefined && !(await deps.db('accounts').where({ id: flags.account }).first('id'))) throw new UserError(`Account ${flags.account} does not exist.`);
    const summary = flags.account !== undefined ? await sync.reconcileAccount(flags.account) : await sync.syncOrders({ orderId: flags['order-id'] });
    if (flags['order-id'] !== undefined && summary.orders === 0) throw new UserError(`Order ${flags['order-id']} does not exist or has no exchange order id.`);
    if (summary.errors > 0) process.exitCode = 1;
    if (this.jsonEnabled()) return summary;
    this.log(`${summary.orders} orders: ${summary.reanchored} re-anchored, ${summary.unchanged} unchanged, ${summary.missing} unknown to Binance (-2013), ${summary.errors} errors, ${summary.skipped} skipped.`);
    for (const r of summary.results.filter((x) => x.outcome !== 'unchanged')) {
      const change = r.after ? `${r.before?.status} ${r.before?.price} x ${r.before?.quantity} -> ${r.after.status} ${r.after.price} x ${r.after.quantity}` : (r.error ?? '');
      this.log(`  order ${r.order_id} (${r.symbol} #${r.exchange_order_id}) ${r.outcome}: ${change}`);
    }
    return undefined;
  }
}
