/**
 * schedule:work: a foreground loop for local use and `npm start` that starts `schedule:run` at each minute
 * boundary, the way crontab does in production. Runs may overlap (a run with sub-minute tasks lasts until
 * the minute ends), so each one is tracked and close() waits for the ones in flight.
 */
import type { Clock } from '../support/clock.js';
import type { Logger } from '../support/log.js';

/** Starts one `schedule:run` and resolves with its exit code when it ends. */
export type RunStarter = () => Promise<number>;

export class ScheduleWorker {
  private readonly ac = new AbortController();
  private readonly inFlight = new Set<Promise<number>>();
  private lastMinute: number | null = null;
  started = 0;

  constructor(
    private readonly clock: Clock,
    private readonly start: RunStarter,
    private readonly log: Logger,
  ) {}

  get stopping(): boolean {
    return this.ac.signal.aborted;
  }

  /** One iteration: start a run if this minute has none yet. */
  tick(): void {
    const minute = Math.floor(this.clock.now() / 60_000) * 60_000;
    if (minute === this.lastMinute) return;
    this.lastMinute = minute;
    this.started++;
    const run = this.start().catch((err: unknown) => {
      this.log.error('could not start schedule:run', { err });
      return 1;
    });
    this.inFlight.add(run);
    void run.finally(() => this.inFlight.delete(run));
  }

  /** Until close(): sleep to the next minute boundary, tick. */
  async run(): Promise<void> {
    while (!this.stopping) {
      const now = this.clock.now();
      try {
        await this.clock.sleep(Math.floor(now / 60_000) * 60_000 + 60_000 - now, this.ac.signal);
      } catch {
        break; // close() aborted the sleep
      }
      this.tick();
    }
    await Promise.all([...this.inFlight]);
  }

  /** Stop starting runs; the runs in flight finish on their own (run() resolves when they have). */
  close(): void {
    this.ac.abort();
  }
}
