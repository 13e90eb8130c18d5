// Types of the public API. Durations are milliseconds as `number`; a clock returns
// milliseconds as a `number` (or exact nanoseconds as a `bigint`). The generated declarations
// of the addon underneath are in ../native/index.d.ts.

import { EventEmitter } from 'node:events';

/** Milliseconds as a number, or exact nanoseconds as a bigint. */
export type Duration = number | bigint;

/** A monotonic clock: milliseconds as a number (default `performance.now`), or nanoseconds as a bigint. */
export type Clock = () => number | bigint;

/**
 * What an instance gives instants and durations back in: `'ms'`, milliseconds as numbers (the
 * default), or `'ns'`, exact nanoseconds as bigints.
 */
export type Unit = 'ms' | 'ns';

/** An instant or a duration as an instance of unit `U` gives it back. */
export type Time<U extends Unit = 'ms'> = U extends 'ns' ? bigint : number;

/** The `unit` option of every class that gives times back. */
export interface UnitOption<U extends Unit> {
  /** `'ms'` (numbers, default) or `'ns'` (exact bigints) for every time this instance gives back. */
  unit?: U;
}

/** What every `execute` passes to the function it runs. */
export type Task<T> = (signal: AbortSignal | undefined) => T | PromiseLike<T>;

/** Options of every `execute`. */
export interface ExecuteOptions {
  /** Cancels waits and retries, releases every permit and probe slot, and rejects with its reason. */
  signal?: AbortSignal;
}

/** The core's stable refusal names. */
export type Reason =
  | 'breaker_open'
  | 'half_open_full'
  | 'forced_open'
  | 'rate_limited'
  | 'insufficient_capacity'
  | 'bulkhead_full'
  | 'queue_full'
  | 'retry_budget_exhausted'
  | 'table_full'
  /** Not the core's: a fleet primitive's store could not decide (`stanchion/redis`). */
  | 'fleet_unavailable'
  /** Not the core's: the store answered a fleet primitive with an error (`stanchion/redis`). */
  | 'fleet_error'
  /** Not the core's: no bucket of a fleet quota held the units asked for (`stanchion/redis`). */
  | 'sold_out'
  /** Not the core's: the fleet lock's refusals and a lost lease (`stanchion/redis`). */
  | 'lock_held'
  | 'lock_wait_timeout'
  | 'lock_replicas'
  | 'lock_no_quorum'
  | 'lease_lost';

/** Stable error codes, one per reason. */
export type ErrorCode =
  | 'ERR_CIRCUIT_OPEN'
  | 'ERR_CIRCUIT_HALF_OPEN_FULL'
  | 'ERR_CIRCUIT_FORCED_OPEN'
  | 'ERR_RATE_LIMITED'
  | 'ERR_INSUFFICIENT_CAPACITY'
  | 'ERR_BULKHEAD_FULL'
  | 'ERR_BULKHEAD_QUEUE_FULL'
  | 'ERR_RETRY_BUDGET_EXHAUSTED'
  | 'ERR_KEY_TABLE_FULL'
  | 'ERR_FLEET_UNAVAILABLE'
  | 'ERR_FLEET'
  | 'ERR_SOLD_OUT'
  | 'ERR_LOCK_HELD'
  | 'ERR_LOCK_WAIT_TIMEOUT'
  | 'ERR_LOCK_REPLICAS'
  | 'ERR_LOCK_NO_QUORUM'
  | 'ERR_LEASE_LOST';

/** A refusal from a `tryAcquire` form: plain data, no stack trace. */
export interface Refusal<U extends Unit = 'ms'> {
  ok: false;
  reason: Reason;
  code: ErrorCode;
  /** Milliseconds (or ns) until the same call would pass; null when waiting cannot help. */
  retryAfter: Time<U> | null;
}

/** An admission that carries nothing to give back. */
export interface Admitted {
  ok: true;
}

