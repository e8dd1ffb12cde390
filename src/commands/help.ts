import { Args, Command, loadHelpClass } from '@oclif/core';

export default class Help extends Command {
  static override summary = 'Display help for a command';
  static override description = 'Display usage, flags, arguments and examples of a command. `<command> --help` does the same.';
  static override examples = ['<%= config.bin %> help migrate', '<%= config.bin %> help kraite:account-add'];
  static override strict = false;
  static override args = { command: Args.string({ description: 'The command to explain', required: false }) };

  async run(): Promise<void> {
    const { argv } = await this.parse(Help);
    const HelpClass = await loadHelpClass(this.config);
    const help = new HelpClass(this.config, { all: false });
    await help.showHelp(argv as string[]);
  }
}
