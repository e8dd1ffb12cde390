import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../src/support/clock.js';
import { createLogger, MemorySink } from '../../src/support/log.js';
import { ScheduleWorker } from '../../src/kernel/work.js';
import { deferred } from '../support/kernel.js';

describe('schedule:work', () => {
  it('starts a run at each minute boundary, overlapping runs allowed, and close() waits for the ones in flight', async () => {
    const clock = new FakeClock('2026-11-27T10:37:20Z');
    const started: string[] = [];
    const finish = [deferred<number>(), deferred<number>(), deferred<number>()];
    const worker = new ScheduleWorker(
      clock,
      () => {
        started.push(new Date(clock.now()).toISOString());
        return finish[started.length - 1]!.promise;
      },
      createLogger('t', {}, new MemorySink()),
    );
    let stopped = false;
    const running = worker.run().then(() => (stopped = true));
    await clock.advance(39_999);
    expect(started).toEqual([]);
    await clock.advance(1);
    expect(started).toEqual(['2026-11-27T10:38:00.000Z']);
    await clock.advance(60_000); // the first run is still going (a sub-minute loop): the next one starts anyway
    expect(started).toEqual(['2026-11-27T10:38:00.000Z', '2026-11-27T10:39:00.000Z']);
    finish[0]!.resolve(0);
    worker.close();
    await clock.advance(120_000);
    expect(started).toHaveLength(2); // closed: no new runs
    expect(stopped).toBe(false); // but the second run is still in flight
    finish[1]!.resolve(1);
    await running;
    expect(stopped).toBe(true);
  });

  it('starts at most one run per minute even if ticked twice', () => {
    const clock = new FakeClock('2026-11-27T10:38:00Z');
    let n = 0;
    const worker = new ScheduleWorker(clock, async () => ++n, createLogger('t', {}, new MemorySink()));
    worker.tick();
    worker.tick();
    expect(n).toBe(1);
  });
});
