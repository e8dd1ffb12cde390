/**
 * Time as a dependency. The kernel and every daemon take a Clock, so tests move fake time instead of sleeping.
 */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Resolve after `ms` of this clock's time; rejects with an AbortError when `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

function abortError(): Error {
  const e = new Error('The operation was aborted');
  e.name = 'AbortError';
  return e;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(abortError());
      const timer = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, Math.max(0, ms));
      const onAbort = () => {
        clearTimeout(timer);
        reject(abortError());
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  },
};

interface Sleeper {
  at: number;
  seq: number;
  resolve: () => void;
  reject: (e: Error) => void;
}

/**
 * A clock that only moves when told to. `sleep()` waits until `advance()` carries the time past its deadline;
 * sleepers wake in deadline order, and each wake-up lets pending promise callbacks run before the next one.
 */
export class FakeClock implements Clock {
  private t: number;
  private seq = 0;
  private sleepers: Sleeper[] = [];

  constructor(start: number | Date | string = Date.UTC(2026, 0, 1)) {
    this.t = typeof start === 'number' ? start : new Date(start).getTime();
  }

  now(): number {
    return this.t;
  }

  set(time: number | Date | string): void {
    this.t = typeof time === 'number' ? time : new Date(time).getTime();
  }

  /** Number of sleepers currently waiting. */
  get pending(): number {
    return this.sleepers.length;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(abortError());
      const onAbort = () => {
        this.sleepers = this.sleepers.filter((s) => s !== sleeper);
        reject(abortError());
      };
      // Remove the abort listener on wake-up, so loops that sleep on one long-lived signal do not pile them up.
      const sleeper: Sleeper = { at: this.t + Math.max(0, ms), seq: this.seq++, resolve: () => (signal?.removeEventListener('abort', onAbort), resolve()), reject };
      this.sleepers.push(sleeper);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Move time forward by `ms`, waking every sleeper whose deadline is reached, in order. */
  async advance(ms: number): Promise<void> {
    const target = this.t + ms;
    for (;;) {
      await flushMicrotasks();
      const next = this.sleepers
        .filter((s) => s.at <= target)
        .sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (!next) break;
      this.sleepers = this.sleepers.filter((s) => s !== next);
      this.t = Math.max(this.t, next.at);
      next.resolve();
    }
    this.t = target;
    await flushMicrotasks();
  }

  /** Advance to the next sleeper's deadline (or not at all if nobody sleeps). */
  async runNext(): Promise<void> {
    await flushMicrotasks();
    const next = [...this.sleepers].sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
    if (next) await this.advance(next.at - this.t);
  }
}

async function flushMicrotasks(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
  await new Promise<void>((r) => setImmediate(r));
}
