/**
 * The horizon command channel (src/horizon/control.ts) against real Redis: a master polling while senders
 * broadcast must see every command exactly once, in seq order, however the calls interleave.
 */
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from '../support/context.js';
import { CommandInbox, sendCommand, type CommandEnvelope } from '../../src/horizon/control.js';

let ctx: TestContext;

beforeAll(async () => {
  ctx = await createTestContext('horizon-control', { migrate: false });
});
afterAll(async () => {
  await ctx?.cleanup();
});

/** A second client (the test context's client connects lazily and has no offline queue). */
async function client(): Promise<Redis> {
  const r = ctx.redis.duplicate();
  if (r.status === 'wait') await r.connect();
  else if (r.status !== 'ready') await new Promise((resolve) => r.once('ready', resolve));
  return r;
}

describe('horizon command channel', () => {
  it('loses no broadcast sent while a master is reading, and skips those sent before it started', async () => {
    const early = await client();
    await sendCommand(early, ctx.prefix, 'terminate', null, new Date());
    const inbox = new CommandInbox(ctx.redis, ctx.prefix, 'box-a');
    await inbox.init();

    // 10 senders on their own connections, 20 broadcasts each, while the master polls without pause.
    const senders = await Promise.all(Array.from({ length: 10 }, () => client()));
    const got: CommandEnvelope[] = [];
    let sending = true;
    const reading = (async () => {
      while (sending) got.push(...(await inbox.take()));
      got.push(...(await inbox.take()));
    })();
    await Promise.all(senders.map(async (r, i) => {
      for (let n = 0; n < 20; n++) await sendCommand(r, ctx.prefix, n % 2 ? 'continue' : 'pause', null, new Date(Date.now() + i));
    }));
    sending = false;
    await reading;

    expect(got).toHaveLength(200);
    expect(got.map((e) => e.seq)).toEqual(Array.from({ length: 200 }, (_, i) => i + 2));
    expect(got.some((e) => e.command === 'terminate')).toBe(false);
    // One host's queue is separate, and popped once.
    await sendCommand(early, ctx.prefix, 'pause', 'box-a', new Date());
    expect((await inbox.take()).map((e) => e.command)).toEqual(['pause']);
    expect(await inbox.take()).toEqual([]);
    await Promise.all([early, ...senders].map((r) => r.quit()));
  });
});
