import { describeConfig, getConfig } from '../../config/index.js';
import { BaseCommand } from '../../base-command.js';
import { renderTable } from '../../support/table.js';

export default class ConfigShow extends BaseCommand {
  static override summary = 'Print the effective configuration, secrets masked';
  static override description =
    'Print every configuration variable with its effective value and where it came from (environment, .env or default). Secrets (APP_KEY, passwords in URLs, webhook URLs) are masked. Fails with exit code 1 when a value is invalid.';
  static override examples = ['<%= config.bin %> config:show', '<%= config.bin %> config:show --json'];
  /** Only reads state: viewers may run it from the admin runner (copied into oclif.manifest.json). */
  static readOnly = true;

  async run(): Promise<unknown> {
    await this.parse(ConfigShow);
    getConfig(); // validate first: a bad value exits 1 with the variable named
    const rows = describeConfig();
    if (this.jsonEnabled()) return { config: Object.fromEntries(rows.map((r) => [r.name, r.value])), sources: Object.fromEntries(rows.map((r) => [r.name, r.source])) };
    this.log(renderTable(['Variable', 'Value', 'Source'], rows.map((r) => [r.name, r.value, r.source])));
    return undefined;
  }
}
