"""stanchion: circuit breaker, rate limiters, bulkhead, adaptive concurrency limit, backoff,
retry budget and policies, over one Rust core whose answers every language shares.

Every decision about state is the core's; this package adds decorators, context managers,
asyncio waiting, events and a clock. Durations are seconds; the clock is ``time.monotonic_ns``
unless ``clock=`` gives another callable returning nanoseconds.
"""

from ._classify import FAILURE, IGNORED, SUCCESS
from ._errors import (
    BulkheadFullError,
    CircuitOpenError,
    ConfigError,
    FleetError,
    FleetUnavailableError,
    LeaseLostError,
    LockError,
    LockHeldError,
    LockQuorumError,
    LockReplicasError,
    LockTimeoutError,
    LockUnavailableError,
    RateLimitedError,
    RefusedError,
    RetryBudgetExhaustedError,
    SoldOutError,
    StanchionError,
    TimeoutExceededError,
)
from ._stanchion import (
    AdaptivePermit,
    AdaptiveSnapshot,
    AdaptiveWaiter,
    BreakerPermit,
    BreakerSnapshot,
    BulkheadPermit,
    BulkheadSnapshot,
    BulkheadWaiter,
    Deadline,
    RetryLoop,
    Retrying,
    LimiterSnapshot,
    RetryBudgetSnapshot,
    Stock,
    key_of,
    monotonic_ns,
)
from .adaptive import AdaptiveLimiter
from .breaker import CircuitBreaker
from .bulkhead import Bulkhead
from .limiter import KeyedRateLimiter, RateLimiter
from .policy import Policy
from .backoff import Backoff, RetryBudget
from .retry import Attempt, Attempts, Retry

__all__ = [
    "AdaptiveLimiter",
    "AdaptivePermit",
    "AdaptiveSnapshot",
    "AdaptiveWaiter",
    "Attempt",
    "Attempts",
    "Backoff",
    "BreakerPermit",
    "BreakerSnapshot",
    "Bulkhead",
    "BulkheadFullError",
    "BulkheadPermit",
    "BulkheadSnapshot",
    "BulkheadWaiter",
    "Retrying",
    "CircuitBreaker",
    "CircuitOpenError",
    "ConfigError",
    "Deadline",
    "FAILURE",
    "FleetError",
    "FleetUnavailableError",
    "IGNORED",
    "KeyedRateLimiter",
    "LeaseLostError",
    "LimiterSnapshot",
    "LockError",
    "LockHeldError",
    "LockQuorumError",
    "LockReplicasError",
    "LockTimeoutError",
    "LockUnavailableError",
    "Policy",
    "RateLimitedError",
    "RateLimiter",
    "RefusedError",
    "Retry",
    "RetryBudget",
    "RetryBudgetExhaustedError",
    "RetryBudgetSnapshot",
    "RetryLoop",
    "SUCCESS",
    "SoldOutError",
    "StanchionError",
    "Stock",
    "TimeoutExceededError",
    "key_of",
    "monotonic_ns",
]

__version__ = "0.1.0"
