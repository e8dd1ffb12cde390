import { Flags } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';

export default class UserCreate extends BaseCommand {
  static override summary = 'Create an operator of the admin UI (password from a prompt or stdin)';
  static override description =
    'Creates a user with the role admin (everything) or viewer (read pages, read-only commands). The password is read from a hidden prompt, or from the first line of stdin when piped; it is never accepted as an argument, so it cannot leak through ps or shell history. At least 12 characters. Stored as a scrypt hash.';
  static override examples = ['<%= config.bin %> user:create --email=ops@example.com --role=admin', 'printf %s "$PASSWORD" | <%= config.bin %> user:create --email=watch@example.com --role=viewer --json'];
  static override flags = {
    email: Flags.string({ description: 'Login e-mail', required: true }),
    role: Flags.string({ description: 'admin or viewer', required: true, options: ['admin', 'viewer'] }),
  };

  async run(): Promise<unknown> {
    const { flags } = await this.parse(UserCreate);
    const { readPassword } = await import('../../web/auth/read-password.js');
    const { createOperator } = await import('../../web/auth/operators.js');
    const { normaliseEmail, parseRole } = await import('../../db/repositories/users.js');
    const email = normaliseEmail(flags.email);
    const role = parseRole(flags.role);
    const password = await readPassword({ confirm: true });
    const rt = this.runtime;
    const user = await createOperator({ db: await rt.db(), now: () => new Date(rt.clock.now()), host: rt.config.hostname }, { email, role, password });
    if (this.jsonEnabled()) return user;
    this.log(`Created ${user.role} ${user.email} (id ${user.id}). Enable two-factor login with: bin/artisan user:2fa --email=${user.email}`);
    return undefined;
  }
}
