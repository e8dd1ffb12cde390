/** Process-tree helpers from /proc: find every descendant of a pid, and signal a whole tree. */
import fs from 'node:fs';

export function parentOf(pid: number): number | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // comm may contain spaces and parentheses: the fields after the last ")" are fixed.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(rest[1]);
  } catch {
    // The process is gone (or /proc is absent): it has no parent to report.
    return null;
  }
}

/** Every live pid whose ancestry includes `root` (root excluded), children before grandchildren. */
export function descendants(root: number): number[] {
  let pids: number[];
  try {
    pids = fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number);
  } catch {
    // Without /proc (not Linux) the tree cannot be walked; callers fall back to signalling root only.
    return [];
  }
  const children = new Map<number, number[]>();
  for (const pid of pids) {
    const ppid = parentOf(pid);
    if (ppid === null) continue;
    const list = children.get(ppid) ?? [];
    list.push(pid);
    children.set(ppid, list);
  }
  const out: number[] = [];
  const queue = [...(children.get(root) ?? [])];
  while (queue.length) {
    const pid = queue.shift()!;
    out.push(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  return out;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Send `signal` to root and all its descendants (deepest first, so parents cannot respawn them). */
export function signalTree(root: number, signal: NodeJS.Signals): void {
  for (const pid of [...descendants(root).reverse(), root]) {
    try {
      process.kill(pid, signal);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
    }
  }
}
