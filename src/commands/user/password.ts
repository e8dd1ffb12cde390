import { Flags } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';

export default class UserPassword extends BaseCommand {
  static override summary = "Change an operator's password (from a prompt or stdin)";
  static override description = 'Reads the new password from a hidden prompt, or from the first line of stdin when piped; never from an argument. At least 12 characters.';
  static override examples = ['<%= config.bin %> user:password --email=ops@example.com'];
  static override flags = { email: Flags.string({ description: 'The operator', required: true }) };

  async run(): Promise<unknown> {
    const { flags } = await this.parse(UserPassword);
    const { readPassword } = await import('../../web/auth/read-password.js');
    const { changePassword } = await import('../../web/auth/operators.js');
    const password = await readPassword({ confirm: true });
    const rt = this.runtime;
    await changePassword({ db: await rt.db(), now: () => new Date(rt.clock.now()), host: rt.config.hostname }, flags.email, password);
    if (this.jsonEnabled()) return { email: flags.email.toLowerCase(), changed: true };
    this.log(`Password changed for ${flags.email.toLowerCase()}.`);
    return undefined;
  }
}
