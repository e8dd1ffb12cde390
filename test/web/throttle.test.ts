/** Login throttling counters in Redis: per e-mail+address, and per address against password spraying. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from '../support/context.js';
import { scanKeys } from '../../src/web/data/safe.js';
import { LoginThrottle, LOCKOUT_SECONDS, MAX_IP_FAILURES, MAX_LOGIN_FAILURES } from '../../src/web/auth/throttle.js';

let ctx: TestContext;

beforeAll(async () => {
  ctx = await createTestContext('web-throttle', { migrate: false });
});

afterAll(async () => {
  await ctx?.cleanup();
});

describe('login throttle', () => {
  it('locks an e-mail+address pair after 5 failures for 15 minutes, and a success clears it', async () => {
    const t = new LoginThrottle(ctx.redis, ctx.prefix);
    for (let i = 0; i < MAX_LOGIN_FAILURES - 1; i++) await t.fail('A@x.io', '10.0.0.1');
    expect(await t.lockedFor('a@x.io', '10.0.0.1')).toBe(0);
    await t.fail('a@x.io', '10.0.0.1');
    const locked = await t.lockedFor('a@x.io', '10.0.0.1');
    expect(locked).toBeGreaterThan(LOCKOUT_SECONDS - 5);
    expect(locked).toBeLessThanOrEqual(LOCKOUT_SECONDS);
    expect(await t.lockedFor('a@x.io', '10.0.0.2')).toBe(0);
    expect(await t.lockedFor('b@x.io', '10.0.0.1')).toBe(0);
    await t.clear('a@x.io', '10.0.0.1');
    expect(await t.lockedFor('a@x.io', '10.0.0.1')).toBe(0);
  });

  it('locks an address that sprays many e-mails', async () => {
    const t = new LoginThrottle(ctx.redis, ctx.prefix);
    for (let i = 0; i < MAX_IP_FAILURES; i++) await t.fail(`user${i}@x.io`, '10.9.0.1');
    expect(await t.lockedFor('someone-else@x.io', '10.9.0.1')).toBeGreaterThan(0);
    expect(await t.lockedFor('someone-else@x.io', '10.9.0.2')).toBe(0);
    // the keys hold no e-mail or address in clear
    const keys = await scanKeys(ctx.redis, `${ctx.prefix}:web:login-fail*`);
    expect(keys.join(' ')).not.toContain('x.io');
    expect(keys.join(' ')).not.toContain('10.9.0.1');
  });
});
