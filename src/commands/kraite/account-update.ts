import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';
import { getAccount, updateAccount } from '../../db/repositories/accounts.js';
import { UserError } from '../../support/errors.js';

export default class AccountUpdate extends BaseCommand {
  static override summary = 'Change an account';
  static override description = 'Rename an account, replace its credentials, (de)activate it or switch its hedge mode. Only the flags given are changed.';
  static override examples = ['<%= config.bin %> kraite:account-update 3 --inactive', '<%= config.bin %> kraite:account-update 3 --api-key=KEY --api-secret=SECRET'];
  static override args = { id: Args.integer({ description: 'Account id', required: true, min: 1 }) };
  static override flags = {
    name: Flags.string({ description: 'New display name' }),
    'api-key': Flags.string({ description: 'New Binance API key' }),
    'api-secret': Flags.string({ description: 'New Binance API secret' }),
    active: Flags.boolean({ description: 'Activate the account', exclusive: ['inactive'] }),
    inactive: Flags.boolean({ description: 'Deactivate the account (its stream stops at the next sweep)', exclusive: ['active'] }),
    hedge: Flags.boolean({ description: 'Hedge mode on (--no-hedge: off)', allowNo: true }),
  };

  async run(): Promise<unknown> {
    const { args, flags } = await this.parse(AccountUpdate);
    const patch = {
      name: flags.name,
      apiKey: flags['api-key'],
      apiSecret: flags['api-secret'],
      isActive: flags.active ? true : flags.inactive ? false : undefined,
      hedgeMode: flags.hedge,
    };
    if (Object.values(patch).every((v) => v === undefined)) throw new UserError('Nothing to change: give at least one of --name, --api-key, --api-secret, --active, --inactive, --hedge/--no-hedge.');
    const db = await this.runtime.db();
    const key = this.runtime.appKey();
    await updateAccount(db, key, args.id, patch);
    const account = await getAccount(db, key, args.id);
    if (this.jsonEnabled()) return { account };
    this.log(`Account ${account.id} updated.`);
    return undefined;
  }
}
