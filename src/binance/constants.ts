/**
 * Binance ingestion constants, one place. The defaults match Kraite's production values (see
 * docs/streams.md for the table and why each differs where it does); every daemon and cron takes them
 * as overridable options so tests can compress time.
 */

/** Error codes Binance returns in `{"code": …, "msg": …}` bodies that the code reacts to. */
export const BINANCE_CODES = {
  UNKNOWN: -1000,
  TOO_MANY_REQUESTS: -1003,
  TIMESTAMP_OUTSIDE_RECV_WINDOW: -1021,
  INVALID_SIGNATURE: -1022,
  ILLEGAL_CHARS: -1100,
  TOO_MANY_PARAMETERS: -1101,
  MANDATORY_PARAM_MISSING: -1102,
  BAD_SYMBOL: -1121,
  LISTEN_KEY_NOT_FOUND: -1125,
  BAD_API_KEY_FORMAT: -2014,
  REJECTED_API_KEY: -2015,
  /** Cancel of an order the exchange does not know, or that is no longer working: "Unknown order sent." */
  CANCEL_REJECTED: -2011,
  ORDER_NOT_FOUND: -2013,
} as const;

export const WS_PATHS = {
  /** All-market mark price, every second, in the combined-stream envelope (since the 2026-04-23 split). */
  markPriceStream: '/market/stream?streams=!markPrice@arr@1s',
  /** User data; the listen key is appended URL-encoded. */
  privateWs: '/private/ws?listenKey=',
} as const;

/** REST weight: the per-IP budget and the share of it we allow ourselves. */
export const REST_DEFAULTS = {
  weightLimitPerMinute: 2400,
  weightSafetyRatio: 0.85,
  recvWindowMs: 5000,
  timeoutMs: 10_000,
  /** Tries per call for idempotent requests (GET, listen-key calls) on 5xx / network errors / -1021. */
  maxTries: 3,
  /** Cap on one Retry-After wait inside a call; a longer wait is returned to the caller as an error. */
  maxRetryAfterWaitMs: 60_000,
} as const;

/** User-data daemon timings (milliseconds). */
export const USER_DATA_DEFAULTS = {
  discoveryIntervalMs: 60_000,
  rotationCheckIntervalMs: 30_000,
  healthTickIntervalMs: 30_000,
  connectStaggerMs: 250,
  frameHeartbeatThrottleMs: 30_000,
  /** No frame, ping or pong for this long → force a reconnect (Kraite: 600 s). */
  idleTimeoutMs: 600_000,
  /** Our own pings, so a half-open socket is found in under a minute instead of 10 (Kraite has none). */
  clientPingIntervalMs: 30_000,
  pongTimeoutMs: 10_000,
  /** Make-before-break rotation ahead of Binance's 24 h cut. */
  rotateAfterMs: 23 * 3_600_000 + 50 * 60_000,
  memoryBaseBytes: 200 * 1024 * 1024,
  memoryPerAccountBytes: 25 * 1024 * 1024,
  /** Retry the dead-letter backlog this often while Redis is unhealthy. */
  replayIntervalMs: 5_000,
  /** Replay batch size (one MULTI per batch keeps a batch all-or-nothing). */
  replayBatch: 100,
} as const;

/** Mark-price daemon timings (milliseconds). */
export const PRICES_DEFAULTS = {
  /** Kraite writes every 5 s; we default to every second (the benchmark shows it is cheap). */
  writeIntervalMs: 1_000,
  symbolRefreshMs: 300_000,
  idleTimeoutMs: 30_000,
  noDataExitMs: 300_000,
  chunkSize: 500,
  /** An unchanged price is rewritten at most this often, so mark_price_synced_at stays fresh. */
  unchangedRewriteMs: 30_000,
} as const;

/** Reconnect back-off shared by both daemons: min(2^attempt, 30) s, with jitter; alert after 10 straight failures. */
export const RECONNECT_DEFAULTS = {
  baseMs: 1_000,
  maxMs: 30_000,
  /** Fraction of the delay that is randomised: delay × (1 − jitter × random). */
  jitter: 0.5,
  stormThreshold: 10,
} as const;

/** Listen-key crons. */
export const LISTEN_KEY_DEFAULTS = {
  alertAfterFailures: 3,
  maxFailureCount: 255,
  staleKeepAliveMinutes: 30,
  staleFrameMinutes: 15,
  missingRowGraceSeconds: 120,
  concurrency: 8,
} as const;

/** Notification canonicals of this subsystem. */
export const ALERTS = {
  daemonOnline: 'binance_user_data_daemon_online',
  accountInitFailed: 'binance_user_data_account_init_failed',
  accountReaped: 'binance_user_data_account_reaped',
  listenKeyExpired: 'binance_user_data_listen_key_expired',
  memoryRestart: 'binance_user_data_memory_restart',
  deadLetter: 'binance_user_data_dead_letter',
  frameLost: 'binance_user_data_frame_lost',
  keepAliveFailed: 'binance_listen_key_keepalive_failed',
  listenKeyStale: 'binance_listen_key_stale',
  reconnectTriggered: 'websocket_reconnect_triggered',
  reconnectStorm: 'websocket_reconnect_storm',
  pricesNoData: 'binance_prices_no_data_exit',
  orderMissing: 'binance_order_missing_on_exchange',
  orderSyncFailed: 'binance_order_sync_failed',
  ipBanned: 'binance_ip_banned',
  symbolsDelisted: 'binance_symbols_delisted',
  snapshotFailed: 'binance_account_snapshot_failed',
} as const;
