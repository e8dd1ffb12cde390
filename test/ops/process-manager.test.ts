import { describe, expect, it } from 'vitest';
import { ProcessManager } from '../../src/ops/dev/process-manager.js';
import { isAlive } from '../../src/ops/process-tree.js';
import { systemClock } from '../../src/support/clock.js';

const node = process.execPath;
const until = async (cond: () => boolean, timeoutMs = 15_000) => {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > timeoutMs) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 25));
  }
};

describe('dev process manager', () => {
  it('prefixes output, restarts a crashed child, and stops every tree with no orphan', async () => {
    const lines: string[] = [];
    const pm = new ProcessManager({ clock: systemClock, write: (l) => lines.push(l), backoffBaseMs: 50, backoffMaxMs: 200 }, [
      { name: 'steady', command: node, args: ['-e', "console.log('steady up'); process.on('SIGTERM', () => { console.log('steady bye'); process.exit(0) }); setInterval(() => {}, 1000)"] },
      { name: 'crashy', command: node, args: ['-e', "console.log('crashy up'); setTimeout(() => process.exit(3), 100)"] },
      {
        name: 'stubborn',
        command: node,
        // ignores SIGTERM and has a grandchild that also ignores it: only the SIGKILL of the tree ends them
        args: ['-e', "process.on('SIGTERM', () => {}); const c = require('child_process').spawn(process.execPath, ['-e', \"process.on('SIGTERM', () => {}); setInterval(() => {}, 1000)\"], { stdio: 'ignore' }); console.log('grandchild ' + c.pid); setInterval(() => {}, 1000)"],
      },
    ]);
    pm.startAll();
    await until(() => lines.some((l) => l.startsWith('steady   | steady up')));
    await until(() => (pm.states().find((s) => s.name === 'crashy')?.restarts ?? 0) >= 2);
    await until(() => lines.some((l) => /grandchild \d+/.test(l)));
    const grandchild = Number(/grandchild (\d+)/.exec(lines.find((l) => /grandchild \d+/.test(l))!)![1]);
    const pids = pm.states().map((s) => s.pid).filter((p): p is number => !!p);
    await pm.stop(500);
    expect(lines.some((l) => l.startsWith('steady   | steady bye'))).toBe(true);
    expect(lines.some((l) => /stubborn did not stop within 500 ms: SIGKILL/.test(l))).toBe(true);
    for (const pid of [...pids, grandchild]) await until(() => !isAlive(pid), 5000);
    expect(pm.states().every((s) => s.pid === null)).toBe(true);
  });
});
