import { Flags } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';
import { UserError } from '../../support/errors.js';

export default class SimulateBinance extends BaseCommand {
  static override summary = 'Run the Binance USDⓈ-M futures simulator (REST, WebSockets, control API)';
  static override description = [
    'A fake Binance futures exchange on localhost for tests, demos and benchmarks: listen keys, exchangeInfo, premiumIndex,',
    'signed order/openOrders/allOrders/positionRisk with HMAC checks, weight headers and 429/418 modes, the /market/stream',
    'mark-price feed and /private/ws user-data sockets, plus a control API under /_sim/ (see docs/simulator.md).',
    'The demo accounts (db:seed) are preloaded; --from-db also loads every account of the database with its working orders.',
    'Runs until SIGINT/SIGTERM. Point BINANCE_REST_URL=http://127.0.0.1:<port> and BINANCE_WS_URL=ws://127.0.0.1:<port> at it.',
  ].join(' ');
  static override examples = [
    '<%= config.bin %> kraite:simulate-binance --port=9876',
    '<%= config.bin %> kraite:simulate-binance --symbols=2000 --seed=7 --from-db',
    '<%= config.bin %> kraite:simulate-binance --ping-interval=5 --pong-deadline=15 --connection-limit=60',
  ];
  static override flags = {
    port: Flags.integer({ description: 'Port to listen on (default: the port of BINANCE_REST_URL when it is local, else 9876; 0 = any)', min: 0, max: 65535 }),
    host: Flags.string({ description: 'Interface to bind', default: '127.0.0.1' }),
    symbols: Flags.integer({ description: 'Symbols on the exchange (the demo symbols first, then synthetic ones)', default: 50, min: 1, max: 5000 }),
    seed: Flags.integer({ description: 'Seed of the random walk and of generated keys', default: 1 }),
    'demo-accounts': Flags.integer({ description: 'Preload demo accounts 1..N (the credentials db:seed uses)', default: 3, min: 0, max: 1000 }),
    'accounts-file': Flags.string({ description: 'JSON file: [{"apiKey", "apiSecret", "label"?}] to preload' }),
    'from-db': Flags.boolean({ description: 'Also load every account of the database (decrypted with APP_KEY) and mirror its working orders' }),
    'ping-interval': Flags.integer({ description: 'Server ping cadence in seconds (Binance: 180)', default: 180, min: 1 }),
    'pong-deadline': Flags.integer({ description: 'Cut a socket that has not answered a ping within this many seconds (Binance: 600)', default: 600, min: 1 }),
    'connection-limit': Flags.integer({ description: 'Cut every connection after this many seconds (Binance: 86400)', default: 86_400, min: 1 }),
    'listen-key-ttl': Flags.integer({ description: 'Listen-key validity in seconds after creation or keepalive (Binance: 3600)', default: 3600, min: 1 }),
    'mark-interval': Flags.integer({ description: 'Mark-price frame cadence in milliseconds', default: 1000, min: 10 }),
    'bench-stamps': Flags.boolean({ description: 'Add _simSentAt (epoch ms) to every user-data frame, for the latency benchmark' }),
  };

  async run(): Promise<unknown> {
    const { flags } = await this.parse(SimulateBinance);
    const fs = await import('node:fs');
    const { BinanceSimulator } = await import('../../binance/simulator/index.js');
    const accounts: Array<{ apiKey: string; apiSecret: string; label?: number }> = [];
    if (flags['accounts-file']) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(fs.readFileSync(flags['accounts-file'], 'utf8'));
      } catch (err) {
        throw new UserError(`Cannot read --accounts-file ${flags['accounts-file']}: ${(err as Error).message}`);
      }
      if (!Array.isArray(parsed) || parsed.some((a) => typeof a?.apiKey !== 'string' || typeof a?.apiSecret !== 'string')) throw new UserError('--accounts-file must hold a JSON array of {"apiKey": "...", "apiSecret": "...", "label": 1}.');
      accounts.push(...(parsed as typeof accounts));
    }
    const port = flags.port ?? defaultPort(this.runtime.config.binance.restUrl);
    const sim = await BinanceSimulator.start({
      port,
      host: flags.host,
      symbols: flags.symbols,
      seed: flags.seed,
      demoAccounts: flags['demo-accounts'],
      accounts,
      pingIntervalMs: flags['ping-interval'] * 1000,
      pongDeadlineMs: flags['pong-deadline'] * 1000,
      connectionLimitMs: flags['connection-limit'] * 1000,
      listenKeyTtlMs: flags['listen-key-ttl'] * 1000,
      markIntervalMs: flags['mark-interval'],
      benchStamps: flags['bench-stamps'],
      log: this.runtime.log.child('simulator'),
    }).catch((err: Error) => {
      throw new UserError(`The simulator cannot listen on ${flags.host}:${port}: ${err.message}`);
    });
    if (flags['from-db']) {
      const { mirrorDatabase } = await import('../../binance/simulator/mirror.js');
      const n = await mirrorDatabase(sim, await this.runtime.db(), this.runtime.appKey(), sim.clock.now());
      this.say(`Loaded ${n.accounts} accounts and ${n.orders} working orders from the database.`);
    }
    this.say(`Binance simulator listening: REST ${sim.restUrl}  WS ${sim.wsUrl}  control ${sim.restUrl}/_sim/state`);
    this.say(`  ${sim.market.symbols.length} symbols, ${sim.accounts().length} accounts. Stop with Ctrl-C.`);
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    const state = sim.state();
    await sim.close();
    return this.jsonEnabled() ? state : undefined;
  }
}

function defaultPort(restUrl: string): number {
  const u = new URL(restUrl);
  return ['127.0.0.1', 'localhost'].includes(u.hostname) && u.port ? Number(u.port) : 9876;
}
