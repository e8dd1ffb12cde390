/**
 * The fast entry of `schedule:run` (bin/artisan → src/launcher/fast-entries.ts): the crontab form
 * `schedule:run [--whisper] [--at=<ISO>]` without booting oclif. Any other form (--json, --help, a typo,
 * a bad --at) returns null and oclif runs the command, whose run() calls the same scheduleRun().
 */
import { getConfig, type AppConfig } from '../config/index.js';
import { renderUserError, UserError } from '../support/errors.js';
import { parseAt } from './clocks.js';
import { scheduleRun } from './run-command.js';

/** The options of an argument list this entry handles, or null. */
export function parseFastArgs(argv: string[]): { whisper: boolean; at?: number } | null {
  let whisper = false;
  let at: number | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--whisper') whisper = true;
    else if (a.startsWith('--at=') || (a === '--at' && i + 1 < argv.length)) {
      const v = parseAt(a === '--at' ? argv[++i]! : a.slice(5));
      if (v === null) return null;
      at = v;
    } else return null;
  }
  return { whisper, at };
}

export async function fastScheduleRun(argv: string[]): Promise<number | null> {
  const args = parseFastArgs(argv);
  if (!args) return null;
  let config: AppConfig;
  try {
    config = getConfig();
  } catch {
    return null; // oclif reports the configuration problem with the usual wording and exit code
  }
  try {
    return (await scheduleRun({ ...args, config })).exitCode;
  } catch (err) {
    if (!(err instanceof UserError)) throw err;
    process.stderr.write(`${renderUserError(err.message)}\n`);
    return err.exitCode;
  }
}