/** The base of every refusal error. */
export class StanchionError extends Error {
  constructor(message: string, code: string, reason: Reason, retryAfter: number | bigint | null);
  readonly code: ErrorCode;
  readonly reason: Reason;
  /** Milliseconds (a bigint of ns from a `unit: 'ns'` instance) until the same call would pass; null when waiting cannot help. */
  readonly retryAfter: number | bigint | null;
}
/** The circuit breaker refused the call (`ERR_CIRCUIT_OPEN`, `ERR_CIRCUIT_HALF_OPEN_FULL`, `ERR_CIRCUIT_FORCED_OPEN`). */
export class CircuitOpenError extends StanchionError {}
/** A rate limiter refused the call (`ERR_RATE_LIMITED`, `ERR_INSUFFICIENT_CAPACITY`, `ERR_KEY_TABLE_FULL`). */
export class RateLimitedError extends StanchionError {}
/** The bulkhead or its queue is full (`ERR_BULKHEAD_FULL`, `ERR_BULKHEAD_QUEUE_FULL`). */
export class BulkheadFullError extends StanchionError {
  /** From a `FleetSemaphore` (`stanchion/redis`): the leases held when it refused. */
  readonly holders?: number;
  /** From a `FleetSemaphore`: ms until the earliest lease expires, unless renewed or released first. */
  readonly nextExpiryIn?: number;
}
/** The retry budget refused a retry (`ERR_RETRY_BUDGET_EXHAUSTED`); `cause` is the last error. */
export class RetryBudgetExhaustedError extends StanchionError {}
/**
 * The store answered a fleet primitive with an error that waiting will not change (`ERR_FLEET`,
 * reason `'fleet_error'`): a key holding another type (`WRONGTYPE`), a script's own error.
 * `cause` is the store's error; no `onUnavailable` policy answers it. FleetUnavailableError
 * is its subclass.
 *
 * @example
 * try {
 *   await limiter.tryAcquire('tenant-7');
 * } catch (error) {
 *   if (error instanceof FleetError && !(error instanceof FleetUnavailableError)) console.error(error.cause);
 * }
 */
export class FleetError extends StanchionError {
  readonly code: 'ERR_FLEET' | 'ERR_FLEET_UNAVAILABLE';
  readonly reason: 'fleet_error' | 'fleet_unavailable';
  readonly cause: unknown;
}
/**
 * A fleet primitive's store could not decide and its `onUnavailable` policy is `'raise'` (a
 * quota always raises) (`ERR_FLEET_UNAVAILABLE`, reason `'fleet_unavailable'`): a timeout, a
 * connection failure, an error reply meaning the server cannot decide now (`LOADING`,
 * `READONLY`, `CLUSTERDOWN`, …), or the breaker guarding the connection open. `cause` is that
 * error; `retryAfter` is when an open breaker lets a probe through, else null.
 */
export class FleetUnavailableError extends FleetError {
  readonly code: 'ERR_FLEET_UNAVAILABLE';
  readonly reason: 'fleet_unavailable';
}
/**
 * A fleet quota's take that no bucket could serve (`ERR_SOLD_OUT`, reason `'sold_out'`):
 * nothing was taken. `retryAfter` is null: only a restock helps.
 *
 * @example
 * try {
 *   await stock.take('sku-42', 2);
 * } catch (error) {
 *   if (error instanceof SoldOutError) console.log(`${error.requested} asked, ${error.remaining} left`);
 * }
 */
export class SoldOutError extends StanchionError {
  readonly code: 'ERR_SOLD_OUT';
  readonly reason: 'sold_out';
  readonly retryAfter: null;
  /** The units asked for. */
  readonly requested: number;
  /** The units the buckets held when the take visited them, summed. */
  readonly remaining: number;
}
/**
 * A fleet lock was not acquired (`stanchion/redis`): held by another holder (`ERR_LOCK_HELD`,
 * `retryAfter` its remaining lease in ms), still held when the wait ran out
 * (`ERR_LOCK_WAIT_TIMEOUT`, `waited` ms), fewer replicas acknowledged it than asked
 * (`ERR_LOCK_REPLICAS`, `acknowledged` of `wanted`; it was released) or fewer RedLock servers
 * than a quorum granted it (`ERR_LOCK_NO_QUORUM`, `granted` of `needed`; released everywhere).
 */
