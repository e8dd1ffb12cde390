/**
 * A small process supervisor for `bin/artisan dev` (npm start): runs every program of the box as a child,
 * prefixes and colours their output, restarts a crashed child with backoff, and stops everything cleanly.
 *
 * Each child is started detached, so it leads its own process group: a signal to the group reaches the
 * program and every process it started (horizon's workers, the runner's children), and a Ctrl-C on the
 * terminal reaches only `dev`, which then stops the programs in order. Stopping: SIGTERM to each group,
 * SIGKILL to whatever is left of each group and process tree after the grace period, so no orphan
 * survives. Programs marked `stopLast` (Redis, the simulator) are stopped after all the others.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import readline from 'node:readline';
import { Chalk, type ChalkInstance } from 'chalk';
import type { Clock } from '../../support/clock.js';
import { descendants, isAlive, signalTree } from '../process-tree.js';

export type ColourName = 'red' | 'green' | 'yellow' | 'blue' | 'magenta' | 'cyan' | 'white' | 'gray' | 'redBright' | 'greenBright' | 'yellowBright' | 'blueBright' | 'magentaBright' | 'cyanBright';

export interface ProgramSpec {
  name: string;
  command: string;
  args: string[];
  env?: Record<string, string>;
  cwd?: string;
  /** Restart when it exits (default true). */
  restart?: boolean;
  /** Colour of the prefix (chalk colour name). */
  colour?: ColourName;
  /** Stop in the second phase, after every other program has exited (Redis, the exchange simulator). */
  stopLast?: boolean;
}

export interface ProgramState {
  name: string;
  pid: number | null;
  status: 'starting' | 'running' | 'backoff' | 'stopped' | 'exited';
  restarts: number;
  lastExit: { code: number | null; signal: string | null } | null;
}

export interface ProcessManagerOptions {
  clock: Clock;
  /** Where prefixed output goes (default process.stdout). */
  write?: (line: string) => void;
  /** Colour the prefixes (default: off). */
  colour?: boolean;
  /** Backoff after a crash: min(base × 2^n, max) ms. */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** A child that ran this long resets its backoff. */
  stableAfterMs?: number;
  /** Width of the name column (default: the longest program name, at least 8). */
  labelWidth?: number;
  /** Called after each (re)start of a program, with its new pid. */
  onSpawn?: (name: string, pid: number) => void;
}

interface Slot {
  spec: ProgramSpec;
  child: ChildProcess | null;
  state: ProgramState;
  startedAt: number;
  failures: number;
  timer: AbortController | null;
  exited: Promise<void> | null;
}

