/**
 * Demo fixtures shared by `db:seed` and the Binance simulator, so that seeded accounts can sign requests
 * the simulator accepts, and seeded symbols exist on the simulated exchange. Never real credentials.
 */
import crypto from 'node:crypto';

export interface DemoSymbol {
  symbol: string;
  base: string;
  price: string;
  tickSize: string;
  stepSize: string;
  pricePrecision: number;
  quantityPrecision: number;
}

export const DEMO_SYMBOLS: DemoSymbol[] = [
  { symbol: 'BTCUSDT', base: 'BTC', price: '96012.40', tickSize: '0.10', stepSize: '0.001', pricePrecision: 2, quantityPrecision: 3 },
  { symbol: 'ETHUSDT', base: 'ETH', price: '3412.55', tickSize: '0.01', stepSize: '0.001', pricePrecision: 2, quantityPrecision: 3 },
  { symbol: 'SOLUSDT', base: 'SOL', price: '142.310', tickSize: '0.010', stepSize: '0.1', pricePrecision: 3, quantityPrecision: 1 },
  { symbol: 'BNBUSDT', base: 'BNB', price: '612.430', tickSize: '0.010', stepSize: '0.01', pricePrecision: 3, quantityPrecision: 2 },
  { symbol: 'XRPUSDT', base: 'XRP', price: '0.6124', tickSize: '0.0001', stepSize: '0.1', pricePrecision: 4, quantityPrecision: 1 },
  { symbol: 'DOGEUSDT', base: 'DOGE', price: '0.158230', tickSize: '0.000010', stepSize: '1', pricePrecision: 6, quantityPrecision: 0 },
  { symbol: 'ADAUSDT', base: 'ADA', price: '0.45120', tickSize: '0.00010', stepSize: '1', pricePrecision: 5, quantityPrecision: 0 },
  { symbol: 'AVAXUSDT', base: 'AVAX', price: '35.1240', tickSize: '0.0010', stepSize: '1', pricePrecision: 4, quantityPrecision: 0 },
  { symbol: 'LINKUSDT', base: 'LINK', price: '14.823', tickSize: '0.001', stepSize: '0.01', pricePrecision: 3, quantityPrecision: 2 },
  { symbol: 'TONUSDT', base: 'TON', price: '5.4321', tickSize: '0.0001', stepSize: '0.1', pricePrecision: 4, quantityPrecision: 1 },
];

/** Deterministic, clearly fake 64-character credentials for demo account n (1-based). */
export function demoCredentials(n: number): { apiKey: string; apiSecret: string } {
  const h = (s: string) => crypto.createHash('sha256').update(s).digest('hex');
  return { apiKey: h(`athena-demo-key-${n}`), apiSecret: h(`athena-demo-secret-${n}`) };
}

export const DEMO_ACCOUNTS = [
  { name: 'Demo Alpha', hedge: false },
  { name: 'Demo Beta', hedge: true },
  { name: 'Demo Gamma', hedge: false },
];
