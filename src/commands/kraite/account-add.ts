import { Flags } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';
import { createAccount } from '../../db/repositories/accounts.js';

export default class AccountAdd extends BaseCommand {
  static override summary = 'Add a Binance account (credentials encrypted at rest)';
  static override description = 'Create an account row. The API key and secret are encrypted with APP_KEY before they reach the database. Prints the new id.';
  static override examples = [
    '<%= config.bin %> kraite:account-add --name="Main" --api-key=KEY --api-secret=SECRET',
    '<%= config.bin %> kraite:account-add --name="Hedge" --api-key=KEY --api-secret=SECRET --hedge --json',
  ];
  static override flags = {
    name: Flags.string({ description: 'Display name', required: true }),
    'api-key': Flags.string({ description: 'Binance API key', required: true }),
    'api-secret': Flags.string({ description: 'Binance API secret', required: true }),
    inactive: Flags.boolean({ description: 'Create the account inactive (no user-data stream)' }),
    hedge: Flags.boolean({ description: 'The account trades in hedge mode' }),
  };

  async run(): Promise<unknown> {
    const { flags } = await this.parse(AccountAdd);
    const id = await createAccount(await this.runtime.db(), this.runtime.appKey(), {
      name: flags.name,
      apiKey: flags['api-key'],
      apiSecret: flags['api-secret'],
      isActive: !flags.inactive,
      hedgeMode: flags.hedge,
    });
    if (this.jsonEnabled()) return { id };
    this.log(String(id));
    return undefined;
  }
}
