/**
 * Program states from `supervisorctl status`. SUPERVISORCTL_CONF points supervisorctl at a specific
 * supervisord config (tests run a private supervisord); without supervisorctl the units map is empty.
 */
import { execa } from 'execa';

export function parseSupervisorStatus(text: string): Record<string, string> {
  const units: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^(\S+)\s+([A-Z]+)\b/.exec(line.trim());
    if (m && m[1] && m[2]) units[m[1]] = m[2];
  }
  return units;
}

export interface SupervisorctlOptions {
  conf?: string | null;
  timeoutMs?: number;
}

/** Returns the states, or null when supervisorctl is absent or supervisord does not answer. */
export async function supervisorUnits(opts: SupervisorctlOptions = {}): Promise<Record<string, string> | null> {
  const args = [...(opts.conf ? ['-c', opts.conf] : []), 'status'];
  const r = await execa('supervisorctl', args, { reject: false, timeout: opts.timeoutMs ?? 5000 });
  if (r.failed && (r.code === 'ENOENT' || r.timedOut)) return null;
  // supervisorctl exits 3 when some program is not RUNNING; the output is still the status table.
  const units = parseSupervisorStatus(String(r.stdout ?? ''));
  if (Object.keys(units).length === 0 && /refused|no such file|not running/i.test(`${r.stdout}${r.stderr}`)) return null;
  return units;
}

/** Run a supervisorctl action (restart, stop, start) on one program. */
export async function supervisorctl(action: 'restart' | 'stop' | 'start', program: string, opts: SupervisorctlOptions = {}): Promise<{ ok: boolean; output: string }> {
  const args = [...(opts.conf ? ['-c', opts.conf] : []), action, program];
  const r = await execa('supervisorctl', args, { reject: false, timeout: opts.timeoutMs ?? 60_000 });
  const output = `${r.stdout ?? ''}${r.stderr ? `\n${r.stderr}` : ''}`.trim();
  return { ok: r.exitCode === 0 && !/ERROR/.test(output), output };
}