export class LockError extends StanchionError {
  readonly code: 'ERR_LOCK_HELD' | 'ERR_LOCK_WAIT_TIMEOUT' | 'ERR_LOCK_REPLICAS' | 'ERR_LOCK_NO_QUORUM';
  readonly reason: 'lock_held' | 'lock_wait_timeout' | 'lock_replicas' | 'lock_no_quorum';
  readonly retryAfter: number | null;
  /** The lock's name. */
  readonly lock: string;
  /** `ERR_LOCK_WAIT_TIMEOUT`: how long the caller waited, in ms. */
  readonly waited?: number;
  /** `ERR_LOCK_REPLICAS`: the replicas that acknowledged the lease, and those asked for. */
  readonly acknowledged?: number;
  readonly wanted?: number;
  /** `ERR_LOCK_NO_QUORUM`: the servers that granted the lease, and those needed. */
  readonly granted?: number;
  readonly needed?: number;
}
/**
 * A fleet lease (a lock, a fleet bulkhead slot) was lost while held (`ERR_LEASE_LOST`): a
 * renewal found it gone (`lost: 'gone'`) or failed (`lost: 'failed'`; `cause` is the store's
 * error, and the lease may or may not still be held until it expires).
 */
export class LeaseLostError extends StanchionError {
  readonly code: 'ERR_LEASE_LOST';
  readonly reason: 'lease_lost';
  readonly retryAfter: null;
  readonly lost: 'gone' | 'failed';
  readonly cause?: unknown;
}
/** A policy's timeout or attempt timeout passed (`ERR_TIMEOUT`); `timeout` is the one that did, in ms. */
export class TimeoutError extends Error {
  readonly code: 'ERR_TIMEOUT';
  readonly timeout: number;
}

// ---- circuit breaker ------------------------------------------------------------------------

export type BreakerState = 'closed' | 'open' | 'half_open' | 'forced_open' | 'disabled';
export type Outcome = 'success' | 'failure' | 'ignored';

export interface StateChange {
  from: BreakerState;
  to: BreakerState;
}

export interface BreakerOptions<U extends Unit = 'ms'> extends UnitOption<U> {
  /** Trip when the window holds this many failures; null turns it off. Default 5. */
  failureCount?: number | null;
  /** Trip after this many failures in a row. */
  consecutiveFailures?: number;
  /** Trip when the window's failure share reaches this rate, in (0, 1]. */
  failureRate?: number;
  /** The fewest calls in the window before a rate trigger may trip. Default 10. */
  minimumCalls?: number;
  /** A call at least `duration` long is slow; trip when the slow share reaches `rate`. */
  slowCall?: { duration: Duration; rate?: number };
  /** The last `count` calls (at most 320), or `span` ms in `buckets` slices (at most 10). Default 10 s in 10. */
  window?: { count: number } | { span: Duration; buckets?: number };
  /** How long a trip keeps it open. Default 30 000 ms. */
  openFor?: Duration;
  /** The longest open period when trips repeat. Default `openFor`. */
  openForMax?: Duration;
  /** Growth of the open period per trip in a row. Default 2. */
  openForFactor?: number;
  /** Proportional jitter of the open period, in [0, 1]. Default 0. */
  openForJitter?: number;
  /** Probes admitted at once while half-open. Default 1. */
  halfOpenProbes?: number;
  /** Successful probes that close it. Default `halfOpenProbes`. */
  halfOpenSuccesses?: number;
  /** A probe silent for this long frees its slot as a failed probe. Default: the slow-call duration, else 60 s. */
  probeTimeout?: Duration;
  /** Seed of the open-period jitter. */
  seed?: number | bigint;
  /** How a thrown error counts. Default: every error is a failure. */
  classify?: (error: unknown) => Outcome;
  clock?: Clock;
}

