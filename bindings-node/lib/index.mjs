// The ES module entry: the same objects as the CommonJS one, so `instanceof` agrees.
import stanchion from './index.js';

export const {
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
  StanchionError,
  CircuitOpenError,
  RateLimitedError,
  BulkheadFullError,
  RetryBudgetExhaustedError,
  FleetError,
  FleetUnavailableError,
  SoldOutError,
  LockError,
  LeaseLostError,
  TimeoutError,
} = stanchion;
export default stanchion;
