'use strict';
// Backoff (the core's schedules) and RetryBudget.

const { NativeBackoff, NativeRetryBudget, fastBudgetDeposit, fastBudgetTryRetry } = require('./native');
const { R, nativeNow } = require('./fast');
const { refusal } = require('./errors');
const opt = require('./options');
const { ADMITTED } = require('./limiter');

// Each schedule's own durations; the other options apply to every schedule.
const SCHEDULES = {
  constant: ['delay'],
  linear: ['initial', 'step'],
  exponential: ['initial', 'factor'],
  decorrelated: ['base'],
};
const COMMON = ['schedule', 'jitter', 'maxDelay', 'maxAttempts', 'maxElapsed', 'unit'];
const ALL = ['schedule', 'delay', 'initial', 'step', 'factor', 'base', 'jitter', 'maxDelay', 'maxAttempts', 'maxElapsed', 'unit'];
const HINTS = {
  retries: (n) => `\`maxAttempts\` (every call, the first included${Number.isInteger(n) ? `: \`retries: ${n}\` is \`maxAttempts: ${n + 1}\`` : ''})`,
  minTimeout: '`initial` (or `delay` with schedule \'constant\')',
  maxTimeout: '`maxDelay`',
  maxRetryTime: '`maxElapsed`',
};
const checkAll = opt.declare('Backoff', ALL, HINTS);
const checkProportional = opt.declare('`jitter`', ['proportional']);

function scheduleOptions(o) {
  checkAll(o);
  const own = SCHEDULES[o.schedule];
  if (own === undefined) throw opt.typeError('schedule', opt.words('schedule'), o.schedule);
  for (const name in o) {
    if (!COMMON.includes(name) && !own.includes(name)) {
      const takes = own.map((n) => `\`${n}\``).join(' and ');
      throw opt.typeError(name, `omitted with schedule '${o.schedule}', which takes ${takes}`, o[name]);
    }
  }
  return own;
}

function backoffConfig(options) {
  const o = opt.options(options);
  const own = scheduleOptions(o);
  const config = { schedule: o.schedule };
  for (const name of own) {
    if (name === 'factor') continue;
    config[name] = opt.duration(o[name], name);
    if (config[name] === undefined) {
      throw opt.missing(name, ` with schedule '${o.schedule}'`);
    }
  }
  config.factor = opt.finite(o.factor, 'factor');
  if (o.jitter !== undefined && typeof o.jitter === 'object' && o.jitter !== null) {
    checkProportional(o.jitter, 'jitter.');
    config.jitter = 'proportional';
    config.proportion = opt.finite(o.jitter.proportional, 'jitter.proportional');
    if (config.proportion === undefined) throw opt.missing('jitter.proportional');
  } else if (o.jitter === undefined || ['none', 'full', 'equal'].includes(o.jitter)) {
    config.jitter = o.jitter;
  } else {
    throw opt.typeError('jitter', opt.words('jitter'), o.jitter);
  }
  config.maxDelay = opt.duration(o.maxDelay, 'maxDelay');
  if (o.maxAttempts === null) config.unlimitedAttempts = true;
  else config.maxAttempts = opt.integer(o.maxAttempts, 'maxAttempts');
  config.maxElapsed = opt.duration(o.maxElapsed, 'maxElapsed');
  return { config, o };
}

/**
 * A backoff schedule: `{ schedule: 'exponential', initial: 100, factor: 2 }` and friends, with
 * `jitter`, `maxDelay`, `maxAttempts` (every call, the first included; default 3; null for no
 * limit) and `maxElapsed`. Durations in ms.
 */
class Backoff {
  constructor(options) {
    const { config, o } = backoffConfig(options);
    this._native = opt.construct(() => new NativeBackoff(config), o);
    this._ns = opt.unit(o.unit);
    // Only `maxElapsed` reads when the first call started (Retry skips the clock otherwise).
    this._usesStart = config.maxElapsed !== undefined;
  }

  /** The wait in ms (or ns) before call `attempt + 2` (0: before the second call), or null: stop. */
  delay(attempt, seed = 0) {
    const args = [opt.integer(attempt, 'attempt'), opt.seed(seed, 'seed')];
    if (this._ns) return this._native.delayNs(...args);
    const ms = this._native.delay(...args);
    return Number.isNaN(ms) ? null : ms;
  }

  /** Every wait of the schedule for `seed`, at most `limit` (default 100) of them. */
  delays(seed = 0, limit = 100) {
    const args = [opt.seed(seed, 'seed'), opt.integer(limit, 'limit')];
    return this._ns ? this._native.delaysNs(...args) : this._native.delays(...args);
  }

  /** The core's backoff state for one retried call, for loops of your own. */
  start(seed, now) {
    const retrying = this._native.start(opt.seed(seed, 'seed'), now === undefined ? nativeNow() : opt.instant(now, 'now'));
    return this._ns ? new RetryingNs(retrying) : retrying;
  }
}

/** A retried call's backoff state whose waits are exact nanoseconds (`unit: 'ns'`). */
class RetryingNs {
  constructor(native) {
    this._native = native;
  }

  /** The next wait in ns, -1n at `maxAttempts`, -2n past `maxElapsed`. */
  nextDelay(now, hint) {
    return this._native.nextDelayNs(now, hint);
  }

  /** Waits handed out so far. */
  get retries() {
    return this._native.retries;
  }
}

const checkBudget = opt.declare('RetryBudget', ['ratio', 'minRetriesPerSec', 'maxBalance', 'clock', 'unit']);

/**
 * Retries earn a share of first attempts: each `deposit()` adds `ratio` tokens, each retry
 * takes one, with a floor of `minRetriesPerSec` (default 10) and at most `maxBalance`
 * (default 100) tokens kept.
 */
class RetryBudget {
  constructor(options) {
    const o = opt.options(options);
    checkBudget(o);
    const ratio = opt.finite(o.ratio, 'ratio');
    if (ratio === undefined) throw opt.missing('ratio');
    const config = {
      ratio,
      minRetriesPerSec: opt.integer(o.minRetriesPerSec, 'minRetriesPerSec'),
      maxBalance: opt.integer(o.maxBalance, 'maxBalance'),
    };
    this._native = opt.construct(() => new NativeRetryBudget(config), o);
    this._clock = opt.clock(o.clock);
    this._now = this._clock ?? nativeNow;
    this._ns = opt.unit(o.unit);
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
    if (typeof now === 'bigint' || this._ns) {
      const code = this._native.tryRetry(typeof now === 'number' && Number.isNaN(now) ? nativeNow() : now);
      this._retryAfter = this._ns ? this._native.retryAfterNs : this._native.retryAfter;
      return code;
    }
    R[0] = this._handle;
    R[1] = now;
    const code = fastBudgetTryRetry();
    this._retryAfter = R[7];
    return code;
  }

  /** Spends a token on a retry (`ok: true`), or returns a refusal without throwing. */
  tryRetry() {
    const code = this._tryRetry();
    if (code === 0) return ADMITTED;
    return refusal(-code / 64, this._retryAfter);
  }

  /** `{ balance, floorTokens, retriesAvailable, retriesAllowed, retriesRefused }` now. */
  snapshot() {
    return this._native.snapshot(this._now());
  }
}

module.exports = { Backoff, RetryBudget };
