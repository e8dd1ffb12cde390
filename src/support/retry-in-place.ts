/**
 * Retrying a shard's work in place: the shard's later jobs wait behind it, so its order holds.
 *
 * Two kinds of failure are told apart:
 *  - transient (isTransientError): the database or Redis is unreachable or restarting, or the database chose
 *    this transaction as a deadlock / serialization victim. Nothing is wrong with the work: it waits (backing
 *    off up to 5 s) and tries again, without spending an attempt, for as long as it takes;
 *  - anything else spends one of `attempts` (backoff × attempt between them); the last failure is returned.
 * An error the caller calls final (`isFinal`, e.g. BullMQ's UnrecoverableError) is returned at once.
 * When `signal` aborts during a wait, RetryAbandoned is thrown: the caller leaves the work for the next holder.
 */
import type { Clock } from './clock.js';
import { errorMessage } from './errors.js';
import type { Logger } from './log.js';

/** The longest wait between two tries of a transient failure. */
export const MAX_TRANSIENT_WAIT_MS = 5000;

const TRANSIENT_CODES = new Set([
  // network
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'ECONNABORTED',
  // PostgreSQL: admin / crash shutdown, cannot connect now, connection failures; serialization failure, deadlock
  '57P01', '57P02', '57P03', '08000', '08001', '08003', '08006', '40001', '40P01',
  // MySQL / MariaDB: connection lost, server shutting down, too many connections; deadlock victim, lock wait timeout
  'PROTOCOL_CONNECTION_LOST', 'ER_SERVER_SHUTDOWN', 'ER_CON_COUNT_ERROR', 'ER_LOCK_DEADLOCK', 'ER_LOCK_WAIT_TIMEOUT',
  // SQLite: another connection holds the lock past busy_timeout
  'SQLITE_BUSY', 'SQLITE_BUSY_SNAPSHOT', 'SQLITE_LOCKED',
]);

/** The database or Redis is away, or the database rolled this transaction back to break a lock cycle. */
export function isTransientError(err: unknown): boolean {
  const e = err as { code?: unknown; name?: unknown; message?: unknown } | null;
  if (TRANSIENT_CODES.has(String(e?.code ?? ''))) return true;
  if (e?.name === 'KnexTimeoutError') return true;
  return /Connection terminated|Connection is closed|connect ECONNREFUSED|server closed the connection|Stream isn't writeable/i.test(String(e?.message ?? ''));
}

export class RetryAbandoned extends Error {
  constructor() {
    super('retry abandoned: closing');
    this.name = 'RetryAbandoned';
  }
}

export interface RetryInPlaceOptions {
  /** Tries a non-transient failure gets (at least 1). */
  attempts: number;
  backoffMs: number;
  clock: Clock;
  signal: AbortSignal;
  log: Logger;
  /** What is retried, for the log lines: `shard job`, `shard batch`. */
  what: string;
  fields: Record<string, unknown>;
  isFinal?: (err: unknown) => boolean;
}

export type RetryOutcome<T> = { ok: true; value: T } | { ok: false; error: unknown; attempts: number };

export async function retryInPlace<T>(fn: () => Promise<T>, o: RetryInPlaceOptions): Promise<RetryOutcome<T>> {
  const attempts = Math.max(1, o.attempts);
  const wait = async (ms: number) => {
    try {
      await o.clock.sleep(ms, o.signal);
    } catch {
      throw new RetryAbandoned();
    }
  };
  for (let attempt = 0, waits = 0; ; ) {
    try {
      return { ok: true, value: await fn() };
    } catch (error) {
      if (o.signal.aborted) throw new RetryAbandoned();
      if (o.isFinal?.(error)) return { ok: false, error, attempts: attempt + 1 };
      if (isTransientError(error)) {
        waits++;
        o.log.warn(`${o.what} waits for the database or Redis; retrying in place`, { ...o.fields, waits, error: errorMessage(error) });
        await wait(Math.min(MAX_TRANSIENT_WAIT_MS, o.backoffMs * 2 ** Math.min(waits, 10)));
        continue;
      }
      attempt++;
      if (attempt >= attempts) return { ok: false, error, attempts: attempt };
      o.log.warn(`${o.what} failed; retrying in place`, { ...o.fields, attempt, error: errorMessage(error) });
      await wait(o.backoffMs * attempt);
    }
  }
}

/** BullMQ's marker for "do not retry". */
export function isUnrecoverable(err: unknown): boolean {
  const name = (err as Error)?.name;
  return name === 'UnrecoverableError' || name === 'UnrecoverableJobError';
}

/** The final error of work that failed every in-place attempt: an UnrecoverableError keeping the cause's stack. */
export async function finalError(err: unknown, attempts: number): Promise<Error> {
  const { UnrecoverableError } = await import('bullmq');
  const e = new UnrecoverableError(`${errorMessage(err)} (failed ${attempts} time(s) in place)`);
  e.stack = `${e.message}\n${(err as Error)?.stack ?? ''}`;
  return e;
}
