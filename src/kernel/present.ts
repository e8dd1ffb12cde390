/** Text helpers shared by schedule:run, schedule:list and schedule:test output. */
import type { TaskOutcome } from './runner.js';

export const NOTHING_DUE = 'No scheduled commands are ready to run.';

const pad2 = (n: number) => String(n).padStart(2, '0');

/** "2026-11-27 09:37:00" (UTC) */
export function utcStamp(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19).replace('T', ' ');
}

export function formatDuration(ms: number | null): string {
  if (ms === null) return '';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}

/** "in 3 minutes", "in 45 seconds", "2 hours ago". */
export function relative(target: number, now: number): string {
  const diff = target - now;
  const abs = Math.abs(diff);
  const units: Array<[number, string]> = [
    [86_400_000, 'day'],
    [3_600_000, 'hour'],
    [60_000, 'minute'],
    [1000, 'second'],
  ];
  for (const [size, name] of units) {
    if (abs >= size || size === 1000) {
      const n = Math.max(abs >= size ? Math.floor(abs / size) : 0, 0);
      const text = `${n} ${name}${n === 1 ? '' : 's'}`;
      return diff >= 0 ? `in ${text}` : `${text} ago`;
    }
  }
  return 'now';
}

/** "+01:00" for an offset in ms. */
export function offsetText(offsetMs: number): string {
  const sign = offsetMs < 0 ? '-' : '+';
  const m = Math.abs(Math.round(offsetMs / 60_000));
  return `${sign}${pad2(Math.floor(m / 60))}:${pad2(m % 60)}`;
}

function leader(left: string, right: string, width = 100): string {
  const dots = Math.max(3, width - left.length - right.length - 2);
  return `${left} ${'.'.repeat(dots)} ${right}`;
}

/** One line per outcome for schedule:run (filtered tasks print nothing). */
export function outcomeLine(o: TaskOutcome): string | null {
  const when = utcStamp(Date.parse(o.slot));
  switch (o.status) {
    case 'ok':
      return leader(`  ${when} Running [${o.command}]`, `${formatDuration(o.duration_ms)} DONE`);
    case 'failed':
      return leader(`  ${when} Running [${o.command}]`, `${formatDuration(o.duration_ms)} FAIL (exit ${o.exit_code})`);
    case 'background':
      return leader(`  ${when} Running [${o.command}] in the background`, 'STARTED');
    case 'skipped':
      return `  ${when} Skipping [${o.command}]: ${o.skipped_reason === 'other-server' ? 'already ran on another server' : o.skipped_reason}`;
    case 'filtered':
      return null;
  }
}
