/**
 * Live demo data for the dev box: every `orderEveryMs` one order lifecycle on the simulator for the next
 * demo account (POST /_sim/lifecycle: NEW, fills or a cancel, with TRADE_LITE and ACCOUNT_UPDATE, which
 * flow through the user-data stream into horizon and api_data_stream), and every `stepsEveryMs` one
 * block of demo steps on the `default` queue (dispatched by the dispatch daemon, run by horizon).
 * Runs on the injected clock; `tick()` does one round and reports failures instead of throwing (the
 * simulator may be restarting), `run()` loops until the signal aborts.
 */
import type { Steps } from '../../steps/api.js';
import type { Clock } from '../../support/clock.js';
import { errorMessage } from '../../support/errors.js';
import { createDemoSteps } from '../../db/seed/demo-steps.js';
import { DEMO_SYMBOLS } from '../../db/seed/demo-data.js';

export interface ActivityOptions {
  clock: Clock;
  simUrl: string;
  /** API keys of the accounts to trade on (the simulator addresses accounts by key). */
  accounts: string[];
  steps: Steps;
  orderEveryMs: number;
  stepsEveryMs: number;
  say: (line: string) => void;
}

const OUTCOMES = ['fill', 'fill', 'partial-fill', 'cancel', 'partial-cancel', 'expire'] as const;

export class DemoActivity {
  private n = 0;
  private lastSteps = 0;
  private failing = { orders: false, steps: false };
  readonly counters = { lifecycles: 0, stepBlocks: 0, errors: 0 };

  constructor(private readonly o: ActivityOptions) {}

  /** One order lifecycle, and a block of steps when it is due. */
  async tick(): Promise<void> {
    const i = this.n++;
    if (this.o.accounts.length) {
      const account = this.o.accounts[i % this.o.accounts.length]!;
      const sym = DEMO_SYMBOLS[i % DEMO_SYMBOLS.length]!;
      const qty = sym.quantityPrecision >= 3 ? '0.010' : sym.quantityPrecision >= 1 ? '1.0' : '10';
      const body = { account, symbol: sym.symbol, side: i % 2 ? 'SELL' : 'BUY', qty, outcome: OUTCOMES[i % OUTCOMES.length], stepMs: 250 };
      try {
        const res = await fetch(`${this.o.simUrl}/_sim/lifecycle`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(10_000) });
        if (!res.ok) throw new Error(`HTTP ${res.status}: ${(await res.text()).slice(0, 200)}`);
        this.counters.lifecycles++;
        if (this.failing.orders) this.o.say('demo orders: the simulator answers again');
        this.failing.orders = false;
      } catch (err) {
        this.counters.errors++;
        if (!this.failing.orders) this.o.say(`demo orders: lifecycle call failed (${errorMessage(err)}); retrying on the next tick`);
        this.failing.orders = true;
      }
    }
    const now = this.o.clock.now();
    if (now - this.lastSteps >= this.o.stepsEveryMs) {
      this.lastSteps = now;
      try {
        await createDemoSteps(this.o.steps, 1, 1000 + this.counters.stepBlocks);
        this.counters.stepBlocks++;
        if (this.failing.steps) this.o.say('demo steps: created again');
        this.failing.steps = false;
      } catch (err) {
        this.counters.errors++;
        if (!this.failing.steps) this.o.say(`demo steps: could not create a block (${errorMessage(err)})`);
        this.failing.steps = true;
      }
    }
  }

  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      await this.tick();
      try {
        await this.o.clock.sleep(this.o.orderEveryMs, signal);
      } catch (err) {
        if ((err as Error).name === 'AbortError') return;
        throw err;
      }
    }
  }
}
