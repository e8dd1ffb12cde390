import { Flags } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';
import { UserError } from '../../support/errors.js';

export default class CronSnapshotAccounts extends BaseCommand {
  static override summary = 'Store each account\'s positions and open orders from Binance in api_snapshots (every 5 min)';
  static override description = [
    'For every eligible account (or --account): GET /fapi/v3/positionRisk and GET /fapi/v1/openOrders, stored as one',
    'api_snapshots row {account_id, canonical: "binance", payload: {positions, open_orders}, taken_at} for the drift',
    'view. Snapshots older than 48 h are pruned. One account failing never stops the others; exits 1 if any failed.',
  ].join(' ');
  static override examples = ['<%= config.bin %> kraite:cron-snapshot-accounts', '<%= config.bin %> kraite:cron-snapshot-accounts --account=2 --json'];
  static override flags = { account: Flags.integer({ description: 'Only this account (accounts.id)', min: 1 }) };

  async run(): Promise<unknown> {
    const { flags } = await this.parse(CronSnapshotAccounts);
    const [{ binanceDeps }, { snapshotAccounts }] = await Promise.all([import('../../binance/context.js'), import('../../binance/snapshots.js')]);
    const deps = await binanceDeps(this.runtime, { component: 'cron-snapshot-accounts' });
    if (flags.account !== undefined && !(await deps.db('accounts').where({ id: flags.account }).first('id'))) throw new UserError(`Account ${flags.account} does not exist.`);
    const result = await snapshotAccounts(deps, { accountId: flags.account });
    if (result.accounts.some((a) => a.error)) process.exitCode = 1;
    if (this.jsonEnabled()) return result;
    for (const a of result.accounts) this.log(a.error ? `account ${a.account_id}: failed: ${a.error}` : `account ${a.account_id}: ${a.positions} positions, ${a.open_orders} open orders`);
    if (result.accounts.length === 0) this.log('No eligible accounts.');
    return undefined;
  }
}
