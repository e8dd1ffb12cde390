import { Flags } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';
import { envFilePath, readEnvFile, writeEnvValue } from '../../config/env.js';
import { generateAppKey } from '../../crypto/secrets.js';
import { UserError } from '../../support/errors.js';

export default class KeyGenerate extends BaseCommand {
  static override summary = 'Write a fresh APP_KEY into .env';
  static override description =
    'Generate 32 random bytes (base64) and store them as APP_KEY in the project .env file. An existing key is never replaced without --force: secrets encrypted with the old key become unreadable. --show prints a key without writing it.';
  static override examples = ['<%= config.bin %> key:generate', '<%= config.bin %> key:generate --show', '<%= config.bin %> key:generate --force'];
  static override flags = {
    force: Flags.boolean({ description: 'Replace an existing APP_KEY (existing encrypted secrets become unreadable)' }),
    show: Flags.boolean({ description: 'Print a new key instead of writing it' }),
  };

  async run(): Promise<unknown> {
    const { flags } = await this.parse(KeyGenerate);
    const key = generateAppKey();
    if (flags.show) {
      if (this.jsonEnabled()) return { key };
      this.log(key);
      return undefined;
    }
    const file = envFilePath();
    const current = readEnvFile(file).APP_KEY;
    if (current && !flags.force) {
      throw new UserError(`APP_KEY is already set in ${file}. Re-run with --force to replace it (secrets encrypted with the old key become unreadable).`);
    }
    writeEnvValue(file, 'APP_KEY', key);
    if (this.jsonEnabled()) return { written: file };
    this.log(`Application key set in ${file}.`);
    return undefined;
  }
}
