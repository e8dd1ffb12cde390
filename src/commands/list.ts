import { Args } from '@oclif/core';
import { listedCommands, renderList } from '../launcher/list.js';
import { readManifest } from '../launcher/manifest.js';
import { UserError } from '../support/errors.js';
import { BaseCommand } from '../base-command.js';

export default class List extends BaseCommand {
  static override summary = 'List every command, grouped by topic';
  static override description = 'List every command, grouped by topic, each with a one-line description. `bin/artisan` with no arguments does the same.';
  static override examples = ['<%= config.bin %> list', '<%= config.bin %> list steps', '<%= config.bin %> list --json'];
  /** Only reads state: viewers may run it from the admin runner (copied into oclif.manifest.json). */
  static readOnly = true;
  static override args = { namespace: Args.string({ description: 'Only show the commands of this topic (e.g. schedule)', required: false }) };

  async run(): Promise<unknown> {
    const { args } = await this.parse(List);
    const manifest = readManifest();
    if (!manifest) throw new UserError('oclif.manifest.json is missing: run `npm run build`.');
    if (this.jsonEnabled()) return { version: manifest.version, commands: listedCommands(manifest, args.namespace) };
    process.stdout.write(renderList(manifest, args.namespace));
    return undefined;
  }
}

