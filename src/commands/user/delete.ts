import { Flags } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';

export default class UserDelete extends BaseCommand {
  static override summary = 'Delete an operator of the admin UI';
  static override description = 'Removes the operator; their open sessions stop working within 5 seconds. The audit log keeps their past actions.';
  static override examples = ['<%= config.bin %> user:delete --email=old@example.com'];
  static override flags = { email: Flags.string({ description: 'The operator', required: true }) };

  async run(): Promise<unknown> {
    const { flags } = await this.parse(UserDelete);
    const { deleteOperator } = await import('../../web/auth/operators.js');
    const rt = this.runtime;
    await deleteOperator({ db: await rt.db(), now: () => new Date(rt.clock.now()), host: rt.config.hostname }, flags.email);
    if (this.jsonEnabled()) return { deleted: flags.email.toLowerCase() };
    this.log(`Deleted ${flags.email.toLowerCase()}.`);
    return undefined;
  }
}
