/**
 * Retry and cancel a step from the admin UI. When the dispatcher's own commands exist (`steps:retry ID`,
 * `steps:cancel ID`, issue 4), they are run as child processes (execa, argument array) so the web follows
 * the dispatcher's exact semantics; until then the minimal conditional UPDATEs of
 * src/db/repositories/step-actions.ts are used.
 */
import path from 'node:path';
import { cancelStep, retryStep } from '../db/repositories/step-actions.js';
import { projectRoot } from '../support/paths.js';
import type { WebServices } from './services.js';

export type StepAction = 'retry' | 'cancel';

export interface StepActionOutcome {
  ok: boolean;
  message: string;
  via: 'cli' | 'sql';
  previousError?: string | null;
}

export async function performStepAction(s: WebServices, action: StepAction, setPrefix: string, id: number): Promise<StepActionOutcome> {
  const commandId = `steps:${action}`;
  const cmd = s.manifest()?.commands[commandId];
  if (cmd) {
    const { execa } = await import('execa');
    const args = [path.join(projectRoot, 'bin', 'artisan'), commandId, String(id)];
    if (setPrefix && cmd.flags.prefix) args.push(`--prefix=${setPrefix.replace(/_$/, '')}`);
    const env: Record<string, string> = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' };
    for (const [k, v] of Object.entries(s.config.env)) if (v !== undefined) env[k] = v;
    env.NO_COLOR = '1';
    const r = await execa(process.execPath, args, { cwd: projectRoot, env, extendEnv: false, reject: false, timeout: 30_000, stdin: 'ignore' });
    const out = `${String(r.stdout ?? '')}\n${String(r.stderr ?? '')}`.trim().slice(0, 500);
    return { ok: r.exitCode === 0, message: out || (r.exitCode === 0 ? `Step ${id}: ${action} done.` : `${commandId} exited ${r.exitCode}`), via: 'cli' };
  }
  const now = new Date(s.clock.now());
  const res = action === 'retry' ? await retryStep(s.db, setPrefix, id, now) : await cancelStep(s.db, setPrefix, id, now);
  if (!res.ok) return { ok: false, message: res.message, via: 'sql' };
  return { ok: true, message: `Step ${id}: ${res.from} → ${res.to}.`, via: 'sql', previousError: res.previousError };
}
