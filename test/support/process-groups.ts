/**
 * Long-running commands that start children of their own (`horizon` forks its workers) are spawned detached
 * by the tests, so each leads its own process group, and the whole group is killed when the test is done
 * with it. As a safety net, every group still tracked is SIGKILLed when the test process ends — normally, or
 * on the SIGTERM/SIGINT/SIGHUP vitest or a terminal sends it — so a test that timed out or failed half-way
 * never leaves workers running.
 *
 *   const proc = execa('node', [ARTISAN, 'horizon'], { ..., detached: true });
 *   trackGroup(proc.pid!);
 *   ...
 *   const code = await stopGroup(proc);   // SIGTERM the leader, then SIGKILL what is left of its group
 */
import type { ChildProcess } from 'node:child_process';

const tracked = new Set<number>();
let hooked = false;

/** Send `signal` to the group led by `pgid`; false when nothing of it is left. */
export function signalGroup(pgid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
}

/** SIGKILL every group still tracked (the exit hook; also callable from an afterAll). */
export function killTrackedGroups(): void {
  for (const pgid of tracked) {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      // ESRCH: the group is gone already. Nothing else can be done from an exit hook.
    }
  }
  tracked.clear();
}

function onSignal(signal: NodeJS.Signals): void {
  killTrackedGroups();
  // Let the signal do what it would have done without this hook (the default action ends the process).
  process.off(signal, onSignal);
  process.kill(process.pid, signal);
}

/** Remember a detached child's group so that it is killed when this process ends. */
export function trackGroup(pgid: number): void {
  tracked.add(pgid);
  if (hooked) return;
  hooked = true;
  process.once('exit', killTrackedGroups);
  for (const s of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.once(s, onSignal);
}

function signalLeader(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

/** SIGKILL what is left of a group (its leader may have exited already) and stop tracking it. */
export function killGroup(pgid: number): void {
  signalGroup(pgid, 'SIGKILL');
  tracked.delete(pgid);
}

/** The exit code of a child once its 'exit' event fired (-1 when a signal ended it), without waiting for its pipes. */
export function exitCode(child: ChildProcess): Promise<number> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode ?? -1);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code ?? -1)));
}

/**
 * Stop a detached child's group: `signal` to the leader only (it shuts its own children down in order), wait
 * up to `graceMs` for the leader to exit, then SIGKILL the whole group — what a clean stop left behind, or
 * everything when the leader did not exit in time. Resolves with the leader's exit code (-1 when a signal
 * ended it).
 */
export async function stopGroup(child: ChildProcess, opts: { signal?: NodeJS.Signals; graceMs?: number } = {}): Promise<number> {
  const pgid = child.pid;
  if (pgid === undefined) return exitCode(child);
  const exited = exitCode(child);
  // process.kill, not child.kill: execa's kill() would SIGKILL the leader alone after 5 s and orphan its children.
  if (child.exitCode === null && child.signalCode === null) signalLeader(pgid, opts.signal ?? 'SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), opts.graceMs ?? 30_000)));
  const first = await Promise.race([exited, late]);
  clearTimeout(timer);
  killGroup(pgid);
  return first === 'late' ? exited : first;
}
