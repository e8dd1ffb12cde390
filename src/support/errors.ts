/**
 * An error meant for the person at the terminal: its message is printed as is, without a stack trace,
 * and the command exits with `exitCode` (1 unless said otherwise).
 */
export class UserError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode = 1) {
    super(message);
    this.name = 'UserError';
    this.exitCode = exitCode;
  }
}

/** A configuration value is missing or malformed. Lists every problem found, one per line. */
export class ConfigError extends UserError {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`, 1);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/** Redis could not be reached within the CLI's fail-fast budget. */
export class RedisUnreachableError extends UserError {
  constructor(url: string, cause?: string) {
    super(`Redis is not reachable at ${url}${cause ? ` (${cause})` : ''}`, 1);
    this.name = 'RedisUnreachableError';
  }
}

/** A secret stored in the database could not be decrypted with the current APP_KEY. */
export class SecretDecryptError extends UserError {
  constructor(where: string) {
    super(`Cannot decrypt ${where}: the value was encrypted with a different APP_KEY or is corrupted`, 1);
    this.name = 'SecretDecryptError';
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** How a UserError looks on stderr: a red " ERROR " badge on a TTY, "ERROR  " otherwise (or with NO_COLOR). */
export function renderUserError(message: string): string {
  if (!process.stderr.isTTY || process.env.NO_COLOR) return `ERROR  ${message}`;
  return `\u001b[41;97m ERROR \u001b[0m ${message}`;
}
