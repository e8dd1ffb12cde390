/**
 * Hot entry points that bypass oclif. Crontab runs some commands every minute; for those, booting the
 * framework would cost more than the work. Each entry receives the arguments after the command name and
 * returns an exit code, or null when it cannot handle these arguments (oclif then runs the command,
 * with full parsing and help). The oclif command of the same name must call the same service, so both
 * paths behave the same.
 */
export type FastEntry = (argv: string[]) => Promise<number | null>;

export const fastEntries: Record<string, () => Promise<FastEntry>> = {
  // crontab, every minute: see src/kernel/fast-run.ts and bench/scheduler-startup.mjs
  'schedule:run': async () => (await import('../kernel/fast-run.js')).fastScheduleRun,
};