export interface BreakerSnapshot<U extends Unit = 'ms'> {
  state: BreakerState;
  generation: number;
  /** When an open breaker admits the next probe (ms on the clock's scale, or ns); null unless open. */
  openUntil: Time<U> | null;
  probesInFlight: number;
  halfOpenSuccesses: number;
  windowCalls: number;
  windowFailures: number;
  windowSlowCalls: number;
  consecutiveFailures: number;
  consecutiveTrips: number;
  calls: number;
  successes: number;
  failures: number;
  slowCalls: number;
  rejectedOpen: number;
  rejectedHalfOpenFull: number;
  rejectedForcedOpen: number;
  rejected: number;
  transitions: number;
  failureRate: number;
  slowCallRate: number;
}

/**
 * A permit from `CircuitBreaker.tryAcquire`: call `record` or `release` once. One collected
 * while held is released, as the core's permit is when dropped (recording nothing).
 */
export class BreakerPermit {
  readonly ok: true;
  record(outcome: Outcome): void;
  release(): void;
}

export interface BreakerEvents<U extends Unit = 'ms'> {
  stateChange: [StateChange];
  reject: [CircuitOpenError | Refusal<U>];
}

/** The core's default circuit breaker. Events: `stateChange`, `reject`. */
export class CircuitBreaker<U extends Unit = 'ms'> extends EventEmitter<BreakerEvents<U>> {
  constructor(options?: BreakerOptions<U>);
  execute<T>(fn: Task<T>, options?: ExecuteOptions): Promise<T>;
  tryAcquire(): BreakerPermit | Refusal<U>;
  forceOpen(): StateChange | null;
  disable(): StateChange | null;
  reset(): StateChange | null;
  /** Every option but `unit`, which an instance keeps. */
  reconfigure(options: Omit<BreakerOptions, 'unit'>): void;
  readonly state: BreakerState;
  snapshot(): BreakerSnapshot<U>;
}

// ---- rate limiters --------------------------------------------------------------------------

export interface RateLimiterOptions<U extends Unit = 'ms'> extends UnitOption<U> {
  /** The burst, >= 1. */
  capacity: number;
  /** Tokens added every `refillEvery`. Default 1. */
  refillAmount?: number;
  /** The refill period. Default 1000 ms. */
  refillEvery?: Duration;
  clock?: Clock;
}

export interface AcquireOptions extends ExecuteOptions {
  /** Tokens to take. Default 1. */
  n?: number;
  /** The longest wait accepted; a longer one is refused and takes nothing. Default Infinity. */
  maxWait?: Duration;
}

export interface Reservation<U extends Unit = 'ms'> {
  ok: true;
  /** When to proceed (ms on the clock's scale, or ns). */
  readyAt: Time<U>;
}

export interface BucketSnapshot<U extends Unit = 'ms'> {
  available: number;
  capacity: number;
  nextTokenAt: Time<U> | null;
  fullAt: Time<U>;
}

export interface LimiterEvents<U extends Unit = 'ms'> {
  reject: [RateLimitedError | Refusal<U>];
}

/** A token bucket (GCRA). Events: `reject`. */
export class RateLimiter<U extends Unit = 'ms'> extends EventEmitter<LimiterEvents<U>> {
  constructor(options: RateLimiterOptions<U>);
  tryAcquire(n?: number): Admitted | Refusal<U>;
  acquire(options?: AcquireOptions): Promise<void>;
  execute<T>(fn: Task<T>, options?: AcquireOptions): Promise<T>;
  reserve(n?: number, maxWait?: Duration): Reservation<U> | Refusal<U>;
  available(): number;
  snapshot(): BucketSnapshot<U>;
}

export type Key = string | number | bigint;

export interface KeyedRateLimiterOptions<U extends Unit = 'ms'> extends RateLimiterOptions<U> {
  /** The exact table size: 1 to 16, or a power of two from 32 to 65536. Default 1024. */
  maxKeys?: number;
  /** What a new key gets when every slot holds an active key. Default 'reject'. */
  whenFull?: 'reject' | 'admit';
}