function ignoreEsrch(fn: () => void): void {
  try {
    fn();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

/** Signal the process group led by `pid` (a detached child); ESRCH (already gone) is not an error. */
export function signalGroup(pid: number, signal: NodeJS.Signals): void {
  ignoreEsrch(() => process.kill(-pid, signal));
}

/** Whether any process of the group led by `pgid` is still alive. */
export function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class ProcessManager {
  private slots = new Map<string, Slot>();
  private stopping = false;
  private readonly write: (line: string) => void;
  private width = 8;
  private readonly chalk: ChalkInstance;

  constructor(
    private readonly opts: ProcessManagerOptions,
    specs: ProgramSpec[] = [],
  ) {
    this.write = opts.write ?? ((line) => process.stdout.write(line));
    this.chalk = new Chalk({ level: opts.colour ? 1 : 0 });
    this.width = opts.labelWidth ?? 8;
    for (const s of specs) this.add(s);
  }

  add(spec: ProgramSpec): void {
    if (this.slots.has(spec.name)) throw new Error(`program ${spec.name} is already defined`);
    this.slots.set(spec.name, { spec, child: null, state: { name: spec.name, pid: null, status: 'stopped', restarts: 0, lastExit: null }, startedAt: 0, failures: 0, timer: null, exited: null });
    this.width = Math.max(this.width, spec.name.length);
  }

  has(name: string): boolean {
    return this.slots.has(name);
  }

  states(): ProgramState[] {
    return [...this.slots.values()].map((s) => ({ ...s.state }));
  }

  state(name: string): ProgramState | undefined {
    const s = this.slots.get(name);
    return s ? { ...s.state } : undefined;
  }

  startAll(): void {
    for (const slot of this.slots.values()) if (!slot.child) this.spawn(slot);
  }

  /** Start one program (added earlier) that is not running yet. */
  start(name: string): void {
    const slot = this.slots.get(name);
    if (!slot) throw new Error(`unknown program ${name}`);
    if (!slot.child) this.spawn(slot);
  }

  private prefix(name: string, colour?: ColourName): string {
    const label = `${name.padEnd(this.width)} |`;
    return `${colour ? this.chalk[colour](label) : label} `;
  }

  /** Print a line from the manager itself. */
  say(line: string): void {
    this.write(`${this.prefix('dev', 'gray')}${line}\n`);
  }

  private spawn(slot: Slot): void {
    if (this.stopping) return;
    const { spec } = slot;
    slot.state.status = 'starting';
    const child = spawn(spec.command, spec.args, { cwd: spec.cwd, env: { ...process.env, ...spec.env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    slot.child = child;
    slot.startedAt = this.opts.clock.now();
    slot.state.pid = child.pid ?? null;
    slot.state.status = 'running';
    const pre = this.prefix(spec.name, spec.colour);
    for (const stream of [child.stdout, child.stderr]) {
      if (!stream) continue;
      readline.createInterface({ input: stream }).on('line', (line) => this.write(`${pre}${line}\n`));
    }
    const pid = child.pid;
    if (pid) this.opts.onSpawn?.(spec.name, pid);
    slot.exited = new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => {
        slot.child = null;
        slot.state.pid = null;
        slot.state.lastExit = { code, signal };
        // The leader is gone; whatever it started must not outlive it (nor run twice after the restart).
        if (pid) signalGroup(pid, 'SIGKILL');
        if (this.stopping || spec.restart === false) {
          slot.state.status = this.stopping ? 'stopped' : 'exited';
          resolve();
          return;
        }
        const ranFor = this.opts.clock.now() - slot.startedAt;
        slot.failures = ranFor >= (this.opts.stableAfterMs ?? 30_000) ? 1 : slot.failures + 1;
        const delay = Math.min((this.opts.backoffBaseMs ?? 1000) * 2 ** (slot.failures - 1), this.opts.backoffMaxMs ?? 30_000);
        slot.state.status = 'backoff';
        slot.state.restarts++;
        this.say(`${spec.name} exited (${signal ?? `code ${code}`}); restarting in ${Math.round(delay / 100) / 10}s`);
        slot.timer = new AbortController();
        this.opts.clock.sleep(delay, slot.timer.signal).then(
          () => this.spawn(slot),
          (err: Error) => {
            // An AbortError means stop() cancelled the restart, which is the point; anything else is a bug.
            if (err.name !== 'AbortError') this.say(`${spec.name}: restart timer failed: ${err.message}`);
          },
        );
        resolve();
      });
    });
    child.once('error', (err) => this.say(`${spec.name} could not start: ${err.message}`));
  }

  /**
   * Stop every program: SIGTERM (or `signal`) to each process group now, SIGKILL to each remaining group
   * and process tree after `graceMs`. Programs marked stopLast are stopped the same way once the others
   * have exited. Resolves when every child has exited.
   */
  async stop(graceMs = 15_000, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    this.stopping = true;
    const slots = [...this.slots.values()];
    for (const slot of slots) slot.timer?.abort();
    await this.stopSlots(slots.filter((s) => !s.spec.stopLast), graceMs, signal);
    await this.stopSlots(slots.filter((s) => s.spec.stopLast), graceMs, signal);
  }

  private async stopSlots(slots: Slot[], graceMs: number, signal: NodeJS.Signals): Promise<void> {
    const running: Slot[] = [];
    for (const slot of slots) {
      if (slot.child?.pid) {
        running.push(slot);
        signalGroup(slot.child.pid, signal);
      } else {
        slot.state.status = 'stopped';
      }
    }
    // Remember each tree now: once a child exits, its own children are re-parented and hard to find.
    const trees = new Map(running.map((s) => [s, { pgid: s.child!.pid!, pids: [s.child!.pid!, ...descendants(s.child!.pid!)] }]));
    const all = Promise.all(running.map((s) => s.exited));
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([all.then(() => false), new Promise<boolean>((r) => (timer = setTimeout(() => r(true), graceMs)))]);
    clearTimeout(timer);
    for (const [slot, tree] of trees) {
      if (timedOut && slot.child?.pid) {
        this.say(`${slot.spec.name} did not stop within ${graceMs} ms: SIGKILL`);
        signalTree(slot.child.pid, 'SIGKILL');
      }
      signalGroup(tree.pgid, 'SIGKILL');
      for (const pid of tree.pids) if (isAlive(pid)) ignoreEsrch(() => process.kill(pid, 'SIGKILL'));
    }
    await all;
  }

  /** The second Ctrl-C: SIGKILL every group and tree now, without waiting. */
  killAllNow(): void {
    this.stopping = true;
    for (const slot of this.slots.values()) {
      slot.timer?.abort();
      const pid = slot.child?.pid;
      if (!pid) continue;
      signalTree(pid, 'SIGKILL');
      signalGroup(pid, 'SIGKILL');
    }
  }
}
