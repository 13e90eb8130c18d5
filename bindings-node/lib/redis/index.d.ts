// Types of stanchion/redis, the fleet tier: limits kept in Redis and decided by one script
// call each, with the user's own ioredis or node-redis client. Durations are milliseconds as
// `number` (or exact nanoseconds as `bigint` with `unit: 'ns'`), as in the rest of the package.

import { EventEmitter } from 'node:events';
import {
  BulkheadFullError,
  CircuitBreaker,
  Duration,
  FleetUnavailableError,
  LeaseLostError,
  LockError,
  RateLimitedError,
  StanchionError,
  Task,
  Time,
  Unit,
  UnitOption,
} from '../index';

export { FleetUnavailableError, RateLimitedError, StanchionError };
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
  /** The breaker guarding the client's connection, shared by every fleet primitive on that client. */
  readonly breaker: CircuitBreaker;
  readonly onUnavailable: OnUnavailable;
  /** The local stand-in's bucket under `'local'`, else null. */
  readonly localBucket: { capacity: number; refillAmount: number; refillEvery: Time<U> } | null;
  /** `<prefix>{<key>}:limiter`. */
  redisKey(key: string): string;
  /** Takes `n` tokens (a number, or `{ n, signal }`); resolves to the answer, refusals included. */
  tryAcquire(key: string, options?: number | FleetCallOptions): Promise<FleetAnswer<U>>;
  /** What `tryAcquire` would answer, taking nothing. */
  peek(key: string, options?: number | FleetCallOptions): Promise<FleetAnswer<U>>;
  /** Takes `n` tokens, then runs `fn(signal)`; rejects with a RateLimitedError when refused. */
  execute<T>(key: string, fn: Task<T>, options?: FleetCallOptions): Promise<T>;
}

/** The prefix of every Redis key unless configured otherwise: `'stanchion:'`. */
export const DEFAULT_PREFIX: string;
/** The timeout of every call unless configured otherwise, in milliseconds (250). */
export const DEFAULT_TIMEOUT: number;
/** The lease time of a fleet semaphore or lock unless configured otherwise, in milliseconds (30 000). */
export const DEFAULT_LEASE: number;
