'use strict';
// Backoff (the core's schedules) and RetryBudget.

const { NativeBackoff, NativeRetryBudget, fastBudgetDeposit, fastBudgetTryRetry } = require('./native');
const { R, nativeNow } = require('./fast');
const { refusal } = require('./errors');
const opt = require('./options');
const { ADMITTED } = require('./limiter');

const SCHEDULES = {
  constant: ['delay'],
  linear: ['initial', 'step'],
  exponential: ['initial'],
  decorrelated: ['base'],
};

function backoffConfig(options) {
  const o = opt.object(options, 'options');
  const durations = SCHEDULES[o.schedule];
  if (durations === undefined) {
    throw opt.typeError('schedule', "'constant', 'linear', 'exponential' or 'decorrelated'", o.schedule);
  }
  const config = { schedule: o.schedule };
  for (const name of durations) {
    config[name] = opt.duration(o[name], name);
    if (config[name] === undefined) throw opt.typeError(name, 'a duration in ms', undefined);
  }
  config.factor = opt.finite(o.factor, 'factor');
  if (o.jitter !== undefined && typeof o.jitter === 'object' && o.jitter !== null) {
    config.jitter = 'proportional';
    config.proportion = opt.finite(o.jitter.proportional, 'jitter.proportional');
  } else if (o.jitter === undefined || ['none', 'full', 'equal'].includes(o.jitter)) {
    config.jitter = o.jitter;
  } else {
    throw opt.typeError('jitter', "'none', 'full', 'equal' or { proportional: p }", o.jitter);
  }
  config.maxDelay = opt.duration(o.maxDelay, 'maxDelay');
  if (o.maxAttempts === null) config.unlimitedAttempts = true;
  else config.maxAttempts = opt.integer(o.maxAttempts, 'maxAttempts');
  config.maxElapsed = opt.duration(o.maxElapsed, 'maxElapsed');
  return config;
}

/**
 * A backoff schedule: `{ schedule: 'exponential', initial: 100, factor: 2 }` and friends, with
 * `jitter`, `maxDelay`, `maxAttempts` (every call, the first included; default 3; null for no
 * limit) and `maxElapsed`. Durations in ms.
 */
class Backoff {
  constructor(options) {
    const config = backoffConfig(options);
    this._native = opt.construct(() => new NativeBackoff(config));
    // Only `maxElapsed` reads when the first call started (Retry skips the clock otherwise).
    this._usesStart = config.maxElapsed !== undefined;
  }

  /** The wait in ms before call `attempt + 2` (0: before the second call), or null: stop. */
  delay(attempt, seed = 0) {
    const ms = this._native.delay(opt.integer(attempt, 'attempt'), opt.seed(seed, 'seed'));
    return Number.isNaN(ms) ? null : ms;
  }

  /** Every wait of the schedule for `seed`, at most `limit` (default 100) of them. */
  delays(seed = 0, limit = 100) {
    return this._native.delays(opt.seed(seed, 'seed'), opt.integer(limit, 'limit'));
  }

  /** The core's state for one retried call (used by Retry; exposed for custom loops). */
  start(seed, now) {
    return this._native.start(opt.seed(seed, 'seed'), now ?? nativeNow());
  }
}

/**
 * Retries earn a share of first attempts: each `deposit()` adds `ratio` tokens, each retry
 * takes one, with a floor of `minRetriesPerSec` (default 10) and at most `maxBalance`
 * (default 100) tokens kept.
 */
class RetryBudget {
  constructor(options) {
    const o = opt.object(options, 'options');
    const ratio = opt.finite(o.ratio, 'ratio');
    if (ratio === undefined) throw opt.typeError('ratio', 'a number', undefined);
    const config = {
      ratio,
      minRetriesPerSec: opt.integer(o.minRetriesPerSec, 'minRetriesPerSec'),
      maxBalance: opt.integer(o.maxBalance, 'maxBalance'),
    };
    this._clock = opt.clock(o.clock);
    this._now = this._clock ?? nativeNow;
    this._native = opt.construct(() => new NativeRetryBudget(config));
    this._handle = this._native.handle;
  }

  /** A first attempt: deposits `ratio` tokens. */
  deposit() {
    R[0] = this._handle;
    fastBudgetDeposit();
  }

  /** The core's try_retry: 0, or a refusal code with its retryAfter (ms) in `R[7]`. */
  _tryRetry() {
    const now = this._clock === undefined ? NaN : this._clock();
    if (typeof now === 'bigint') {
      const code = this._native.tryRetry(now);
      R[7] = this._native.retryAfter;
      return code;
    }
    R[0] = this._handle;
    R[1] = now;
    return fastBudgetTryRetry();
  }

  /** Spends a token on a retry (`ok: true`), or returns a refusal without throwing. */
  tryRetry() {
    const code = this._tryRetry();
    if (code === 0) return ADMITTED;
    return refusal(-code / 64, R[7]);
  }

  /** `{ balance, floorTokens, retriesAvailable, retriesAllowed, retriesRefused }` now. */
  snapshot() {
    return this._native.snapshot(this._now());
  }
}

module.exports = { Backoff, RetryBudget };
