import { BaseCommand } from '../../base-command.js';
import { listAccounts } from '../../db/repositories/accounts.js';
import { renderTable } from '../../support/table.js';

export default class AccountList extends BaseCommand {
  static override summary = 'List accounts (masked key, never the secret)';
  static override description = 'List every account with its state and a masked API key. The secret is never printed.';
  static override examples = ['<%= config.bin %> kraite:account-list', '<%= config.bin %> kraite:account-list --json'];
  /** Only reads state: viewers may run it from the admin runner (copied into oclif.manifest.json). */
  static readOnly = true;

  async run(): Promise<unknown> {
    await this.parse(AccountList);
    const accounts = await listAccounts(await this.runtime.db(), this.runtime.appKey());
    if (this.jsonEnabled()) return { accounts };
    if (accounts.length === 0) {
      this.log('No accounts. Add one with kraite:account-add.');
      return undefined;
    }
    this.log(renderTable(['ID', 'Name', 'Active', 'Hedge', 'API key', 'Secret'], accounts.map((a) => [a.id, a.name, a.is_active ? 'yes' : 'no', a.on_hedge_mode ? 'yes' : 'no', a.api_key, a.has_secret ? 'set' : '-'])));
    return undefined;
  }
}
