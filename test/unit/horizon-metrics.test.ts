/**
 * The metrics summary of a busy minute: 200,000 samples over 5 shard queues and two job names. The summary
 * runs in the horizon master's event loop, so it must stay linear (a copy of the list per sample once made a
 * 100,000-sample minute block the master for 80 s). The timeout is the check: generous, far below quadratic.
 */
import { describe, expect, it } from 'vitest';
import { summarize } from '../../src/horizon/metrics.js';

describe('horizon metrics summary', () => {
  it('summarises 200,000 samples per queue and job name', () => {
    const raw: string[] = [];
    for (let i = 0; i < 200_000; i++) raw.push(`user-data-stream-${i % 5}|${i % 7 === 0 ? 'Other' : 'ProcessUserDataEvent'}|${i % 100}|${i % 50}|${i % 1000 === 0 ? 0 : 1}`);
    const snap = summarize(raw, 0, 60_000);
    expect(Object.keys(snap.queues).sort()).toEqual(['user-data-stream-0', 'user-data-stream-1', 'user-data-stream-2', 'user-data-stream-3', 'user-data-stream-4']);
    const q0 = snap.queues['user-data-stream-0']!;
    expect(q0.jobs).toBe(40_000);
    expect(q0.failed).toBe(200); // i % 1000 === 0 lands on shard 0 only
    expect(q0.throughput_per_min).toBe(40_000);
    expect(q0.job_names.ProcessUserDataEvent!.jobs + q0.job_names.Other!.jobs).toBe(40_000);
    expect(q0.runtime_p95_ms).toBe(90); // shard 0 holds i % 5 === 0: runtimes 0, 5, … 95
  }, 20_000);
});
