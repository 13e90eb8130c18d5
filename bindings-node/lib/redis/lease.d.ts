// Types of the leases of stanchion/redis: the fleet bulkhead (FleetSemaphore) and what it
// shares with the lock (lock.d.ts): a lease, its keeper and its loss. Durations are
// milliseconds as `number` in (or exact nanoseconds as `bigint`); every lease time is whole
// milliseconds, so the numbers given back are exact.

import { EventEmitter } from 'node:events';
import { BulkheadFullError, CircuitBreaker, Duration, LeaseLostError } from '../index';
import type { IoredisClient, NodeRedisClient } from './index';

export interface LeaseEvents {
  /** The lease was lost while held: a renewal found it gone or failed. */
  lost: [LeaseLostError];
}

/**
 * A lease held in Redis, with a keeper renewing it every third of its time (unless acquired
 * with `keep: false`). When a renewal finds it gone or fails, `signal` aborts with a
 * LeaseLostError, `lost` resolves to it and `'lost'` is emitted, all at once.
 */
export interface Lease extends EventEmitter<LeaseEvents> {
  /** The name the lease is on. */
  readonly name: string;
  /** 32 lowercase hex digits: 128 random bits from the operating system. */
  readonly token: string;
  /** The lease time in ms: each renewal sets the expiry this far after the server's now. */
  readonly ttl: number;
  /** Not released and not lost, as far as this process knows. */
  readonly held: boolean;
  /** Aborts with a LeaseLostError when the lease is lost: pass it to the work done under it. */
  readonly signal: AbortSignal;
  /** Resolves to the LeaseLostError when the lease is lost; pending while it is held. */
  readonly lost: Promise<LeaseLostError>;
  /** The keeper's state, or null when acquired with `keep: false`. */
  readonly keeper: 'keeping' | 'stopping' | 'stopped' | 'lost' | null;
  /** Resets the expiry to the full lease time from now (never adds); false: the lease is gone (and now lost). */
  renew(): Promise<boolean>;
  /** Stops the keeper (a renewal in flight finishes first), then gives the lease back; whether it was still held. */
  release(): Promise<boolean>;
}

/** A lease on a slot of a FleetSemaphore. */
export interface SemaphoreLease extends Lease {
  /** The leases held just after this one was acquired, itself included. */
  readonly holders: number;
}

/** What a FleetSemaphore's `acquire` rejects with when `limit` leases are held. */
export interface FleetBulkheadFullError extends BulkheadFullError {
  readonly code: 'ERR_BULKHEAD_FULL';
  readonly reason: 'bulkhead_full';
  /** Always null: a lease renewed does not free its slot. */
  readonly retryAfter: null;
  /** The leases held when the acquire was refused. */
  readonly holders: number;
  /** Ms until the earliest of them expires, unless it is renewed or released first. */
  readonly nextExpiryIn: number;
}

/** The work `using` runs: `signal` aborts when the lease is lost or the caller's signal aborts. */
export type LeaseWork<T, L extends Lease> = (signal: AbortSignal, lease: L) => T | PromiseLike<T>;

/** Options of an acquire. */
export interface LeaseAcquireOptions {
  /** Rejects with its reason when it aborts; a lease taken meanwhile is given back. */
  signal?: AbortSignal;
  /** Run a keeper renewing the lease while it is held. Default true. */
  keep?: boolean;
}

/** Options of `using`. */
export interface LeaseUsingOptions {
  /** Rejects at once with its reason, aborts the work's signal, and releases once the work settles. */
  signal?: AbortSignal;
}

export interface FleetSemaphoreOptions {
  /** The Redis client every call goes through; its connection gets a circuit breaker of its own. */
  client: IoredisClient | NodeRedisClient;
  /** The most leases held at once across the fleet: 1 to 4294967295. */
  limit: number;
  /** The lease time: 1 ms to 2^40 ms, rounded down to whole ms. Default 30 000 ms. */
  ttl?: Duration;
  /** Put before every key: `<prefix>{<name>}:semaphore`; at most 256 bytes, no braces. Default `'stanchion:'`. */
  prefix?: string;
  /** How long one call may take before it counts as failed: 1 ns to 1 hour. Default 250 ms. */
  timeout?: Duration;
}

/**
 * A bulkhead shared by the fleet: at most `limit` holders at once across every process on the
 * same Redis, prefix and name, each holding a lease. Refuses with a BulkheadFullError when full.
 *
 * @example
 * const exportSlots = new FleetSemaphore({ client: redis, limit: 3, ttl: 10_000 });
 * const rows = await exportSlots.using('exports', async (signal) => runExport({ signal }));
 */
export class FleetSemaphore {
  constructor(options: FleetSemaphoreOptions);
  readonly limit: number;
  /** The lease time in ms. */
  readonly ttl: number;
  /** The breaker guarding the client's connection, shared by every fleet primitive on that client. */
  readonly breaker: CircuitBreaker;
  /** `<prefix>{<name>}:semaphore`. */
  redisKey(name: string): string;
  /** Takes a slot: a lease, or a FleetBulkheadFullError (`ERR_BULKHEAD_FULL`). */
  acquire(name: string, options?: LeaseAcquireOptions): Promise<SemaphoreLease>;
  /** Takes a slot, runs `fn(signal, lease)` with the keeper running, releases; fn's value. */
  using<T>(name: string, fn: LeaseWork<T, SemaphoreLease>, options?: LeaseUsingOptions): Promise<T>;
  /** `using`. */
  execute<T>(name: string, fn: LeaseWork<T, SemaphoreLease>, options?: LeaseUsingOptions): Promise<T>;
  /** The leases held now, and ms until the earliest expires (null when none is held). */
  holders(name: string): Promise<{ holders: number; nextExpiryIn: number | null }>;
}
