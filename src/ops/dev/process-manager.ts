/**
 * A small process supervisor for `bin/artisan dev` (npm start): runs every program of the box as a child,
 * prefixes and colours their output, restarts a crashed child with backoff, and stops everything cleanly:
 * SIGTERM to each child, then SIGKILL to whatever is left of each process tree after the grace period,
 * so no orphan survives.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import readline from 'node:readline';
import type { Clock } from '../../support/clock.js';
import { descendants, isAlive, signalTree } from '../process-tree.js';

export interface ProgramSpec {
  name: string;
  command: string;
  args: string[];
  env?: Record<string, string>;
  cwd?: string;
  /** Restart when it exits (default true). */
  restart?: boolean;
  /** ANSI colour code for the prefix (31-37, 90-96). */
  colour?: number;
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
  colour?: boolean;
  /** Backoff after a crash: min(base × 2^n, max) ms. */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** A child that ran this long resets its backoff. */
  stableAfterMs?: number;
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

export class ProcessManager {
  private slots = new Map<string, Slot>();
  private stopping = false;
  private readonly write: (line: string) => void;
  private readonly width: number = 0;

  constructor(private readonly opts: ProcessManagerOptions, specs: ProgramSpec[] = []) {
    this.write = opts.write ?? ((line) => process.stdout.write(line));
    for (const s of specs) this.add(s);
    this.width = Math.max(8, ...specs.map((s) => s.name.length));
  }

  add(spec: ProgramSpec): void {
    if (this.slots.has(spec.name)) throw new Error(`program ${spec.name} is already defined`);
    this.slots.set(spec.name, { spec, child: null, state: { name: spec.name, pid: null, status: 'stopped', restarts: 0, lastExit: null }, startedAt: 0, failures: 0, timer: null, exited: null });
  }

  states(): ProgramState[] {
    return [...this.slots.values()].map((s) => ({ ...s.state }));
  }

  startAll(): void {
    for (const slot of this.slots.values()) this.spawn(slot);
  }

  private prefix(name: string, colour?: number): string {
    const label = name.padEnd(this.width);
    return this.opts.colour && colour ? `\u001b[${colour}m${label} |\u001b[0m ` : `${label} | `;
  }

  /** Print a line from the manager itself. */
  say(line: string): void {
    this.write(`${this.prefix('dev', 90)}${line}\n`);
  }

  private spawn(slot: Slot): void {
    if (this.stopping) return;
    const { spec } = slot;
    slot.state.status = 'starting';
    const child = spawn(spec.command, spec.args, { cwd: spec.cwd, env: { ...process.env, ...spec.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    slot.child = child;
    slot.startedAt = this.opts.clock.now();
    slot.state.pid = child.pid ?? null;
    slot.state.status = 'running';
    const pre = this.prefix(spec.name, spec.colour);
    for (const stream of [child.stdout, child.stderr]) {
      if (!stream) continue;
      readline.createInterface({ input: stream }).on('line', (line) => this.write(`${pre}${line}\n`));
    }
    slot.exited = new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => {
        slot.child = null;
        slot.state.pid = null;
        slot.state.lastExit = { code, signal };
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
   * Stop every program: SIGTERM now, SIGKILL to each remaining process tree after `graceMs`.
   * Resolves when every child has exited.
   */
  async stop(graceMs = 15_000, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    this.stopping = true;
    const running: Slot[] = [];
    for (const slot of this.slots.values()) {
      slot.timer?.abort();
      if (slot.child?.pid) {
        running.push(slot);
        try {
          slot.child.kill(signal);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
        }
      } else {
        slot.state.status = 'stopped';
      }
    }
    // Remember each tree now: once a child exits, its own children are re-parented and hard to find.
    const trees = new Map(running.map((s) => [s, [s.child!.pid!, ...descendants(s.child!.pid!)]]));
    const all = Promise.all(running.map((s) => s.exited));
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([all.then(() => false), new Promise<boolean>((r) => (timer = setTimeout(() => r(true), graceMs)))]);
    clearTimeout(timer);
    for (const [slot, pids] of trees) {
      if (timedOut && slot.child?.pid) {
        this.say(`${slot.spec.name} did not stop within ${graceMs} ms: SIGKILL`);
        signalTree(slot.child.pid, 'SIGKILL');
      }
      for (const pid of pids) {
        if (isAlive(pid)) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
          }
        }
      }
    }
    await all;
  }
}
