/** Run bin/artisan as a child process, the way crontab, supervisor and operators do. */
import { execa, type Options } from 'execa';
import { ARTISAN, ROOT } from './context.js';

export interface ArtisanResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  durationMs: number;
}

/** A clean environment: the parent's PATH and HOME plus `env`; no NODE_EXTRA_CA_CERTS, no developer .env. */
export function childEnv(env: Record<string, string>): Record<string, string> {
  const base: Record<string, string> = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', NO_COLOR: '1' };
  return { ...base, ...env };
}

export async function artisan(args: string[], env: Record<string, string>, opts: Options = {}): Promise<ArtisanResult> {
  const start = Date.now();
  const r = await execa('node', [ARTISAN, ...args], { cwd: ROOT, env: childEnv(env), extendEnv: false, reject: false, timeout: 60_000, ...opts });
  return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? ''), durationMs: Date.now() - start };
}
