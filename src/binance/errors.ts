/**
 * Typed errors of the Binance REST client. Every one carries a stable `kind`, the HTTP status when there
 * was one, and Binance's numeric `code` when the body had one, so callers branch on data, not on text.
 */
import { BINANCE_CODES } from './constants.js';

export type BinanceErrorKind = 'api' | 'rate-limited' | 'banned' | 'unknown-outcome' | 'transport';

export class BinanceError extends Error {
  readonly kind: BinanceErrorKind;
  /** Binance's error code (e.g. -2013), when the response had one. */
  readonly code: number | null;
  /** HTTP status, when a response arrived. */
  readonly status: number | null;
  /** "GET /fapi/v1/order" */
  readonly endpoint: string;

  constructor(kind: BinanceErrorKind, message: string, opts: { code?: number | null; status?: number | null; endpoint: string; cause?: unknown }) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'BinanceError';
    this.kind = kind;
    this.code = opts.code ?? null;
    this.status = opts.status ?? null;
    this.endpoint = opts.endpoint;
  }
}

/** A 4xx answer with a Binance code (bad signature, unknown order, unknown listen key…). */
export class BinanceApiError extends BinanceError {
  constructor(endpoint: string, status: number, code: number | null, msg: string) {
    super('api', `${endpoint} failed: ${code ?? status} ${msg}`, { code, status, endpoint });
    this.name = 'BinanceApiError';
  }
}

/** 429: the IP's weight budget is spent. `retryAfterMs` comes from the Retry-After header. */
export class BinanceRateLimitError extends BinanceError {
  readonly retryAfterMs: number;
  constructor(endpoint: string, retryAfterMs: number) {
    super('rate-limited', `${endpoint} was rate limited (429); retry after ${Math.ceil(retryAfterMs / 1000)} s`, { status: 429, code: BINANCE_CODES.TOO_MANY_REQUESTS, endpoint });
    this.name = 'BinanceRateLimitError';
    this.retryAfterMs = retryAfterMs;
  }
}

/** 418: the IP is banned until `until` (epoch ms). No call is sent before then. */
export class BinanceBannedError extends BinanceError {
  readonly until: number;
  constructor(endpoint: string, until: number, status: number | null = 418) {
    super('banned', `${endpoint} refused: the IP is banned by Binance until ${new Date(until).toISOString()}`, { status, endpoint });
    this.name = 'BinanceBannedError';
    this.until = until;
  }
}

/** 5xx or a timeout after the request was sent: the request may or may not have taken effect. Re-query. */
export class BinanceUnknownOutcomeError extends BinanceError {
  constructor(endpoint: string, status: number | null, detail: string) {
    super('unknown-outcome', `${endpoint}: outcome unknown (${status ?? 'no response'}: ${detail}); re-query before assuming anything`, { status, endpoint });
    this.name = 'BinanceUnknownOutcomeError';
  }
}

/** The request never reached Binance (DNS, refused connection). Safe to retry. */
export class BinanceTransportError extends BinanceError {
  constructor(endpoint: string, cause: unknown) {
    super('transport', `${endpoint}: ${cause instanceof Error ? cause.message : String(cause)}`, { endpoint, cause });
    this.name = 'BinanceTransportError';
  }
}

export function isBinanceCode(err: unknown, code: number): boolean {
  return err instanceof BinanceError && err.code === code;
}