/** A token bucket per key in a fixed table. Events: `reject`. */
export class KeyedRateLimiter<U extends Unit = 'ms'> extends EventEmitter<LimiterEvents<U>> {
  constructor(options: KeyedRateLimiterOptions<U>);
  readonly maxKeys: number;
  tryAcquire(key: Key, n?: number): Admitted | Refusal<U>;
  acquire(key: Key, options?: AcquireOptions): Promise<void>;
  reserve(key: Key, n?: number, maxWait?: Duration): Reservation<U> | Refusal<U>;
  available(key: Key): number;
  snapshot(key: Key): BucketSnapshot<U>;
  activeKeys(): number;
}

// ---- bulkhead -------------------------------------------------------------------------------

export interface BulkheadOptions {
  /** Calls admitted at once. */
  maxConcurrent: number;
  /** Ceilings per priority lane, lane 0 first, never rising. Default one lane. */
  lanes?: number[];
  /** Callers that may wait at once, 0 to 65535. Default: the core's, as many as the waiter table holds (1024). */
  maxWaiting?: number;
}

export interface BulkheadAcquireOptions extends ExecuteOptions {
  /** Priority lane (0 is the highest). Default 0. */
  lane?: number;
}

export interface BulkheadSnapshot {
  inFlight: number;
  peak: number;
  waiting: number;
  rejected: number;
  maxConcurrent: number;
}

/** A bulkhead permit: `release()` once (later calls return false). One collected while held is released. */
export class BulkheadPermit {
  readonly ok: true;
  readonly lane: number | null;
  release(): boolean;
}

export interface BulkheadEvents {
  reject: [BulkheadFullError | Refusal];
}

/** A concurrency cap with priority lanes and a FIFO wait queue. Events: `reject`. */
export class Bulkhead extends EventEmitter<BulkheadEvents> {
  constructor(options: BulkheadOptions);
  tryAcquire(lane?: number): BulkheadPermit | Refusal;
  acquire(options?: BulkheadAcquireOptions): Promise<BulkheadPermit>;
  execute<T>(fn: Task<T>, options?: BulkheadAcquireOptions): Promise<T>;
  snapshot(): BulkheadSnapshot;
}

// ---- adaptive limiter -----------------------------------------------------------------------

/**
 * How a call through an AdaptiveLimiter ended: `'success'` and `'failure'` are latency samples,
 * `'dropped'` is a timeout or an overload refusal from further down (it lowers the limit),
 * `'ignored'` samples nothing.
 */
export type AdaptiveOutcome = 'success' | 'failure' | 'ignored' | 'dropped';

/**
 * How the limit follows the latency, by name (with the core's default parameters) or with
 * parameters; each left out keeps the core's default.
 */
export type AdaptiveAlgorithm =
  | 'aimd'
  | 'vegas'
  | 'gradient2'
  | {
      /** Additive increase, multiplicative decrease (the default). */
      name: 'aimd';
      /** The factor a drop multiplies the limit by, in [0.5, 1). Default 0.9. */
      backoffRatio?: number;
      /** A window whose mean latency is above this counts as a drop (at least 1 ns). Default 5 000 ms. */
      timeout?: Duration;
    }
  | {
      /** The queue the latency implies over a no-load baseline. */
      name: 'vegas';
      /** Below `alpha × log` queued calls the limit grows by `log`; 0 to 65535. Default 3. */
      alpha?: number;
      /** Above `beta × log` queued calls the limit shrinks by `log`; 0 to 65535. Default 6. */
      beta?: number;
      /** The baseline is measured afresh every `probeMultiplier × L` windows (jittered); 1 to 65535. Default 30. */
      probeMultiplier?: number;
      /** How far each update moves the limit, in (0, 1]. Default 1. */
      smoothing?: number;
    }
  | {
      /** The latency against its long-term average. */
      name: 'gradient2';
      /** How far each update moves the limit, in (0, 1]. Default 0.2. */
      smoothing?: number;
      /** Calls allowed to queue on top of `L × gradient`; 0 to 65535. Default 4. */
      queueSize?: number;
      /** The long average's span, in windows; 1 to 65535. Default 600. */
      longWindow?: number;
      /** How much slower than the long average a window may be before the limit shrinks, in [1, 1000]. Default 1.5. */
      rttTolerance?: number;
      /** Add `queueSize` only at a gradient of 1, so a limit under moderate overload does not creep up. Default false. */
      creepGuard?: boolean;
    };

