/**
 * Run a CLI command of this box from a web request (execa with an argument array, never a shell), for the
 * few reads and actions the admin UI delegates to the owning part's command: schedule:list --json (the
 * schedule definition lives in the kernel's module), queue:retry / queue:forget and horizon:pause / continue
 * (the horizon part). Step and schedule actions run the owners' code in-process instead.
 */
import path from 'node:path';
import { projectRoot } from '../support/paths.js';
import type { WebServices } from './services.js';

export interface CliResult {
  exitCode: number | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

export async function runCli(s: WebServices, args: string[], timeoutMs = 30_000): Promise<CliResult> {
  const { execa } = await import('execa');
  const env: Record<string, string> = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' };
  for (const [k, v] of Object.entries(s.config.env)) if (v !== undefined) env[k] = v;
  env.NO_COLOR = '1';
  const r = await execa(process.execPath, [path.join(projectRoot, 'bin', 'artisan'), ...args], { cwd: projectRoot, env, extendEnv: false, reject: false, timeout: timeoutMs, stdin: 'ignore' });
  return { exitCode: typeof r.exitCode === 'number' ? r.exitCode : null, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? ''), timedOut: !!r.timedOut };
}
