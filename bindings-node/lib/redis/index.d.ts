// Types of stanchion/redis, the fleet tier: limits kept in Redis and decided by one script
// call each, with the user's own ioredis or node-redis client. Durations are milliseconds as
// `number` (or exact nanoseconds as `bigint` with `unit: 'ns'`), as in the rest of the package.

import { EventEmitter } from 'node:events';
import {
  BulkheadFullError,
  CircuitBreaker,
  Duration,
  FleetError,
  FleetUnavailableError,
  LeaseLostError,
  LockError,
  RateLimitedError,
  SoldOutError,
  StanchionError,
  Task,
  Time,
  Unit,
  UnitOption,
} from '../index';

export { FleetError, FleetUnavailableError, RateLimitedError, SoldOutError, StanchionError };
export { BulkheadFullError, LockError, LeaseLostError };
export * from './lease';
export * from './lock';

/** An ioredis client: `new Redis(…)` or `new Cluster(…)`, ioredis 5 or newer. */
export interface IoredisClient {
  evalsha(...args: any[]): Promise<unknown>;
  eval(...args: any[]): Promise<unknown>;
  defineCommand(...args: any[]): unknown;
}

/** A node-redis client: `createClient(…)` or `createCluster(…)`, redis 4 or newer, connected. */
export interface NodeRedisClient {
  evalSha(...args: any[]): Promise<unknown>;
  eval(...args: any[]): Promise<unknown>;
  sendCommand(...args: any[]): Promise<unknown>;
}

/** What a fleet primitive answers while Redis cannot decide (the core's `fleet::Unavailable`). */
export type OnUnavailable = 'local' | 'allow' | 'deny' | 'raise';

export interface FleetLimiterOptions<U extends Unit = 'ms'> extends UnitOption<U> {
  /** The Redis client every call goes through; its connection gets a circuit breaker of its own. */
  client: IoredisClient | NodeRedisClient;
  /** The burst: 1 to 4294967295 (and capacity × refillEvery ≤ 2^52 ns with the rate in lowest terms). */
  capacity: number;
  /** Tokens added every `refillEvery`. Default 1. */
  refillAmount?: number;
  /** The refill period. Default 1000 ms. */
  refillEvery?: Duration;
  /** Put before every key: `<prefix>{<key>}:limiter`; at most 256 bytes, no braces. Default `'stanchion:'`. */
  prefix?: string;
  /** How long one call may take before it counts as failed: 1 ns to 1 hour. Default 250 ms. */
  timeout?: Duration;
  /** What to answer while Redis cannot decide. Default `'raise'`. */
  onUnavailable?: OnUnavailable;
  /** The share of the fleet's burst and rate the local stand-in holds, in (0, 1]; with `'local'` only. */
  localShare?: number;
}

/** Options of one call: how many tokens, and a signal that abandons it. */
export interface FleetCallOptions {
  /** Tokens to take: 0 to 4294967295. Default 1. */
  n?: number;
  /** Rejects the call with the signal's reason when it aborts (tokens Redis already took stay taken). */
  signal?: AbortSignal;
}

/** An admitted request. */
export interface FleetAdmitted<U extends Unit = 'ms'> {
  ok: true;
  allowed: true;
  /** Whole tokens left in the bucket (0 when `onUnavailable` answered). */
  remaining: number;
  retryAfter: null;
  /** How long until the bucket is full again (0 when `onUnavailable` answered). */
  resetAfter: Time<U>;
  /** Whether `onUnavailable` answered because Redis could not. */
  fallback: boolean;
}

/** A refused request: it took nothing. */
export interface FleetRefused<U extends Unit = 'ms'> {
  ok: false;
  allowed: false;
  reason: 'rate_limited' | 'insufficient_capacity';
  code: 'ERR_RATE_LIMITED' | 'ERR_INSUFFICIENT_CAPACITY';
  remaining: number;
  /** How long until the same request would pass; null when waiting cannot help (or is unknown, under `'deny'`). */
  retryAfter: Time<U> | null;
  resetAfter: Time<U>;
  fallback: boolean;
}

export type FleetAnswer<U extends Unit = 'ms'> = FleetAdmitted<U> | FleetRefused<U>;

/** The error `execute` rejects with when refused: a RateLimitedError with the answer's fields. */
export interface FleetRateLimitedError<U extends Unit = 'ms'> extends RateLimitedError {
  readonly remaining: number;
  readonly resetAfter: Time<U>;
  readonly fallback: boolean;
}

