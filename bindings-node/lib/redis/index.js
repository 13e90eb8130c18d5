'use strict';
/**
 * stanchion/redis: the fleet tier (docs/semantics.md §9), limits that one process cannot keep
 * alone, kept in Redis and decided by one script call each, with the user's own ioredis or
 * node-redis client: the fleet rate limiter `FleetLimiter`, the fleet quota `FleetQuota` (with
 * its local batches, `QuotaPool`), the fleet bulkhead `FleetSemaphore`, and the lock,
 * `FleetLock` and `Redlock`.
 */

const { FleetLimiter } = require('./limiter');
const { FleetQuota, QuotaPool } = require('./quota');
const { FleetSemaphore } = require('./lease');
const { FleetLock, Redlock } = require('./lock');
const { fleetDefaults, fleetLeaseDefaults } = require('../native');
const errors = require('../errors');

const defaults = fleetDefaults();

module.exports = {
  FleetLimiter,
  FleetQuota,
  QuotaPool,
  FleetError: errors.FleetError,
  SoldOutError: errors.SoldOutError,
  FleetSemaphore,
  FleetLock,
  Redlock,
  FleetUnavailableError: errors.FleetUnavailableError,
  BulkheadFullError: errors.BulkheadFullError,
  LockError: errors.LockError,
  LeaseLostError: errors.LeaseLostError,
  RateLimitedError: errors.RateLimitedError,
  StanchionError: errors.StanchionError,
  /** The prefix of every Redis key unless configured otherwise. */
  DEFAULT_PREFIX: defaults.prefix,
  /** The timeout of every call unless configured otherwise, in milliseconds. */
  DEFAULT_TIMEOUT: Number(defaults.callTimeout) / 1e6,
  /** The lease time of a fleet semaphore or lock unless configured otherwise, in milliseconds. */
  DEFAULT_LEASE: Number(fleetLeaseDefaults().lease) / 1e6,
};
