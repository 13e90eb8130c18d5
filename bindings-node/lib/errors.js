'use strict';
// Error classes with stable codes, and the refusal values of the `tryAcquire` forms.

/** The base of every refusal: `code` is stable, `retryAfter` is ms or null. */
class StanchionError extends Error {
  constructor(message, code, reason, retryAfter) {
    super(message);
    this.name = new.target.name;
    this.code = code;
    this.reason = reason;
    this.retryAfter = retryAfter;
  }
}

/** The circuit breaker refused the call (open, half-open and full, or forced open). */
class CircuitOpenError extends StanchionError {}
/** A rate limiter refused the call. */
class RateLimitedError extends StanchionError {}
/** The bulkhead is full, or its wait queue is. */
class BulkheadFullError extends StanchionError {}
/** The retry budget has no token for another retry. */
class RetryBudgetExhaustedError extends StanchionError {}

/**
 * The store answered a fleet primitive with an error that waiting will not change
 * (`ERR_FLEET`): a key holding another type (`WRONGTYPE`), a script's own error. `cause` is
 * the store's error. No `onUnavailable` policy answers it, and it counts as an answer for the
 * connection's breaker. FleetUnavailableError is its subclass for a store that could not
 * decide at all.
 */
class FleetError extends StanchionError {}

/**
 * A fleet primitive's store could not decide (`ERR_FLEET_UNAVAILABLE`): it timed out, the
 * connection failed, it answered with an error that means it cannot decide now (`LOADING`,
 * `READONLY`, `CLUSTERDOWN`, …: the core's `fleet::UNAVAILABLE_REPLIES`), or the breaker
 * guarding the connection is open. Raised when the `onUnavailable` policy is `'raise'` (a
 * quota always raises); `cause` is the store's error (a timeout, the client's error, or the
 * breaker's refusal), and `retryAfter` is when the open breaker lets a probe through (null
 * otherwise).
 */
class FleetUnavailableError extends FleetError {}

/**
 * A fleet quota's take that no bucket could serve (`ERR_SOLD_OUT`): every bucket held fewer
 * than `requested` units when the take visited it, and nothing was taken. `remaining` is the
 * units those buckets held, summed (in a quota of several buckets it may be `requested` or
 * more, spread over buckets that each hold fewer). `retryAfter` is null: only a restock helps.
 */
class SoldOutError extends StanchionError {}

/**
 * A fleet lock was not acquired: held by another holder (`ERR_LOCK_HELD`, `retryAfter` its
 * remaining lease), still held when the wait ran out (`ERR_LOCK_WAIT_TIMEOUT`), fewer replicas
 * acknowledged it than asked (`ERR_LOCK_REPLICAS`; it was released) or fewer RedLock servers
 * granted it than a quorum (`ERR_LOCK_NO_QUORUM`; released everywhere).
 */
class LockError extends StanchionError {}

/**
 * A fleet lease (a lock, a fleet bulkhead slot) was lost while held (`ERR_LEASE_LOST`): a
 * renewal found it gone (`lost: 'gone'`: it expired or was taken over) or failed (`lost:
 * 'failed'`, `cause` the store's error: it may still be held until it expires, or not).
 */
class LeaseLostError extends StanchionError {}

/** A policy's timeout (or, for `'attempt'`, its `attemptTimeout`) passed before the call settled. */
class TimeoutError extends Error {
  constructor(timeout, what) {
    super(`${what === 'attempt' ? 'attempt ' : ''}timed out after ${timeout} ms`);
    this.name = 'TimeoutError';
    this.code = 'ERR_TIMEOUT';
    this.timeout = timeout;
  }
}

// By the core's stable reason numbers (`Reason as u8`).
const REASONS = [
  null,
  ['breaker_open', 'ERR_CIRCUIT_OPEN', CircuitOpenError, 'the circuit breaker is open'],
  ['half_open_full', 'ERR_CIRCUIT_HALF_OPEN_FULL', CircuitOpenError, 'the circuit breaker is half-open and every probe slot is taken'],
  ['forced_open', 'ERR_CIRCUIT_FORCED_OPEN', CircuitOpenError, 'the circuit breaker is forced open'],
  ['rate_limited', 'ERR_RATE_LIMITED', RateLimitedError, 'rate limited'],
  ['insufficient_capacity', 'ERR_INSUFFICIENT_CAPACITY', RateLimitedError, 'the request is larger than the limiter can ever grant'],
  ['bulkhead_full', 'ERR_BULKHEAD_FULL', BulkheadFullError, 'the bulkhead is full'],
  ['queue_full', 'ERR_BULKHEAD_QUEUE_FULL', BulkheadFullError, "the bulkhead's wait queue is full"],
  ['retry_budget_exhausted', 'ERR_RETRY_BUDGET_EXHAUSTED', RetryBudgetExhaustedError, 'the retry budget is exhausted'],
  ['table_full', 'ERR_KEY_TABLE_FULL', RateLimitedError, "every slot of the keyed limiter's table holds an active key"],
];

