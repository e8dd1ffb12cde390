import { Flags } from '@oclif/core';
import { BaseCommand } from '../base-command.js';

export default class Web extends BaseCommand {
  static override summary = 'Serve the operator UI, the docs and the marketing site';
  static override description =
    'One HTTP server with three virtual hosts chosen by the Host header: ADMIN_HOST (operator UI, login required), DOCS_HOST (docs/*.md and the CLI reference) and MARKETING_HOST (landing page, status, legal pages). Unknown hosts get 421. Runs until SIGTERM/SIGINT, then closes gracefully. Put a TLS proxy in front and list it in WEB_TRUSTED_PROXIES.';
  static override examples = ['<%= config.bin %> web', '<%= config.bin %> web --port=8080 --host=0.0.0.0'];
  static override flags = {
    port: Flags.integer({ description: 'Port to listen on (default WEB_PORT; 0 picks a free port)', min: 0, max: 65535 }),
    host: Flags.string({ description: 'Address to bind (use 0.0.0.0 to listen on every interface)', default: '127.0.0.1' }),
  };
  static override enableJsonFlag = false;

  async run(): Promise<void> {
    const { flags } = await this.parse(Web);
    const { WebDaemon } = await import('../web/daemon.js');
    const cfg = this.runtime.config;
    const daemon = new WebDaemon(this.runtime, {
      port: flags.port ?? cfg.web.port,
      host: flags.host,
      onListening: (address) => {
        const port = new URL(address).port;
        this.log(`Athena web listening on ${address}`);
        this.log(`  admin      http://${cfg.web.adminHost}:${port}/`);
        this.log(`  docs       http://${cfg.web.docsHost}:${port}/`);
        this.log(`  marketing  http://${cfg.web.marketingHost}:${port}/`);
      },
    });
    await daemon.run();
  }
}
