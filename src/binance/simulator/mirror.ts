/**
 * `kraite:simulate-binance --from-db`: make the simulated exchange agree with a database, so a demo box
 * streams and syncs without -2015/-2013 noise: every account with credentials is registered (label = its
 * id when free), and every working order is created with its exchange id, price and quantity.
 */
import type { Knex } from 'knex';
import { getCredentials } from '../../db/repositories/accounts.js';
import { syncableOrders } from '../../db/repositories/order-sync.js';
import type { BinanceSimulator } from './simulator.js';

const TYPES: Record<string, string> = { LIMIT: 'LIMIT', 'PROFIT-LIMIT': 'LIMIT', 'PROFIT-MARKET': 'TAKE_PROFIT_MARKET', 'STOP-MARKET': 'STOP_MARKET', MARKET: 'MARKET' };

export async function mirrorDatabase(sim: BinanceSimulator, db: Knex, appKey: Buffer, _now: number): Promise<{ accounts: number; orders: number }> {
  const ids: Array<{ id: number }> = await db('accounts').whereNotNull('binance_api_key').whereNotNull('binance_api_secret').select('id').orderBy('id');
  const labels = new Map<number, number>();
  for (const { id } of ids) {
    const creds = await getCredentials(db, appKey, Number(id));
    if (!creds) continue;
    const existing = sim.accountByApiKey(creds.apiKey);
    const free = !sim.accounts().some((a) => a.label === Number(id));
    const acc = existing ?? sim.registerAccount({ apiKey: creds.apiKey, apiSecret: creds.apiSecret, label: free ? Number(id) : undefined });
    labels.set(Number(id), acc.label);
  }
  let orders = 0;
  for (const o of await syncableOrders(db)) {
    const label = labels.get(o.accountId);
    if (label === undefined || !/^\d+$/.test(o.exchangeOrderId)) continue;
    const type = TYPES[o.type] ?? 'LIMIT';
    sim.scenarios.upsertOrder(label, {
      orderId: Number(o.exchangeOrderId),
      symbol: o.symbol,
      clientOrderId: o.clientOrderId ?? undefined,
      side: o.side === 'SELL' ? 'SELL' : 'BUY',
      positionSide: o.positionSide ?? 'BOTH',
      type,
      origType: type,
      price: type === 'STOP_MARKET' ? '0' : (o.price ?? '0'),
      stopPrice: type === 'STOP_MARKET' ? (o.price ?? '0') : '0',
      origQty: o.quantity ?? '1',
      status: o.status,
    });
    orders++;
  }
  return { accounts: labels.size, orders };
}
