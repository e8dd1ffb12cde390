/**
 * The commands runner: allow-list and read-only rules, argument building (literal values, validation,
 * masking), and the runner itself with a stand-in command: streaming, one run per command (Redis lock),
 * timeout, cancel, history rows.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from '../support/context.js';
import { createLogger } from '../../src/support/log.js';
import { systemClock } from '../../src/support/clock.js';
import { readManifest, type ManifestCommand } from '../../src/launcher/manifest.js';
import { allowedCommands, canRun, findAllowed, isNeverAllowed, matchesPattern } from '../../src/web/commands/allowlist.js';
import { ArgvError, buildArgv } from '../../src/web/commands/argv.js';
import { CommandRunner, RunConflict, type RunEvent } from '../../src/web/commands/runner.js';
import { getRun } from '../../src/db/repositories/command-runs.js';

const FAKE = path.resolve(import.meta.dirname, 'support', 'fake-command.mjs');
const DEFAULT_ALLOW = ['kraite:*', 'steps:*', 'schedule:list', 'horizon:status', 'queue:failed'];

describe('allow-list', () => {
  const manifest = readManifest()!;

  it('is the manifest filtered by the configured patterns, never the forbidden commands', () => {
    const ids = allowedCommands(manifest, DEFAULT_ALLOW).map((c) => c.command.id);
    expect(ids).toContain('kraite:account-list');
    expect(ids.every((id) => id.startsWith('kraite:') || id.startsWith('steps:') || ['schedule:list', 'horizon:status', 'queue:failed'].includes(id))).toBe(true);
    const everything = allowedCommands(manifest, ['*']).map((c) => c.command.id);
    for (const id of ['key:generate', 'migrate:fresh', 'user:create', 'user:2fa', 'web', 'help', 'down', 'up', 'kraite:cooldown', 'kraite:warmup']) expect(everything).not.toContain(id);
    // the long-running programs the merged parts added never run from a web request
    for (const id of ['kraite:dispatch-daemon', 'kraite:stream-binance-prices', 'kraite:stream-binance-user-data', 'kraite:simulate-binance', 'schedule:work', 'schedule:run', 'queue:work']) {
      expect(manifest.commands[id], id).toBeDefined();
      expect(everything).not.toContain(id);
    }
    expect(isNeverAllowed('kraite:dispatch-daemon')).toBe(true);
    expect(isNeverAllowed('kraite:stream-binance-prices')).toBe(true);
    expect(isNeverAllowed('down')).toBe(true);
    expect(matchesPattern('kraite:x', 'kraite:*')).toBe(true);
    expect(matchesPattern('kraitex', 'kraite:*')).toBe(false);
    expect(findAllowed(manifest, DEFAULT_ALLOW, 'migrate')).toBeNull();
  });

  it('lets viewers run only commands marked read-only', () => {
    const list = findAllowed(manifest, ['*'], 'kraite:account-list')!;
    const remove = findAllowed(manifest, ['*'], 'kraite:account-remove')!;
    expect(list.readOnly).toBe(true);
    expect(remove.readOnly).toBe(false);
    expect(canRun('viewer', list)).toBe(true);
    expect(canRun('viewer', remove)).toBe(false);
    expect(canRun('admin', remove)).toBe(true);
    expect(manifest.commands['migrate:status']!.readOnly).toBe(true);
    // the merged parts mark their read-only commands themselves; every steps:* writer stays admin-only
    const steps = allowedCommands(manifest, DEFAULT_ALLOW).filter((c) => c.command.id.startsWith('steps:') || c.command.id.startsWith('schedule:'));
    expect(steps.filter((c) => c.readOnly).map((c) => c.command.id)).toEqual(['schedule:list', 'steps:list', 'steps:show']);
    expect(findAllowed(manifest, DEFAULT_ALLOW, 'kraite:cron-check-binance-listen-keys-stale')!.readOnly).toBe(false); // it writes alerts
  });
});

describe('argument building', () => {
  const cmd: ManifestCommand = {
    id: 'x:y',
    flags: {
      name: { name: 'name', type: 'option', required: true },
      'api-secret': { name: 'api-secret', type: 'option' },
      level: { name: 'level', type: 'option', options: ['low', 'high'] },
      tag: { name: 'tag', type: 'option', multiple: true },
      force: { name: 'force', type: 'boolean' },
      hidden: { name: 'hidden', type: 'boolean', hidden: true },
    },
    args: { id: { name: 'id', required: true }, extra: { name: 'extra' } },
  };

  it('writes one --flag=value element per value and puts args after --, keeping metacharacters literal', () => {
    const b = buildArgv(cmd, { 'flag.name': '$(rm -rf /); `id` | cat', 'flag.api-secret': 's3cr3t', 'flag.level': 'high', 'flag.tag': 'a\nb', 'flag.force': 'on', 'flag.hidden': 'on', 'arg.id': '--not-a-flag', 'arg.extra': '&&' });
    expect(b.argv).toEqual(['--name=$(rm -rf /); `id` | cat', '--api-secret=s3cr3t', '--level=high', '--tag=a', '--tag=b', '--force', '--', '--not-a-flag', '&&']);
    expect(b.display).toEqual(['--name=$(rm -rf /); `id` | cat', '--api-secret=****', '--level=high', '--tag=a', '--tag=b', '--force', '--', '--not-a-flag', '&&']);
  });

  it('refuses missing required values, unknown options and control characters', () => {
    expect(() => buildArgv(cmd, { 'arg.id': '1' })).toThrow(new ArgvError('--name is required.'));
    expect(() => buildArgv(cmd, { 'flag.name': 'x' })).toThrow('The argument id is required.');
    expect(() => buildArgv(cmd, { 'flag.name': 'x', 'arg.id': '1', 'flag.level': 'max' })).toThrow('--level must be one of low, high.');
    expect(() => buildArgv(cmd, { 'flag.name': 'x\u0007', 'arg.id': '1' })).toThrow('--name contains control characters.');
    expect(() => buildArgv(cmd, { 'flag.name': 'x', 'arg.id': '1', 'flag.dry-run': 'on' })).toThrow(new ArgvError('--dry-run is not a flag of x:y.'));
    expect(() => buildArgv(cmd, { 'flag.name': 'x', 'arg.id': '1', 'arg.other': '2' })).toThrow(new ArgvError('other is not an argument of x:y.'));
  });
});

describe('runner', () => {
  let ctx: TestContext;
  const runner = (timeoutSeconds = 60) =>
    new CommandRunner({ db: ctx.db, redis: ctx.redis, prefix: ctx.prefix, clock: systemClock, log: createLogger('runner-test'), host: 'test-host', timeoutSeconds, env: {}, artisanPath: FAKE });

  beforeAll(async () => {
    ctx = await createTestContext('web-runner');
  });

  afterAll(async () => {
    await ctx?.cleanup();
  });

  async function finished(r: CommandRunner, id: number): Promise<void> {
    await r.get(id)!.finished;
  }

  it('streams output and records the run with exit code, duration and output', async () => {
    const r = runner();
    const id = await r.start('kraite:fake', { argv: ['fast', 'a b', '$(x)'], display: ['fast', 'a b', '$(x)'] }, { userId: 1, email: 'a@b.c' });
    const events: RunEvent[] = [];
    r.subscribe(id, (e) => events.push(e));
    await finished(r, id);
    const row = (await getRun(ctx.db, id))!;
    expect(row).toMatchObject({ command: 'kraite:fake', status: 'succeeded', exitCode: 0, actor: 'a@b.c', host: 'test-host', args: ['fast', 'a b', '$(x)'] });
    expect(row.output).toBe('started kraite:fake ["fast","a b","$(x)"]\n');
    expect(row.durationMs).toBeGreaterThanOrEqual(0);
    expect(events[events.length - 1]).toMatchObject({ type: 'end', status: 'succeeded', exitCode: 0 });
    expect(await ctx.redis.exists(r.lockKey('kraite:fake'))).toBe(0);
    const failed = await r.start('kraite:fake', { argv: ['fail'], display: ['fail'] }, { userId: 1, email: 'a@b.c' });
    await finished(r, failed);
    expect(await getRun(ctx.db, failed)).toMatchObject({ status: 'failed', exitCode: 3 });
    expect((await getRun(ctx.db, failed))!.output).toContain('something went wrong');
  });

  it('runs one instance per command at a time, and lets the cancel stop it', async () => {
    const r = runner();
    const id = await r.start('kraite:slow', { argv: ['slow'], display: ['slow'] }, { userId: 1, email: 'a@b.c' });
    let seen = '';
    r.subscribe(id, (e) => {
      if (e.type === 'output') seen += e.data;
    });
    await expect(r.start('kraite:slow', { argv: ['slow'], display: ['slow'] }, { userId: 2, email: 'other@b.c' })).rejects.toThrow(new RunConflict(`kraite:slow is already running (run #${id}); one run per command at a time.`, id));
    // another runner (another web process) sees the same Redis lock
    await expect(runner().start('kraite:slow', { argv: ['slow'], display: [] }, { userId: 2, email: 'x' })).rejects.toBeInstanceOf(RunConflict);
    // a different command is not blocked
    const other = await r.start('kraite:other', { argv: ['fast'], display: [] }, { userId: 1, email: 'a@b.c' });
    await finished(r, other);
    // Cancel once the command has printed its first tick (on a loaded box that can take a while).
    for (const end = Date.now() + 30_000; !seen.includes('tick 1') && Date.now() < end; ) await new Promise((res) => setTimeout(res, 50));
    expect(r.cancel(id, 'a@b.c')).toBe(true);
    await finished(r, id);
    const row = (await getRun(ctx.db, id))!;
    expect(row.status).toBe('cancelled');
    expect(row.output).toContain('tick 1');
    expect(row.output).toContain('[athena] cancelled by a@b.c');
    const again = await r.start('kraite:slow', { argv: ['fast'], display: [] }, { userId: 1, email: 'a@b.c' });
    await finished(r, again);
  });

  it('kills a run that outlives the timeout', async () => {
    const r = runner(1);
    const id = await r.start('kraite:slow2', { argv: ['slow'], display: ['slow'] }, { userId: 1, email: 'a@b.c' });
    await finished(r, id);
    const row = (await getRun(ctx.db, id))!;
    expect(row.status).toBe('timed-out');
    expect(row.output).toContain('[athena] stopped after the 1 s timeout');
  });

  it('cancels running commands on shutdown and refuses new ones', async () => {
    const r = runner();
    const id = await r.start('kraite:slow3', { argv: ['slow'], display: [] }, { userId: 1, email: 'a@b.c' });
    await r.close();
    expect((await getRun(ctx.db, id))!.status).toBe('cancelled');
    await expect(r.start('kraite:x', { argv: [], display: [] }, { userId: 1, email: 'a' })).rejects.toThrow('shutting down');
  });
});
