/**
 * The registry of tasks, in definition order: the factory methods (`command`, `job`, `call`, `exec`),
 * groups that share attributes, and registration gates (tasks that exist only while a condition holds,
 * such as "the box is not cooling down", evaluated lazily and at most once per process).
 */
import { ScheduleDefinitionError, splitArgs, Task, type CallFn } from './task.js';

/** A condition under which a block of tasks is registered at all; `isOpen` runs at most once per process. */
export interface RegistrationGate {
  name: string;
  isOpen(): Promise<boolean>;
}

/** The default lease of an overlap lock: renewed every third of it while the task runs. */
export const DEFAULT_LOCK_LEASE_MS = 30_000;

export class Schedule {
  private readonly defined: Task[] = [];
  private readonly appliers: Array<(t: Task) => unknown> = [];
  private readonly gateStack: RegistrationGate[] = [];
  private readonly gates = new Map<string, RegistrationGate>();
  private readonly gateResults = new Map<string, Promise<boolean>>();
  /** Lease of the overlap locks (ms). Production keeps the default; tests shorten it. */
  lockLeaseMs = DEFAULT_LOCK_LEASE_MS;

  /** Every defined task, gated or not, in definition order. */
  get tasks(): readonly Task[] {
    return this.defined;
  }

  /** An artisan command: `command('steps:purge --days=5')` or `command('steps:purge', ['--days=5'])`. */
  command(line: string, args: string[] = []): Task {
    const [target, ...rest] = splitArgs(line);
    if (!target) throw new ScheduleDefinitionError('command() needs a command name');
    return this.add(new Task({ kind: 'command', target, args: [...rest, ...args] }));
  }

  /** A program run with execa (no shell): `exec('/usr/bin/backup', ['--db'])`. */
  exec(program: string, args: string[] = []): Task {
    return this.add(new Task({ kind: 'exec', target: program, args }));
  }

  /** Enqueue a BullMQ job named `name` with `data` on `queue` (default "default"). */
  job(name: string, data: unknown = {}, opts: { queue?: string } = {}): Task {
    return this.add(new Task({ kind: 'job', target: name, data, queue: opts.queue }));
  }

  /** A named function; the name is its stable id. */
  call(name: string, fn: CallFn): Task {
    if (typeof fn !== 'function') throw new ScheduleDefinitionError(`call("${name}") needs a function`);
    return this.add(new Task({ kind: 'call', target: name, fn }));
  }

  /** Apply shared attributes to every task defined inside `define` (the task's own calls come after). */
  group(apply: (t: Task) => unknown, define: () => void): void {
    this.appliers.push(apply);
    try {
      define();
    } finally {
      this.appliers.pop();
    }
  }

  /** Register the tasks of `define` only while `gate` is open. The gate is asked lazily, once. */
  registeredWhen(gate: RegistrationGate, define: () => void): void {
    this.gates.set(gate.name, gate);
    this.gateStack.push(gate);
    try {
      define();
    } finally {
      this.gateStack.pop();
    }
  }

  useLockLease(ms: number): this {
    if (!Number.isFinite(ms) || ms < 100) throw new ScheduleDefinitionError(`The lock lease must be at least 100 ms, got ${ms}`);
    this.lockLeaseMs = ms;
    return this;
  }

  private add(task: Task): Task {
    for (const apply of this.appliers) apply(task);
    const gate = this.gateStack[this.gateStack.length - 1];
    if (gate) task.gate = gate.name;
    this.defined.push(task);
    return task;
  }

  /** Refuse the schedule when two tasks share an id, or a task is inconsistent. */
  validate(): this {
    const seen = new Map<string, number>();
    for (const t of this.defined) {
      t.check();
      seen.set(t.id, (seen.get(t.id) ?? 0) + 1);
    }
    const dupes = [...seen].filter(([, n]) => n > 1).map(([id]) => id);
    if (dupes.length) {
      throw new ScheduleDefinitionError(`Two or more tasks share the id ${dupes.map((d) => `"${d}"`).join(', ')}. Give each one a distinct ->name(...) so locks and run records stay apart.`);
    }
    return this;
  }

  find(id: string): Task | undefined {
    return this.defined.find((t) => t.id === id);
  }

  /** Is the task registered now (its gate, if any, is open)? */
  async isRegistered(task: Task): Promise<boolean> {
    if (!task.gate) return true;
    let result = this.gateResults.get(task.gate);
    if (!result) {
      result = this.gates.get(task.gate)!.isOpen();
      this.gateResults.set(task.gate, result);
    }
    return result;
  }

  /** The tasks registered now, evaluating every gate (for schedule:list and schedule:test). */
  async registered(): Promise<Task[]> {
    const out: Task[] = [];
    for (const t of this.defined) if (await this.isRegistered(t)) out.push(t);
    return out;
  }
}