export interface AdaptiveLimiterOptions<U extends Unit = 'ms'> extends UnitOption<U> {
  /** Default `'aimd'`. */
  algorithm?: AdaptiveAlgorithm;
  /** The limit before the first update, in [`minLimit`, `maxLimit`]. Default 20. */
  initialLimit?: number;
  /** The lowest the limit goes, at least 1. Default 1. */
  minLimit?: number;
  /** The highest the limit goes, at most 65535. Default 1000. */
  maxLimit?: number;
  /** The fewest samples that close a window, at least 1. Default 10. */
  minSamples?: number;
  /** The shortest a window lasts, from its first sample. Default 1 000 ms. */
  window?: Duration;
  /** Callers that may wait at once, 0 to 65535. Default: the core's, as many as the waiter table holds (1024). */
  maxWaiting?: number;
  /** Seed of the Vegas probe jitter. Default 0. */
  seed?: number | bigint;
  /** Which errors of `execute`'s function are drops (a downstream refusal for overload); the rest are latency samples. Default: timeouts. */
  dropOn?: (error: unknown) => boolean;
  clock?: Clock;
}

/** A change of limit made by one report. */
export interface LimitChange {
  from: number;
  to: number;
}

export interface AdaptiveSnapshot<U extends Unit = 'ms'> {
  /** The limit in force. */
  limit: number;
  /** Permits out (may exceed `limit` just after it was lowered, while they drain). */
  inFlight: number;
  waiting: number;
  peak: number;
  rejected: number;
  /** Vegas's no-load latency or Gradient2's long average (ms, or ns); null for AIMD and before the first window. */
  baseline: Time<U> | null;
  /** When the last window closed, on the clock's scale (ms, or ns); null before the first. */
  lastUpdate: Time<U> | null;
  /** Windows closed so far. */
  windows: number;
}

/**
 * An adaptive limiter's permit: `record(outcome)` or `release()` once (later calls do nothing).
 * One collected while held is released, with no sample.
 */
export class AdaptivePermit {
  readonly ok: true;
  /** The calls in flight when it was admitted, itself included; null once reported. */
  readonly inFlight: number | null;
  /** Reports how the call ended and gives the permit back; the change of limit it made, else null. */
  record(outcome: AdaptiveOutcome): LimitChange | null;
  /** Gives the permit back with no sample; true the first time. */
  release(): boolean;
}

export interface AdaptiveLimiterEvents {
  limitChange: [LimitChange];
  reject: [BulkheadFullError | Refusal];
}

/**
 * A concurrency limit that follows the measured latency (AIMD, Vegas or Gradient2), with a
 * bulkhead's FIFO wait queue. Events: `limitChange`, `reject`.
 */
export class AdaptiveLimiter<U extends Unit = 'ms'> extends EventEmitter<AdaptiveLimiterEvents> {
  constructor(options?: AdaptiveLimiterOptions<U>);
  tryAcquire(): AdaptivePermit | Refusal<U>;
  acquire(options?: ExecuteOptions): Promise<AdaptivePermit>;
  /** Resolved: a success; rejected: a failure, or a drop when `dropOn` says so; aborted: no sample. */
  execute<T>(fn: Task<T>, options?: ExecuteOptions): Promise<T>;
  /** The limit in force. */
  readonly limit: number;
  snapshot(): AdaptiveSnapshot<U>;
}

// ---- backoff, budget, retry -----------------------------------------------------------------

export type Jitter = 'none' | 'full' | 'equal' | { proportional: number };

