import { BaseCommand } from '../../base-command.js';
import { renderTable } from '../../support/table.js';

export default class UserList extends BaseCommand {
  static override summary = 'List the operators of the admin UI';
  static override description = 'Shows every operator with role, two-factor state and last login. Never prints password hashes or TOTP secrets.';
  static override examples = ['<%= config.bin %> user:list', '<%= config.bin %> user:list --json'];
  static readOnly = true;

  async run(): Promise<unknown> {
    await this.parse(UserList);
    const { listOperators } = await import('../../web/auth/operators.js');
    const rt = this.runtime;
    const users = await listOperators({ db: await rt.db(), now: () => new Date(rt.clock.now()), host: rt.config.hostname });
    if (this.jsonEnabled()) return { users };
    if (!users.length) {
      this.log('No operators. Create one with user:create.');
      return undefined;
    }
    this.log(renderTable(['ID', 'E-mail', 'Role', '2FA', 'Last login'], users.map((u) => [u.id, u.email, u.role, u.two_factor ? 'yes' : 'no', u.last_login_at ?? '-'])));
    return undefined;
  }
}
