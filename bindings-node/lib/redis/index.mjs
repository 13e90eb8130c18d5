// The ES module entry of stanchion/redis: the same objects as the CommonJS one, so
// `instanceof` agrees.
import fleet from './index.js';

export const { FleetLimiter, FleetUnavailableError, RateLimitedError, StanchionError, DEFAULT_PREFIX, DEFAULT_TIMEOUT } = fleet;
export const { FleetQuota, QuotaPool, FleetError, SoldOutError } = fleet;
export const { FleetSemaphore, FleetLock, Redlock, BulkheadFullError, LockError, LeaseLostError, DEFAULT_LEASE } = fleet;
export default fleet;