interface BackoffLimits<U extends Unit> extends UnitOption<U> {
  jitter?: Jitter;
  /** The longest wait, a Retry-After hint included. */
  maxDelay?: Duration;
  /** Every call, the first included; null for no limit. Default 3. */
  maxAttempts?: number | null;
  /** No retry whose wait would end later than this after the first call started. */
  maxElapsed?: Duration;
}

export type BackoffOptions<U extends Unit = 'ms'> = BackoffLimits<U> &
  (
    | { schedule: 'constant'; delay: Duration }
    | { schedule: 'linear'; initial: Duration; step: Duration }
    | { schedule: 'exponential'; initial: Duration; factor?: number }
    | { schedule: 'decorrelated'; base: Duration }
  );

/** The backoff state of one retried call (the core's `Retrying`). */
export interface Retrying<U extends Unit = 'ms'> {
  /** The next wait in ms (or ns), -1 at `maxAttempts`, -2 past `maxElapsed`; `hint`: ms, or ns as a bigint. */
  nextDelay(now: number | bigint, hint?: number | bigint): Time<U>;
  readonly retries: number;
}

export class Backoff<U extends Unit = 'ms'> {
  constructor(options: BackoffOptions<U>);
  /** The wait (ms, or ns) before call `attempt + 2`, or null: stop. */
  delay(attempt: number, seed?: number | bigint): Time<U> | null;
  delays(seed?: number | bigint, limit?: number): Time<U>[];
  start(seed: number | bigint, now: number | bigint): Retrying<U>;
}

export interface RetryBudgetOptions<U extends Unit = 'ms'> extends UnitOption<U> {
  /** Tokens each first attempt deposits, in [0, 1000]. */
  ratio: number;
  /** The floor's refill rate; 0 turns it off. Default 10. */
  minRetriesPerSec?: number;
  /** The most deposited tokens kept. Default 100. */
  maxBalance?: number;
  clock?: Clock;
}

export interface RetryBudgetSnapshot {
  /** Millionths of a token. */
  balance: number;
  floorTokens: number;
  retriesAvailable: number;
  retriesAllowed: number;
  retriesRefused: number;
}

export class RetryBudget<U extends Unit = 'ms'> {
  constructor(options: RetryBudgetOptions<U>);
  deposit(): void;
  tryRetry(): Admitted | Refusal<U>;
  snapshot(): RetryBudgetSnapshot;
}

// ---- deadline ------------------------------------------------------------------------------

/** A deadline `timeout` after now, or `at` an instant of the clock: exactly one of the two. */
export type DeadlineOptions<U extends Unit = 'ms'> = UnitOption<U> &
  (
    | { /** How long from now. */ timeout: Duration; at?: undefined; clock?: Clock }
    | { /** The instant, on the clock's scale (milliseconds, or nanoseconds as a bigint). */ at: number | bigint; timeout?: undefined; clock?: Clock }
  );

/** One instant for a whole call; a call should not start once it has expired. */
export class Deadline<U extends Unit = 'ms'> {
  constructor(options: DeadlineOptions<U>);
  /** When it expires, in milliseconds (or ns) on the clock's scale. */
  readonly expiresAt: Time<U>;
  /** Milliseconds (or ns) left now; 0 once expired. */
  remaining(): Time<U>;
  /** Whether it has expired now (from the instant `expiresAt` itself on). */
  isExpired(): boolean;
  /** The earlier of the two, on this deadline's clock. */
  min(other: Deadline<Unit>): Deadline<U>;
}

export interface RetryOptions<U extends Unit = 'ms'> extends UnitOption<U> {
  /** Default: exponential from 100 ms, factor 2, full jitter, 3 attempts. */
  backoff?: Backoff<Unit> | BackoffOptions<Unit>;
  budget?: RetryBudget<Unit>;
  /** Which errors are worth another attempt (a refusal of stanchion's guards is the core's to judge). Default: all but aborts. */
  retryIf?: (error: unknown, attempt: number) => boolean;
  /** Retry a guard's refusal (breaker, bulkhead, limiter) after at least its `retryAfter`. Default false: a refusal ends the call. */
  retryRefusals?: boolean;
  /** Seed of the jitter; random per call by default. */
  seed?: number | bigint;
  clock?: Clock;
}

