'use strict';
// Policy: one call through every guard, outermost first (docs/semantics.md §6): fallback →
// timeout (one deadline for the whole call) → retry (with its budget) → circuit breaker →
// bulkhead → rate limiter → the call.

const { CircuitBreaker } = require('./breaker');
const { Bulkhead } = require('./bulkhead');
const { RateLimiter } = require('./limiter');
const { Retry } = require('./retry');
const { TimeoutError, StanchionError, abortReason, INNER_REFUSAL } = require('./errors');
const opt = require('./options');
const { after, signalOf } = require('./sleep');
const { nativeNow } = require('./fast');

/**
 * A guard inside the breaker refused (the limiter, the bulkhead): no call was made, so the
 * breaker records nothing for it, as the core's policy::execute drops its permit.
 */
function innerRefusal(error) {
  if (error instanceof StanchionError) error[INNER_REFUSAL] = true;
  throw error;
}

function instance(value, Class, name) {
  if (value === undefined) return undefined;
  if (!(value instanceof Class)) throw opt.typeError(name, opt.words(name), value);
  return value;
}

const checkOptions = opt.declare('Policy', ['fallback', 'timeout', 'retry', 'breaker', 'bulkhead', 'limiter', 'limiterMaxWait', 'clock'], {
  retries: '`retry: new Retry({ backoff: { maxAttempts } })` (every call, the first included)',
  circuitBreaker: '`breaker`',
  rateLimiter: '`limiter`',
});

/**
 * Composes the guards it is given; each is optional. `timeout` (ms, or bigint ns) bounds the
 * whole call, retries included; `fallback(error)` answers instead of any error.
 */
class Policy {
  constructor(options) {
    const o = opt.options(options);
    checkOptions(o);
    this.retry = instance(o.retry, Retry, 'retry');
    this.breaker = instance(o.breaker, CircuitBreaker, 'breaker');
    this.bulkhead = instance(o.bulkhead, Bulkhead, 'bulkhead');
    this.limiter = instance(o.limiter, RateLimiter, 'limiter');
    // Kept as milliseconds (numbers), what timers and TimeoutError take.
    this.timeout = opt.millisOrInfinity(o.timeout, 'timeout');
    if (this.timeout === Infinity) throw opt.rangeError('timeout', opt.words('timeout'), Infinity);
    this.limiterMaxWait = opt.millisOrInfinity(o.limiterMaxWait, 'limiterMaxWait');
    this.fallback = opt.func(o.fallback, 'fallback');
    this.clock = opt.clock(o.clock) ?? nativeNow;
  }

  /** Runs `fn(signal)` through every guard; resolves to its value (or the fallback's). */
  async execute(fn, options) {
    const signal = signalOf(options);
    if (this.fallback === undefined) return this._timed(fn, signal);
    try {
      return await this._timed(fn, signal);
    } catch (error) {
      if (signal?.aborted && error === abortReason(signal)) throw error;
      return this.fallback(error);
    }
  }

  _timed(fn, signal) {
    if (this.timeout === undefined) return this._retried(fn, signal, undefined, undefined, undefined);
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    if (!(this.timeout > 0)) return Promise.reject(new TimeoutError(this.timeout));
    const now = this.clock();
    const deadline = opt.millis(now) + this.timeout;
    const controller = new AbortController();
    const timeoutError = new TimeoutError(this.timeout);
    const forward = () => controller.abort(abortReason(signal));
    signal?.addEventListener('abort', forward, { once: true });
    let cancel;
    const expired = new Promise((_, reject) => {
      cancel = after(this.timeout, () => {
        controller.abort(timeoutError);
        reject(timeoutError);
      });
    });
    const run = this._retried(fn, controller.signal, deadline, now, timeoutError);
    return Promise.race([run, expired]).finally(() => {
      cancel();
      signal?.removeEventListener('abort', forward);
      run.catch(() => {});
    });
  }

  /**
   * The retry layer: the core's retry loop bounded by `deadline` (ms), the call having started
   * at `startedAt` (the policy's clock reading, when it took one); `expired` is the error if
   * the deadline has already passed.
   */
  _retried(fn, signal, deadline, startedAt, expired) {
    const attempt = (attemptSignal) => this._guarded(fn, attemptSignal, deadline);
    if (this.retry === undefined) return attempt(signal);
    return this.retry._execute(attempt, signal, deadline, startedAt, expired);
  }

  _guarded(fn, signal, deadline) {
    const options = signal === undefined ? undefined : { signal };
    let call = fn;
    if (this.limiter !== undefined) {
      const limiter = this.limiter;
      const inner = call;
      call = async (s) => {
        let maxWait = this.limiterMaxWait;
        if (deadline !== undefined) maxWait = Math.max(0, Math.min(maxWait ?? Infinity, deadline - opt.millis(this.clock())));
        try {
          await limiter.acquire({ signal: s, maxWait });
        } catch (error) {
          innerRefusal(error);
        }
        return inner(s);
      };
    }
    if (this.bulkhead !== undefined) {
      const bulkhead = this.bulkhead;
      const inner = call;
      call = (s) => bulkhead._execute(inner, s, 0, true);
    }
    if (this.breaker !== undefined) return this.breaker.execute(call, options);
    return Promise.resolve().then(() => call(signal));
  }
}

module.exports = { Policy };
