/** The pure stream decoders and the signing helpers: no sockets, no servers. */
import { describe, expect, it } from 'vitest';
import { decodeMarkFrame, decodeUserFrame } from '../../src/binance/decode.js';
import { encodeParams, hmacHex, signQuery, signaturesMatch } from '../../src/binance/signing.js';
import { localStatus, exchangeValues } from '../../src/binance/order-sync.js';
import type { SyncableOrder } from '../../src/db/repositories/order-sync.js';
import type { BinanceOrder } from '../../src/binance/types.js';

const buf = (s: string) => Buffer.from(s);

describe('decodeUserFrame', () => {
  it('passes any JSON object or array through unmodified', () => {
    const frame = '{"e":"ORDER_TRADE_UPDATE","E":1785000000123,"o":{"i":88123456789,"p":"142.310"}}';
    expect(decodeUserFrame(buf(frame), false)).toEqual({ ok: true, payload: JSON.parse(frame) });
    expect(decodeUserFrame(buf('[1,2]'), false)).toEqual({ ok: true, payload: [1, 2] });
    expect(decodeUserFrame([buf('{"e":'), buf('"X"}')], false)).toEqual({ ok: true, payload: { e: 'X' } });
  });

  it('calls everything else malformed, with its size', () => {
    for (const bad of ['not json {', '{"e":"ORDER', '42', '"hello"', 'null', '']) expect(decodeUserFrame(buf(bad), false)).toEqual({ ok: false, bytes: Buffer.byteLength(bad) });
    expect(decodeUserFrame(buf('{"e":"X"}'), true)).toEqual({ ok: false, bytes: 9 });
  });
});

describe('decodeMarkFrame', () => {
  it('reads the combined envelope and the bare array', () => {
    const data = [{ e: 'markPriceUpdate', s: 'BTCUSDT', p: '96012.40000000' }];
    expect(decodeMarkFrame(buf(JSON.stringify({ stream: '!markPrice@arr@1s', data })), false)).toEqual(data);
    expect(decodeMarkFrame(buf(JSON.stringify(data)), false)).toEqual(data);
    expect(decodeMarkFrame(buf('{"stream":"x","data":{}}'), false)).toBeNull();
    expect(decodeMarkFrame(buf('null'), false)).toBeNull();
    expect(decodeMarkFrame(buf('garbage'), false)).toBeNull();
  });
});

describe('signing', () => {
  it('signs the exact query string (Binance documentation example)', () => {
    const secret = 'NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j';
    const query = 'symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559';
    expect(hmacHex(secret, query)).toBe('c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71');
    expect(signQuery(query, secret).endsWith('&signature=c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71')).toBe(true);
    expect(signaturesMatch('c8db', 'C8DB')).toBe(true);
    expect(signaturesMatch('c8db', 'c8dc')).toBe(false);
    expect(encodeParams({ a: 1, b: undefined, c: null, d: 'x y' })).toBe('a=1&d=x%20y');
  });
});

describe('order re-anchoring rules', () => {
  const local = (type: string): SyncableOrder => ({ id: 1, positionId: 1, accountId: 1, symbol: 'SOLUSDT', exchangeOrderId: '1', clientOrderId: null, type, side: 'BUY', positionSide: 'BOTH', status: 'NEW', price: '1.00000000', quantity: '1.00000000' });
  const remote = (o: Partial<BinanceOrder>): BinanceOrder => ({ orderId: 1, symbol: 'SOLUSDT', status: 'NEW', clientOrderId: 'c', price: '140', avgPrice: '0', origQty: '10', executedQty: '0', cumQuote: '0', timeInForce: 'GTC', type: 'LIMIT', reduceOnly: false, closePosition: false, side: 'BUY', positionSide: 'BOTH', stopPrice: '0', workingType: 'CONTRACT_PRICE', priceProtect: false, origType: 'LIMIT', priceMatch: 'NONE', selfTradePreventionMode: 'NONE', goodTillDate: 0, time: 0, updateTime: 0, ...o });

  it('maps statuses, and takes the average, stop or limit price and the executed or original quantity', () => {
    expect(localStatus('CANCELED')).toBe('CANCELLED');
    expect(localStatus('EXPIRED_IN_MATCH')).toBe('EXPIRED');
    expect(localStatus('PARTIALLY_FILLED')).toBe('PARTIALLY_FILLED');
    expect(exchangeValues(local('LIMIT'), remote({}))).toEqual({ status: 'NEW', price: '140.00000000', quantity: '10.00000000' });
    expect(exchangeValues(local('LIMIT'), remote({ status: 'PARTIALLY_FILLED', avgPrice: '139.5', executedQty: '4' }))).toEqual({ status: 'PARTIALLY_FILLED', price: '139.50000000', quantity: '4.00000000' });
    expect(exchangeValues(local('STOP-MARKET'), remote({ type: 'STOP_MARKET', price: '0', stopPrice: '131.2' }))).toEqual({ status: 'NEW', price: '131.20000000', quantity: '10.00000000' });
  });
});