/** Why a retried call made no further attempt, as the core names it (`StopReason::as_str`). */
export type StopReason = 'not_retryable' | 'max_attempts' | 'max_elapsed' | 'deadline' | 'budget_exhausted' | 'refused';

export interface RetryEvents<U extends Unit = 'ms'> {
  /** Before each wait: the attempts made so far, the wait, the error. */
  retry: [{ attempt: number; delay: Time<U>; error: unknown }];
  /** When a failed call stops: its last error, why, and the attempts made. */
  giveUp: [{ error: unknown; reason: StopReason; attempts: number }];
}

/** The core's answer after a failed attempt. */
export interface RetryDecision<U extends Unit = 'ms'> {
  next: 'retry' | 'stop';
  /** Sleep this long, then `resume()`; null when stopping. */
  wait: Time<U> | null;
  stop: StopReason | null;
  /** Attempts made so far, the first included. */
  attempts: number;
  /** When stopping: what `execute` rejects with (the last error, or a RetryBudgetExhaustedError whose `cause` it is). */
  error: unknown;
}

/** The core's answer when a wait is over. */
export interface RetryResumed {
  proceed: boolean;
  /** The attempt to make (from 2), or null. */
  attempt: number | null;
  stop: 'deadline' | null;
}

/** One call's retry decisions, step by step (the core's `RetryLoop`): what `execute` runs. */
export class RetryCall<U extends Unit = 'ms'> {
  /** Attempts made or begun so far, the first included; 0 when the deadline stopped the first. */
  readonly attempts: number;
  /** Why no further attempt is made, or null while the call goes on. */
  readonly stop: StopReason | null;
  failed(error: unknown): RetryDecision<U>;
  resume(): RetryResumed;
}

export class Retry<U extends Unit = 'ms'> extends EventEmitter<RetryEvents<U>> {
  constructor(options?: RetryOptions<U>);
  execute<T>(fn: (signal: AbortSignal | undefined, attempt: number) => T | PromiseLike<T>, options?: ExecuteOptions): Promise<T>;
  /** Begins one call's decisions, for a loop of your own; `deadline` (on this retry's clock) bounds it. */
  start(options?: { deadline?: Deadline<Unit> }): RetryCall<U>;
}

// ---- policy ---------------------------------------------------------------------------------

export interface PolicyOptions<F = never> {
  /** Answers instead of any error (outermost). */
  fallback?: (error: unknown) => F | PromiseLike<F>;
  /** One deadline for the whole call, retries included. */
  timeout?: Duration;
  /**
   * The longest one attempt's call may run, within what remains of `timeout` (at least 1 ns).
   * An attempt past it is a breaker failure and is retried as the retry allows.
   */
  attemptTimeout?: Duration;
  retry?: Retry<Unit>;
  breaker?: CircuitBreaker<Unit>;
  bulkhead?: Bulkhead;
  /**
   * Caps attempts in flight at a limit learned from their latency, the alternative to a fixed
   * `bulkhead` (given both, an attempt holds a permit of each, the bulkhead's first). Each
   * attempt's sample is the core's decision: an answer is a sample (judged as the breaker's
   * `classify` judges errors), a cut-off attempt a drop; an attempt refused, never made or
   * aborted by the caller samples nothing.
   */
  adaptive?: AdaptiveLimiter<Unit>;
  limiter?: RateLimiter<Unit>;
  /** The longest wait for a token. Default Infinity (within the timeout). */
  limiterMaxWait?: Duration;
  clock?: Clock;
}

/** fallback → timeout → retry (with budget) → breaker → bulkhead → adaptive limiter → limiter → the call. */
export class Policy<F = never> {
  constructor(options?: PolicyOptions<F>);
  execute<T>(fn: Task<T>, options?: ExecuteOptions): Promise<T | F>;
}
