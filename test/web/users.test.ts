/**
 * Operators from the CLI (bin/artisan as a child process): the password comes from stdin, never argv;
 * TOTP set-up prints its secret once; listings never show hashes or secrets; all of it is audited.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from '../support/context.js';
import { artisan } from '../support/artisan.js';
import { verifyPassword, hashPassword, isPasswordHash } from '../../src/web/auth/passwords.js';
import { checkTotp, totpCode } from '../../src/web/auth/totp.js';
import { getTotpSecret } from '../../src/db/repositories/users.js';
import { requireKey } from '../../src/crypto/secrets.js';

let ctx: TestContext;

beforeAll(async () => {
  ctx = await createTestContext('web-users');
});

afterAll(async () => {
  await ctx?.cleanup();
});

describe('passwords and TOTP', () => {
  it('hashes with scrypt and verifies in constant time; malformed hashes never match', async () => {
    const h = await hashPassword('a long enough password');
    expect(h).toMatch(/^scrypt\$32768\$8\$1\$/);
    expect(isPasswordHash(h)).toBe(true);
    expect(await verifyPassword('a long enough password', h)).toBe(true);
    expect(await verifyPassword('a long enough passworD', h)).toBe(false);
    expect(await verifyPassword('x', 'scrypt$1$1$1$AA$AA')).toBe(false);
    expect(await verifyPassword('x', 'plain')).toBe(false);
  });

  it('accepts a TOTP code within ±1 step and returns the matched counter', () => {
    const secret = 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP';
    const t = Date.UTC(2026, 0, 1, 0, 0, 15);
    expect(checkTotp(secret, totpCode(secret, t), t)).toBe(Math.floor(t / 30000));
    expect(checkTotp(secret, totpCode(secret, t - 30_000), t)).toBe(Math.floor(t / 30000) - 1);
    expect(checkTotp(secret, totpCode(secret, t - 90_000), t)).toBeNull();
    expect(checkTotp(secret, 'abcdef', t)).toBeNull();
  });
});

describe('user commands', () => {
  it('creates an operator with the password from stdin and refuses a password flag', async () => {
    const r = await artisan(['user:create', '--email=Ops@Example.com', '--role=admin', '--json'], ctx.env, { input: 'a long enough password\n' });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ email: 'ops@example.com', role: 'admin' });
    const row = await ctx.db('users').where({ email: 'ops@example.com' }).first();
    expect(await verifyPassword('a long enough password', row.password_hash)).toBe(true);
    const flag = await artisan(['user:create', '--email=x@example.com', '--role=admin', '--password=hunter2hunter2'], ctx.env, { input: '' });
    expect(flag.exitCode).toBe(2);
    expect(flag.stderr).toContain('Nonexistent flag: --password');
  });

  it('rejects short passwords, bad roles, duplicates and an empty stdin with exit 1 or 2', async () => {
    const short = await artisan(['user:create', '--email=s@example.com', '--role=viewer'], ctx.env, { input: 'short\n' });
    expect(short.exitCode).toBe(1);
    expect(short.stderr).toContain('The password must have at least 12 characters.');
    const role = await artisan(['user:create', '--email=r@example.com', '--role=root'], ctx.env, { input: 'a long enough password\n' });
    expect(role.exitCode).toBe(2);
    const dup = await artisan(['user:create', '--email=ops@example.com', '--role=viewer'], ctx.env, { input: 'a long enough password\n' });
    expect(dup.exitCode).toBe(1);
    expect(dup.stderr).toContain('A user with the e-mail ops@example.com already exists.');
    const empty = await artisan(['user:create', '--email=e@example.com', '--role=viewer'], ctx.env, { input: '' });
    expect(empty.exitCode).toBe(1);
    expect(empty.stderr).toContain('No password on stdin');
  });

  it('sets up TOTP, printing the secret once, and stores it encrypted', async () => {
    const r = await artisan(['user:2fa', '--email=ops@example.com', '--json'], ctx.env);
    expect(r.exitCode, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { secret: string; otpauth_uri: string };
    expect(out.otpauth_uri).toMatch(/^otpauth:\/\/totp\/Athena:ops%40example\.com\?/);
    const row = await ctx.db('users').where({ email: 'ops@example.com' }).first();
    expect(row.totp_secret).toMatch(/^v1:/);
    expect(row.totp_secret).not.toContain(out.secret);
    expect(await getTotpSecret(ctx.db, requireKey(ctx.config.appKey), row.id)).toBe(out.secret);
    const list = await artisan(['user:list', '--json'], ctx.env);
    expect(JSON.parse(list.stdout).users).toEqual([expect.objectContaining({ email: 'ops@example.com', role: 'admin', two_factor: true })]);
    expect(list.stdout).not.toContain('scrypt$');
    expect(list.stdout).not.toContain(out.secret);
    const off = await artisan(['user:2fa', '--email=ops@example.com', '--disable'], ctx.env);
    expect(off.exitCode).toBe(0);
    expect((await ctx.db('users').where({ email: 'ops@example.com' }).first()).totp_secret).toBeNull();
  });

  it('changes a password from stdin and deletes operators; every change is audited as cli:<host>', async () => {
    expect((await artisan(['user:password', '--email=ops@example.com'], ctx.env, { input: 'another long password\n' })).exitCode).toBe(0);
    const row = await ctx.db('users').where({ email: 'ops@example.com' }).first();
    expect(await verifyPassword('another long password', row.password_hash)).toBe(true);
    expect((await artisan(['user:delete', '--email=ops@example.com'], ctx.env)).exitCode).toBe(0);
    const missing = await artisan(['user:delete', '--email=ops@example.com'], ctx.env);
    expect(missing.exitCode).toBe(1);
    expect(missing.stderr).toContain('No operator with the e-mail ops@example.com.');
    const audit = (await ctx.db('audit_log').orderBy('id')).map((a: { action: string; actor: string }) => a.action);
    expect(audit).toEqual(['user.create', 'user.2fa_enable', 'user.2fa_disable', 'user.password', 'user.delete']);
    const actors = new Set((await ctx.db('audit_log').select('actor')).map((a: { actor: string }) => a.actor.split(':')[0]));
    expect([...actors]).toEqual(['cli']);
  });
});