/** A `retry_after` as the API gives it: ms (NaN: none) or exact ns (a bigint; null: none). */
function retryAfterOf(value) {
  // NaN is the only value unequal to itself; null and bigints pass as they are.
  // eslint-disable-next-line no-self-compare
  return value !== value ? null : value;
}

// A refusal's `stack` is its first line: it has no trace (see refusalError).
Object.defineProperty(StanchionError.prototype, 'stack', {
  configurable: true,
  get() {
    return `${this.name}: ${this.message}`;
  },
  set(value) {
    Object.defineProperty(this, 'stack', { value, writable: true, configurable: true });
  },
});
for (const Class of [StanchionError, CircuitOpenError, RateLimitedError, BulkheadFullError, RetryBudgetExhaustedError, FleetError, FleetUnavailableError, SoldOutError, LockError, LeaseLostError]) {
  Object.defineProperty(Class.prototype, 'name', { value: Class.name, writable: true, configurable: true });
}

/**
 * The error for a refusal: an instance of its class made without running the Error
 * constructor. A refusal is expected traffic, not a bug: capturing a stack trace would cost
 * many times the admission decision itself, so it has none.
 */
function refusalError(reason, retryAfter) {
  const [name, code, Class, message] = REASONS[reason];
  const error = Object.create(Class.prototype);
  error.message = message;
  error.code = code;
  error.reason = name;
  error.retryAfter = retryAfterOf(retryAfter);
  return error;
}

/**
 * The error for a store that could not decide, made as a refusal is (no stack trace): while
 * the store is down every call of a `raise` primitive ends here, and the point of the breaker
 * is that this costs microseconds.
 */
function unavailableError(message, cause, retryAfter) {
  const error = Object.create(FleetUnavailableError.prototype);
  error.message = message;
  error.code = 'ERR_FLEET_UNAVAILABLE';
  error.reason = 'fleet_unavailable';
  error.retryAfter = retryAfter;
  error.cause = cause;
  return error;
}

/**
 * The error for an error reply the caller must see (`ERR_FLEET`), made as a refusal is: the
 * reply's own error, in `cause`, carries what there is to know.
 */
function fleetError(message, cause) {
  const error = Object.create(FleetError.prototype);
  error.message = message;
  error.code = 'ERR_FLEET';
  error.reason = 'fleet_error';
  error.retryAfter = null;
  error.cause = cause;
  return error;
}

/** The error for a sold-out quota take: a refusal, expected traffic, with no stack trace. */
function soldOutError(requested, remaining) {
  const error = Object.create(SoldOutError.prototype);
  error.message = `sold out (${requested} asked, ${remaining} left)`;
  error.code = 'ERR_SOLD_OUT';
  error.reason = 'sold_out';
  error.retryAfter = null;
  error.requested = requested;
  error.remaining = remaining;
  return error;
}

/**
 * A lock's refusal (`code` `ERR_LOCK_*`), made as a refusal is (no stack trace: a lock held by
 * another is expected traffic), with its own fields (`waited`, `acknowledged`, …).
 */
function lockError(code, message, retryAfter, fields) {
  const error = Object.create(LockError.prototype);
  error.message = message;
  error.code = code;
  error.reason = code.slice(4).toLowerCase();
  error.retryAfter = retryAfter;
  return Object.assign(error, fields);
}

/** The error of a lease lost while held: `lost` is `'gone'` or `'failed'` (with the store's error as `cause`). */
function leaseLostError(message, lost, cause) {
  const error = Object.create(LeaseLostError.prototype);
  error.message = message;
  error.code = 'ERR_LEASE_LOST';
  error.reason = 'lease_lost';
  error.retryAfter = null;
  error.lost = lost;
  if (cause !== undefined) error.cause = cause;
  return error;
}

/** The plain value a `tryAcquire` form returns for a refusal. */
function refusal(reason, retryAfter) {
  const [name, code] = REASONS[reason];
  return { ok: false, reason: name, code, retryAfter: retryAfterOf(retryAfter) };
}

/** What an aborted operation rejects with: the signal's reason, as Node's own APIs do. */
function abortReason(signal) {
  if (signal.reason !== undefined) return signal.reason;
  const error = new Error('This operation was aborted');
  error.name = 'AbortError';
  error.code = 'ABORT_ERR';
  return error;
}

/**
 * On a Policy's TimeoutError while it is inside that policy: the core's decision on the attempt
 * it ended (`policyAttemptEnded`), which the policy's retry follows instead of `retryIf`.
 */
const POLICY_DECISION = Symbol('stanchion.policyDecision');

module.exports = {
  POLICY_DECISION,
  StanchionError,
  CircuitOpenError,
  RateLimitedError,
  BulkheadFullError,
  RetryBudgetExhaustedError,
  FleetError,
  FleetUnavailableError,
  SoldOutError,
  TimeoutError,
  refusalError,
  unavailableError,
  fleetError,
  soldOutError,
  LockError,
  LeaseLostError,
  lockError,
  leaseLostError,
  refusal,
  abortReason,
  REASONS,
};
