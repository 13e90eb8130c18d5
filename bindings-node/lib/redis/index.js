'use strict';
/**
 * stanchion/redis: the fleet tier (docs/semantics.md §9), limits that one process cannot keep
 * alone, kept in Redis and decided by one script call each, with the user's own ioredis or
 * node-redis client. This release has the fleet rate limiter, `FleetLimiter`, and the fleet
 * quota, `FleetQuota` (with its local batches, `QuotaPool`).
 */

const { FleetLimiter } = require('./limiter');
const { FleetQuota, QuotaPool } = require('./quota');
const { fleetDefaults } = require('../native');
const errors = require('../errors');

const defaults = fleetDefaults();

module.exports = {
  FleetLimiter,
  FleetQuota,
  QuotaPool,
  FleetError: errors.FleetError,
  SoldOutError: errors.SoldOutError,
  FleetUnavailableError: errors.FleetUnavailableError,
  RateLimitedError: errors.RateLimitedError,
  StanchionError: errors.StanchionError,
  /** The prefix of every Redis key unless configured otherwise. */
  DEFAULT_PREFIX: defaults.prefix,
  /** The timeout of every call unless configured otherwise, in milliseconds. */
  DEFAULT_TIMEOUT: Number(defaults.callTimeout) / 1e6,
};
