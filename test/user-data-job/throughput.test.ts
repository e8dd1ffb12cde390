/**
 * Throughput micro-check of the user-data job: statements per frame (counted from knex's query events)
 * and frames per second, frame by frame (one job each) and batched (applyUserDataFrames with 100 frames).
 * Only the statement counts are asserted; the rates are printed for the report (no timing assertions).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from '../support/context.js';
import { applyUserDataFrames, type UserDataFrame } from '../../src/queue/user-data/apply.js';
import { account, accountUpdate, deps, order, otu, position, T0 } from './helpers.js';

let ctx: TestContext;
let statements = 0;
const count = () => statements++;

beforeAll(async () => {
  ctx = await createTestContext('user-data-throughput');
  ctx.db.on('query', count);
});

afterAll(async () => {
  ctx?.db.off('query', count);
  await ctx?.cleanup();
});

const ACCOUNTS = 20;
const ORDERS_PER_ACCOUNT = 10;

/** Per account: each order goes NEW → PARTIALLY_FILLED → FILLED, then an ACCOUNT_UPDATE and a TRADE_LITE. */
async function workload(tag: string): Promise<UserDataFrame[]> {
  const frames: UserDataFrame[] = [];
  for (let a = 0; a < ACCOUNTS; a++) {
    const acc = await account(ctx.db, `${tag}-${a}`);
    const pos = await position(ctx.db, acc, { symbol: 'SOLUSDT', direction: 'LONG' });
    for (let k = 0; k < ORDERS_PER_ACCOUNT; k++) {
      const exchangeId = `${tag.length}${acc}${k}`;
      await order(ctx.db, { positionId: pos, exchangeId, clientId: `k-${tag}-${acc}-${k}`, price: '100' });
      frames.push({ accountId: acc, payload: otu({ i: exchangeId, c: `k-${tag}-${acc}-${k}`, x: 'AMENDMENT', X: 'NEW', p: '101' }), receivedAt: T0 });
      frames.push({ accountId: acc, payload: otu({ i: exchangeId, c: `k-${tag}-${acc}-${k}`, x: 'TRADE', X: 'PARTIALLY_FILLED', p: '101', ap: '101', z: '1' }), receivedAt: T0 });
      frames.push({ accountId: acc, payload: otu({ i: exchangeId, c: `k-${tag}-${acc}-${k}`, x: 'TRADE', X: 'FILLED', p: '101', ap: '101.2', z: '12.5' }), receivedAt: T0 });
      frames.push({ accountId: acc, payload: accountUpdate([{ s: 'SOLUSDT', pa: `${k + 1}` }]), receivedAt: T0 });
      frames.push({ accountId: acc, payload: { e: 'TRADE_LITE', E: T0 + k, s: 'SOLUSDT', i: exchangeId, t: k }, receivedAt: T0 });
    }
  }
  return frames;
}

describe('user-data job throughput', () => {
  it('costs a few statements per frame; prints frames/s one by one and batched', async () => {
    const single = await workload('single');
    const orderFrames = single.filter((f) => (f.payload as { e: string }).e === 'ORDER_TRADE_UPDATE').length;
    const plainFrames = single.length - orderFrames;
    const d = deps();
    statements = 0;
    let t = performance.now();
    for (const f of single) await applyUserDataFrames(ctx.db, [f], d);
    const singleMs = performance.now() - t;
    const singleStatements = statements;
    // order frame: BEGIN, INSERT, SELECT order, UPDATE order, COMMIT; others: one INSERT
    expect(singleStatements).toBeLessThanOrEqual(orderFrames * 5 + plainFrames * 1);

    const batched = await workload('batched');
    statements = 0;
    t = performance.now();
    for (let i = 0; i < batched.length; i += 100) await applyUserDataFrames(ctx.db, batched.slice(i, i + 100), d);
    const batchMs = performance.now() - t;
    const batchStatements = statements;
    expect(batchStatements).toBeLessThan(singleStatements);

    const rate = (n: number, ms: number) => Math.round((n / ms) * 1000);
    console.log(
      `[user-data throughput] db=${String(ctx.db.client.config.client)} frames=${single.length} (order ${orderFrames}, record-only ${plainFrames}); ` +
        `one by one: ${rate(single.length, singleMs)} frames/s, ${(singleStatements / single.length).toFixed(2)} statements/frame; ` +
        `batches of 100: ${rate(batched.length, batchMs)} frames/s, ${(batchStatements / batched.length).toFixed(2)} statements/frame`,
    );
  });
});
