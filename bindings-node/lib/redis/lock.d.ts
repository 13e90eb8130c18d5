// Types of the lock of stanchion/redis: FleetLock on one Redis, Redlock on several.

import { CircuitBreaker, Duration } from '../index';
import type { IoredisClient, NodeRedisClient } from './index';
import type { Lease, LeaseAcquireOptions, LeaseUsingOptions, LeaseWork } from './lease';

/** A lease on a lock, with its fencing token. */
export interface LockLease extends Lease {
  /**
   * The fencing token: larger than every earlier fence of this name. A number, exact: fences
   * stay below 2^53 until the year 2255. Have the protected resource refuse smaller ones.
   */
  readonly fence: number;
  /** How long the lease is sure to last from its acquisition, in ms (a Redlock's: less its acquisition time and drift). */
  readonly validity: number;
  /** Sets the remaining time to `ttl` (default the lease time): sets, never adds. False: the lease is gone (and now lost). */
  extend(ttl?: Duration): Promise<boolean>;
}

/** Options of a lock's acquire. */
export interface LockAcquireOptions extends LeaseAcquireOptions {
  /** How long to wait while another holder has the lock; Infinity: as long as it takes. Default the lock's `wait`. */
  wait?: Duration;
}

/** Options of a lock's `using`. */
export interface LockUsingOptions extends LeaseUsingOptions {
  /** How long to wait while another holder has the lock. Default the lock's `wait`. */
  wait?: Duration;
}

export interface FleetLockOptions {
  /** The Redis client every call goes through; its connection gets a circuit breaker of its own. */
  client: IoredisClient | NodeRedisClient;
  /** The lease time: 1 ms to 2^40 ms, in whole ms. Default 30 000 ms. */
  ttl?: Duration;
  /** How long an acquire waits while another holder has the lock; Infinity: as long as it takes. Default 0: one attempt. */
  wait?: Duration;
  /** After acquiring, `WAIT` until `replicas` replicas have the lease, at most `timeout` (whole ms); fewer release it (`ERR_LOCK_REPLICAS`). */
  waitReplicas?: [replicas: number, timeout: Duration];
  /** Put before every key: `<prefix>{<name>}:lock` and `…:fence`; at most 256 bytes, no braces. Default `'stanchion:'`. */
  prefix?: string;
  /** How long one call may take before it counts as failed: 1 ns to 1 hour. Default 250 ms. */
  timeout?: Duration;
}

/**
 * A distributed lock in Redis: a lease with a fencing token, renewed while held, released by
 * compare-and-delete. Never falls back: when Redis cannot decide nothing is acquired.
 *
 * @example
 * const lock = new FleetLock({ client: redis, ttl: 10_000, wait: 5_000 });
 * await lock.using('nightly-report', async (signal, lease) => build({ signal, fence: lease.fence }));
 */
export class FleetLock {
  constructor(options: FleetLockOptions);
  /** The lease time in ms. */
  readonly ttl: number;
  readonly breaker: CircuitBreaker;
  /** `<prefix>{<name>}:lock` and `<prefix>{<name>}:fence`. */
  redisKeys(name: string): { lock: string; fence: string };
  /** Takes the lock, waiting up to `wait`: a lease, or a LockError (`ERR_LOCK_HELD`, `ERR_LOCK_WAIT_TIMEOUT`, `ERR_LOCK_REPLICAS`), a FleetUnavailableError when Redis cannot decide, or a FleetError for an error reply waiting will not change. */
  acquire(name: string, options?: LockAcquireOptions): Promise<LockLease>;
  /** Takes the lock, runs `fn(signal, lease)` with the keeper running, releases; fn's value, or a LeaseLostError if the lease was lost meanwhile. */
  using<T>(name: string, fn: LeaseWork<T, LockLease>, options?: LockUsingOptions): Promise<T>;
}

export interface RedlockOptions {
  /** One client per independent Redis server (not replicas of one another), 1 to 255; use 3 or 5. */
  clients: Array<IoredisClient | NodeRedisClient>;
  ttl?: Duration;
  wait?: Duration;
  prefix?: string;
  /** Each server's call timeout. */
  timeout?: Duration;
}

/**
 * One lease on N independent servers, held while a majority (⌊N/2⌋ + 1) has it: valid for
 * `ttl − elapsed − (1 % of ttl + 2 ms)`, released everywhere when the quorum is missed,
 * renewed only by a quorum. Assumes the servers' clocks run at nearly the same rate.
 *
 * @example
 * const redlock = new Redlock({ clients: [a, b, c, d, e], ttl: 10_000, wait: 2_000 });
 * await redlock.using('billing-run', async (signal, lease) => bill({ signal, fence: lease.fence }));
 */
export class Redlock {
  constructor(options: RedlockOptions);
  readonly ttl: number;
  /** The servers that must agree: ⌊N/2⌋ + 1. */
  readonly quorum: number;
  /** Each server's breaker, in the order of `clients`. */
  readonly breakers: CircuitBreaker[];
  redisKeys(name: string): { lock: string; fence: string };
  /** As FleetLock's; `ERR_LOCK_NO_QUORUM` when fewer than a quorum granted it (it was released everywhere). */
  acquire(name: string, options?: LockAcquireOptions): Promise<LockLease>;
  using<T>(name: string, fn: LeaseWork<T, LockLease>, options?: LockUsingOptions): Promise<T>;
}