export interface FleetLimiterEvents<U extends Unit = 'ms'> {
  /** Every refusal: the answer (`tryAcquire`, `peek`) or the error (`execute`). */
  reject: [FleetRefused<U> | FleetRateLimitedError<U>];
  /** Every call Redis could not decide, whatever `onUnavailable` then answered. */
  unavailable: [FleetUnavailableError];
}

/**
 * A token bucket shared by every process that uses the same Redis and key, decided by one
 * script call per request on the Redis server's clock.
 *
 * @example
 * const limiter = new FleetLimiter({ client: redis, capacity: 20, refillAmount: 10, refillEvery: 1_000 });
 * const answer = await limiter.tryAcquire('tenant-7');
 * if (!answer.ok) console.log(`retry in ${answer.retryAfter} ms`);
 */
export class FleetLimiter<U extends Unit = 'ms'> extends EventEmitter<FleetLimiterEvents<U>> {
  constructor(options: FleetLimiterOptions<U>);
  /**
   * The breaker guarding the client's connection, shared by every fleet primitive on that
   * client: the core's `fleet::connection_breaker_for` the longest `timeout` among them.
   */
  readonly breaker: CircuitBreaker;
  readonly onUnavailable: OnUnavailable;
  /** The local stand-in's bucket under `'local'`, else null. */
  readonly localBucket: { capacity: number; refillAmount: number; refillEvery: Time<U> } | null;
  /** `<prefix>{<key>}:limiter`. */
  redisKey(key: string): string;
  /**
   * Takes `n` tokens (a number, or `{ n, signal }`); resolves to the answer, refusals included.
   * Rejects with a FleetError when Redis answers with an error that waiting will not change.
   */
  tryAcquire(key: string, options?: number | FleetCallOptions): Promise<FleetAnswer<U>>;
  /** What `tryAcquire` would answer, taking nothing. */
  peek(key: string, options?: number | FleetCallOptions): Promise<FleetAnswer<U>>;
  /** Takes `n` tokens, then runs `fn(signal)`; rejects with a RateLimitedError when refused. */
  execute<T>(key: string, fn: Task<T>, options?: FleetCallOptions): Promise<T>;
}

// ---- the quota --------------------------------------------------------------------------------

export interface FleetQuotaOptions {
  /** The Redis client every call goes through; its connection gets a circuit breaker of its own. */
  client: IoredisClient | NodeRedisClient;
  /** Put before every key: `<prefix>{<name>:<bucket>}:quota`; at most 256 bytes, no braces. Default `'stanchion:'`. */
  prefix?: string;
  /** How many buckets (keys on their own cluster slots) the stock is split over: 1 to 1024. Default 1. */
  buckets?: number;
  /** How long a bucket remembers a request id: 1 ms to 2^40 ms, kept in whole ms. Default 10 minutes. */
  idMemory?: Duration;
  /** How many units a pool takes from Redis when it runs dry: 1 to 2^53 - 1. Default 100. */
  batch?: number;
  /** How long one call may take before it counts as failed: 1 ns to 1 hour. Default 250 ms. */
  timeout?: Duration;
}

/** Options of one take. */
export interface QuotaTakeOptions {
  /** Units to take: 1 to 2^53 - 1. Default 1. */
  n?: number;
  /** Charges the take once however often it is retried while remembered: 1 to 256 bytes. */
  requestId?: string;
  /** Rejects the take with the signal's reason when it aborts (units Redis already took stay taken). */
  signal?: AbortSignal;
}

/** A take the quota served. */
export interface QuotaTaken {
  /** The bucket that served it. */
  bucket: number;
  /** The units left in that bucket (the whole stock with one bucket); for a replayed take, what is left now. */
  remaining: number;
  /** The request id was remembered: an earlier call with it was served, and this one took nothing. */
  replayed: boolean;
}

export interface FleetQuotaEvents {
  /** Every call Redis could not decide (the quota then rejects with this error). */
  unavailable: [FleetUnavailableError];
}

/**
 * A stock of units shared by every process that uses the same Redis, prefix and name: a take
 * never drives it below zero, and a take with a request id is charged once however often it
 * is retried. A quota never falls back: while Redis cannot decide it rejects with a
 * FleetUnavailableError.
 *
 * @example
 * const stock = new FleetQuota({ client: redis, prefix: 'shop:stock:', buckets: 8 });
 * await stock.restock('sku-42', 1_000);
 * const taken = await stock.take('sku-42', { n: 1, requestId: 'order-7781' });
 */
