'use strict';
/**
 * stanchion: circuit breaker, rate limiters, bulkhead, adaptive concurrency limit, backoff,
 * retry, retry budget and deadline for Node, on one Rust core shared with Python, C and Rust.
 * Durations and instants are milliseconds as numbers; a clock may also return exact
 * nanoseconds as a bigint.
 */

const { CircuitBreaker, BreakerPermit } = require('./breaker');
const { RateLimiter, KeyedRateLimiter } = require('./limiter');
const { Bulkhead, BulkheadPermit } = require('./bulkhead');
const { AdaptiveLimiter, AdaptivePermit } = require('./adaptive');
const { Backoff, RetryBudget } = require('./backoff');
const { Deadline } = require('./deadline');
const { Retry, RetryCall } = require('./retry');
const { Policy } = require('./policy');
const errors = require('./errors');

module.exports = {
  CircuitBreaker,
  BreakerPermit,
  RateLimiter,
  KeyedRateLimiter,
  Bulkhead,
  BulkheadPermit,
  AdaptiveLimiter,
  AdaptivePermit,
  Backoff,
  RetryBudget,
  Deadline,
  Retry,
  RetryCall,
  Policy,
  StanchionError: errors.StanchionError,
  CircuitOpenError: errors.CircuitOpenError,
  RateLimitedError: errors.RateLimitedError,
  BulkheadFullError: errors.BulkheadFullError,
  RetryBudgetExhaustedError: errors.RetryBudgetExhaustedError,
  FleetError: errors.FleetError,
  FleetUnavailableError: errors.FleetUnavailableError,
  SoldOutError: errors.SoldOutError,
  LockError: errors.LockError,
  LeaseLostError: errors.LeaseLostError,
  TimeoutError: errors.TimeoutError,
};
