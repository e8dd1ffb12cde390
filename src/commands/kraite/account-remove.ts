import { Args } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';
import { removeAccount } from '../../db/repositories/accounts.js';

export default class AccountRemove extends BaseCommand {
  static override summary = 'Remove an account and its listen key';
  static override description = 'Delete an account, its listen-key row, and (by cascade) its positions and orders.';
  static override examples = ['<%= config.bin %> kraite:account-remove 3'];
  static override args = { id: Args.integer({ description: 'Account id', required: true, min: 1 }) };

  async run(): Promise<unknown> {
    const { args } = await this.parse(AccountRemove);
    await removeAccount(await this.runtime.db(), args.id);
    if (this.jsonEnabled()) return { removed: args.id };
    this.log(`Account ${args.id} removed.`);
    return undefined;
  }
}