export class FleetQuota extends EventEmitter<FleetQuotaEvents> {
  constructor(options: FleetQuotaOptions);
  /** The breaker guarding the client's connection, shared by every fleet primitive on that client. */
  readonly breaker: CircuitBreaker;
  /** How many buckets the stock is split over. */
  readonly buckets: number;
  /** How many units a pool takes from Redis when it runs dry. */
  readonly batch: number;
  /**
   * `<prefix>{<name>:<bucket>}:quota` (bucket 0 by default).
   *
   * @example
   * new FleetQuota({ client: redis, buckets: 4 }).redisKey('sku-42', 3); // 'stanchion:{sku-42:3}:quota'
   */
  redisKey(name: string, bucket?: number): string;
  /**
   * The bucket a take with `requestId` starts at: FNV-1a of its UTF-8 bytes, modulo `buckets`.
   *
   * @example
   * new FleetQuota({ client: redis, buckets: 8 }).startBucket('order-1'); // 5
   */
  startBucket(requestId: string): number;
  /**
   * Takes `n` units (a number, or `{ n, requestId, signal }`); rejects with a SoldOutError when
   * no bucket holds them, a FleetUnavailableError when Redis cannot decide.
   *
   * @example
   * const { bucket, remaining, replayed } = await stock.take('sku-42', { n: 1, requestId: 'order-7781' });
   */
  take(name: string, options?: number | QuotaTakeOptions): Promise<QuotaTaken>;
  /**
   * Adds `n` units spread over the buckets; resolves to the units they held after, summed.
   *
   * @example
   * await stock.restock('sku-42', 1_000);
   */
  restock(name: string, n: number): Promise<number>;
  /**
   * The units the quota holds, summed over its buckets.
   *
   * @example
   * console.log(`${await stock.remaining('sku-42')} left`);
   */
  remaining(name: string): Promise<number>;
  /**
   * The units one bucket holds.
   *
   * @example
   * for (let b = 0; b < stock.buckets; b++) console.log(b, await stock.bucketRemaining('sku-42', b));
   */
  bucketRemaining(name: string, bucket: number): Promise<number>;
  /**
   * A local pool of the quota's units, taken from Redis `batch` at a time.
   *
   * @example
   * const pool = credits.pool('tenant-7');
   */
  pool(name: string): QuotaPool;
}

/** Options of one pool take. */
export interface QuotaPoolTakeOptions {
  /** Units to take: 1 to 2^53 - 1. Default 1. */
  n?: number;
  /** Rejects the take with the signal's reason when it aborts (a batch on its way still lands in the pool). */
  signal?: AbortSignal;
}

/**
 * A process's local pool of one quota's units, handed out with no round trip; one call takes a
 * batch from Redis when it runs dry. Give back what it holds with `close()`.
 *
 * @example
 * const pool = credits.pool('tenant-7');
 * await pool.take();
 * const returned = await pool.close();
 */
export class QuotaPool {
  private constructor();
  /** The quota's name. */
  readonly name: string;
  /** The units the pool holds now. */
  readonly local: number;
  /** Whether `close()` was called. */
  readonly closed: boolean;
  /**
   * Takes `n` units (a number, or `{ n, signal }`); rejects with a SoldOutError when neither
   * the pool nor any bucket holds them.
   *
   * @example
   * await pool.take(3);
   */
  take(options?: number | QuotaPoolTakeOptions): Promise<void>;
  /**
   * Gives every unit held back to the quota; resolves to how many.
   *
   * @example
   * const returned = await pool.giveBack();
   */
  giveBack(): Promise<number>;
  /**
   * Later takes reject (`ERR_QUOTA_POOL_CLOSED`); what the pool holds goes back. Resolves to
   * the units returned.
   *
   * @example
   * const returned = await pool.close();
   */
  close(): Promise<number>;
}

/** The prefix of every Redis key unless configured otherwise: `'stanchion:'`. */
export const DEFAULT_PREFIX: string;
/** The timeout of every call unless configured otherwise, in milliseconds (250). */
export const DEFAULT_TIMEOUT: number;
/** The lease time of a fleet semaphore or lock unless configured otherwise, in milliseconds (30 000). */
export const DEFAULT_LEASE: number;
