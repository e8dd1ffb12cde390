/**
 * The scheduler's two locks, as interfaces (the runner only sees these) with in-memory fakes for unit
 * tests. The Redis implementations are in ./redis-mutex.ts.
 *
 *  - EventMutex (withoutOverlapping): held while a run is in progress. A short lease renewed by the
 *    holder's heartbeat, never longer than the task's expiry; released by compare-and-delete.
 *  - SchedulingMutex (onOneServer): "who runs (task, slot)?". The first claim wins; never released.
 */
import crypto from 'node:crypto';
import type { Clock } from '../support/clock.js';

export interface LockHolder {
  host: string;
  pid: number;
  /** ISO time the run took the lock. */
  since: string;
  /** ISO time after which the lock is no longer renewed (since + the task's expiry). */
  until: string;
}

export interface HeldLock {
  taskId: string;
  token: string;
  holder: LockHolder;
  leaseMs: number;
  /** Epoch ms after which the holder stops renewing the lease. */
  maxUntil: number;
}

export interface EventMutex {
  /** Take the lock, or null when someone holds it. */
  acquire(taskId: string, holder: Omit<LockHolder, 'until'>, leaseMs: number, maxUntil: number): Promise<HeldLock | null>;
  /** Renew the lease (capped at maxUntil). False when the lock is no longer ours or has reached its cap. */
  extend(lock: HeldLock): Promise<boolean>;
  /** Delete the lock if we still own it. */
  release(lock: HeldLock): Promise<boolean>;
  /** Rewrite the holder (e.g. the pid of the background child), keeping the owner token and the TTL. */
  handOver(lock: HeldLock, holder: LockHolder): Promise<boolean>;
  /** Who holds the task's lock now, if anyone. */
  holder(taskId: string): Promise<LockHolder | null>;
  /** Every lock held now (schedule:clear-cache). */
  held(): Promise<Array<{ taskId: string; holder: LockHolder | null }>>;
  /** Delete the lock whoever holds it (schedule:clear-cache). */
  forget(taskId: string): Promise<boolean>;
}

export interface SchedulingMutex {
  /** Claim the task's slot for `host`; true for the first claim only. */
  claim(taskId: string, slot: number, host: string): Promise<boolean>;
}

export function newToken(): string {
  return crypto.randomBytes(16).toString('hex');
}

/** A slot as written in keys: the minute ("2026-01-01T10:37Z") or, off the minute, the second. */
export function slotStamp(slot: number): string {
  const iso = new Date(slot).toISOString();
  return slot % 60_000 === 0 ? `${iso.slice(0, 16)}Z` : `${iso.slice(0, 19)}Z`;
}

/** How long the lease may run from `now` without passing the cap. */
export function leaseFor(lock: HeldLock, now: number): number {
  return Math.min(lock.leaseMs, lock.maxUntil - now);
}

// ── in-memory fakes (unit tests) ──────────────────────────────────────────────────────────────────────

export class MemoryEventMutex implements EventMutex {
  private locks = new Map<string, { token: string; holder: LockHolder; expiresAt: number }>();

  constructor(private readonly clock: Clock) {}

  private live(taskId: string) {
    const l = this.locks.get(taskId);
    if (l && l.expiresAt <= this.clock.now()) this.locks.delete(taskId);
    return this.locks.get(taskId);
  }

  async acquire(taskId: string, holder: Omit<LockHolder, 'until'>, leaseMs: number, maxUntil: number): Promise<HeldLock | null> {
    if (this.live(taskId)) return null;
    const full: LockHolder = { ...holder, until: new Date(maxUntil).toISOString() };
    const lock: HeldLock = { taskId, token: newToken(), holder: full, leaseMs, maxUntil };
    this.locks.set(taskId, { token: lock.token, holder: full, expiresAt: this.clock.now() + leaseFor(lock, this.clock.now()) });
    return lock;
  }

  async extend(lock: HeldLock): Promise<boolean> {
    const l = this.live(lock.taskId);
    const ms = leaseFor(lock, this.clock.now());
    if (!l || l.token !== lock.token || ms <= 0) return false;
    l.expiresAt = this.clock.now() + ms;
    return true;
  }

  async release(lock: HeldLock): Promise<boolean> {
    const l = this.live(lock.taskId);
    if (!l || l.token !== lock.token) return false;
    this.locks.delete(lock.taskId);
    return true;
  }

  async handOver(lock: HeldLock, holder: LockHolder): Promise<boolean> {
    const l = this.live(lock.taskId);
    if (!l || l.token !== lock.token) return false;
    l.holder = holder;
    lock.holder = holder;
    return true;
  }

  async holder(taskId: string): Promise<LockHolder | null> {
    return this.live(taskId)?.holder ?? null;
  }

  async held(): Promise<Array<{ taskId: string; holder: LockHolder | null }>> {
    return [...this.locks.keys()].filter((id) => this.live(id)).map((taskId) => ({ taskId, holder: this.locks.get(taskId)!.holder }));
  }

  async forget(taskId: string): Promise<boolean> {
    return this.locks.delete(taskId);
  }
}

export class MemorySchedulingMutex implements SchedulingMutex {
  private claims = new Map<string, string>();

  async claim(taskId: string, slot: number, host: string): Promise<boolean> {
    const key = `${taskId}@${slotStamp(slot)}`;
    if (this.claims.has(key)) return false;
    this.claims.set(key, host);
    return true;
  }
}
