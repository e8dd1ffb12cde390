import { Flags } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';

export default class User2fa extends BaseCommand {
  static override summary = 'Set up (or reset, or remove) TOTP two-factor login for an operator';
  static override description =
    'Generates a new TOTP secret (RFC 6238, SHA-1, 6 digits, 30 s), stores it encrypted under APP_KEY and prints it once with its otpauth:// URI for an authenticator app. From then on the login asks for a code. Running it again replaces the secret; --disable removes two-factor login.';
  static override examples = ['<%= config.bin %> user:2fa --email=ops@example.com', '<%= config.bin %> user:2fa --email=ops@example.com --disable'];
  static override flags = {
    email: Flags.string({ description: 'The operator', required: true }),
    disable: Flags.boolean({ description: 'Remove two-factor login instead' }),
  };

  async run(): Promise<unknown> {
    const { flags } = await this.parse(User2fa);
    const { enableTotp, disableTotp } = await import('../../web/auth/operators.js');
    const rt = this.runtime;
    const deps = { db: await rt.db(), now: () => new Date(rt.clock.now()), host: rt.config.hostname };
    if (flags.disable) {
      await disableTotp(deps, rt.appKey(), flags.email);
      if (this.jsonEnabled()) return { email: flags.email.toLowerCase(), two_factor: false };
      this.log(`Two-factor login removed for ${flags.email.toLowerCase()}.`);
      return undefined;
    }
    const r = await enableTotp(deps, rt.appKey(), flags.email);
    if (this.jsonEnabled()) return { email: r.email, two_factor: true, secret: r.secret, otpauth_uri: r.uri };
    this.log(`Two-factor login enabled for ${r.email}. Add this to an authenticator app now; it is not shown again.`);
    this.log('');
    this.log(`  secret  ${r.secret}`);
    this.log(`  uri     ${r.uri}`);
    return undefined;
  }
}
