import { Flags } from '@oclif/core';
import { BaseCommand } from '../base-command.js';

export default class Dev extends BaseCommand {
  static override summary = 'Run the whole box locally (what npm start runs)';
  static override description =
    'Generates APP_KEY into .env when missing, finds Redis (REDIS_URL, else 127.0.0.1:6379, else a private redis-server under storage/dev/redis), migrates and seeds the database (demo accounts, symbols, positions, orders, steps and the demo operator admin@athena.local), then runs the Binance simulator, the dispatch daemon, both Binance streams, horizon, schedule:work and web as supervised children: prefixed, coloured logs, a crashed child restarts with backoff. Demo order activity and demo steps keep the pages live. Prints the admin, docs and marketing URLs and the demo login. Ctrl-C (SIGINT) or SIGTERM stops every program and its process group; a second Ctrl-C kills them at once.';
  static override examples = ['<%= config.bin %> dev', '<%= config.bin %> dev --port=8081 --sim-port=0', '<%= config.bin %> dev --no-activity'];
  static override flags = {
    port: Flags.integer({ description: 'Web port (default WEB_PORT; 0 picks a free one)', min: 0, max: 65535 }),
    'sim-port': Flags.integer({ description: 'Simulator port (default: the port of a local BINANCE_REST_URL, else 9876; 0 picks a free one)', min: 0, max: 65535 }),
    activity: Flags.boolean({ description: 'Generate demo order activity and demo steps (--no-activity to turn off)', default: true, allowNo: true }),
    'order-interval': Flags.integer({ description: 'Milliseconds between two demo order lifecycles', default: 3000, min: 100 }),
    'steps-interval': Flags.integer({ description: 'Milliseconds between two blocks of demo steps', default: 10_000, min: 100 }),
    grace: Flags.integer({ description: 'Seconds each program gets to stop before SIGKILL', default: 30, min: 1, max: 600 }),
  };
  static override enableJsonFlag = false;

  async run(): Promise<void> {
    const { flags } = await this.parse(Dev);
    const { DevBox } = await import('../ops/dev/box.js');
    const { systemClock } = await import('../support/clock.js');
    const { default: chalk } = await import('chalk');
    const box = new DevBox({
      clock: systemClock,
      webPort: flags.port,
      simPort: flags['sim-port'],
      activity: flags.activity,
      orderEveryMs: flags['order-interval'],
      stepsEveryMs: flags['steps-interval'],
      graceMs: flags.grace * 1000,
      colour: chalk.level > 0,
      write: (line) => process.stdout.write(line),
    });
    // Signals only set flags. A terminal's Ctrl-C (and npm relaying it) can arrive twice at once; a
    // second signal more than 2 s after the first means "now".
    let firstAt = 0;
    const onSignal = (sig: NodeJS.Signals) => {
      if (!firstAt) {
        firstAt = Date.now();
        process.stdout.write(`\n${sig}: stopping (press Ctrl-C again to kill everything now)\n`);
        box.stop();
      } else if (Date.now() - firstAt > 2000) {
        box.killNow();
      }
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    try {
      await box.run();
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  }
}
