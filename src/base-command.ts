/**
 * The base of every Athena command: `--json` support, a lazily built Runtime (config, DB, Redis, logger)
 * that is always closed, and one error policy:
 *  - UserError (bad input, bad config, unreachable Redis…) → its message on stderr, its exit code (1);
 *  - oclif parse errors (bad or missing flags) → oclif's message, exit 2;
 *  - anything else → message and stack on stderr, exit 1.
 * With --json, errors are printed as one JSON document on stdout instead: {"error": {"name", "message"}}.
 */
import { Command, Errors, type Interfaces } from '@oclif/core';
import { Runtime } from './runtime.js';
import { renderUserError, UserError } from './support/errors.js';

// oclif's own FlagOutput/ArgOutput are not exported; these are the same shapes.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type FlagOutput = { [name: string]: any };
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type ArgOutput = { [name: string]: any };

export type Flags<T extends typeof Command> = Interfaces.InferredFlags<(typeof BaseCommand)['baseFlags'] & T['flags']>;
export type Args<T extends typeof Command> = Interfaces.InferredArgs<T['args']>;

export abstract class BaseCommand extends Command {
  static override enableJsonFlag = true;

  private rt: Runtime | null = null;

  /** Config, DB, Redis and logger for this invocation; built on first use. */
  protected get runtime(): Runtime {
    this.rt ??= new Runtime({ component: this.id ?? 'cli' });
    return this.rt;
  }

  /** Print a line unless --json is on (then only the returned value is printed). */
  protected say(line = ''): void {
    if (!this.jsonEnabled()) this.log(line);
  }

  /** Every parse failure (unknown flag, missing flag, bad value) is a usage error: exit code 2. */
  protected override async parse<F extends FlagOutput, B extends FlagOutput, A extends ArgOutput>(
    options?: Interfaces.Input<F, B, A>,
    argv?: string[],
  ): Promise<Interfaces.ParserOutput<F, B, A>> {
    try {
      return await super.parse(options, argv);
    } catch (err) {
      if (err instanceof Errors.CLIError && err.oclif.exit === 2) throw err;
      throw new Errors.CLIError(`${(err as Error).message}\nSee more help with --help`, { exit: 2 });
    }
  }

  protected override async catch(err: Error & { exitCode?: number }): Promise<unknown> {
    if (err instanceof UserError) {
      process.exitCode = err.exitCode;
      if (this.jsonEnabled()) {
        this.logJson({ error: { name: err.name, message: err.message } });
      } else {
        process.stderr.write(`${renderUserError(err.message)}\n`);
      }
      this.exit(err.exitCode);
    }
    if (err instanceof Errors.ExitError) throw err;
    return super.catch(err);
  }

  protected override async finally(err: Error | undefined): Promise<unknown> {
    try {
      if (this.rt) await this.rt.close();
    } finally {
      this.rt = null;
    }
    return super.finally(err);
  }
}
