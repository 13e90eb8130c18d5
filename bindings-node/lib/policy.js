'use strict';
// Policy: one call through every guard, outermost first (docs/semantics.md §6): fallback →
// timeout (one deadline for the whole call) → retry (with its budget) → circuit breaker →
// bulkhead and/or adaptive limiter → rate limiter → the call, each attempt's call bounded by
// `attemptTimeout` within what remains of the deadline.
//
// How each attempt ended decides what its breaker, its adaptive limiter and its retry are
// told, and that decision is the core's (`policy::Ending::decide`, through `policyAttemptEnded`
// and `policyAttemptAnswered`): this file only observes the ending (a timer fired, the caller
// aborted, the call answered) and follows the answer. A timeout's error
// carries the answer to the retry loop (`POLICY_DECISION`) until it leaves the policy.

const { CircuitBreaker } = require('./breaker');
const { Bulkhead } = require('./bulkhead');
const { AdaptiveLimiter } = require('./adaptive');
const { RateLimiter } = require('./limiter');
const { Retry } = require('./retry');
const { TimeoutError, abortReason, POLICY_DECISION } = require('./errors');
const opt = require('./options');
const { after, onAbort, signalOf, noop } = require('./sleep');
const { nativeNow } = require('./fast');
const { policyAttemptAnswered, policyAttemptEnded, policyAttemptLimit, policyCheckAttemptTimeout } = require('./native');

const OUTCOMES = { success: 0, failure: 1, ignored: 2 };

// What the adaptive limiter's permit records for each ending (`Decision::adaptive`), asked of
// the core once: these answers depend on nothing but the ending.
const SAMPLES = {
  succeeded: policyAttemptAnswered('succeeded').adaptive,
  refused: policyAttemptAnswered('refused').adaptive,
  failed: Object.fromEntries(Object.keys(OUTCOMES).map((o) => [o, policyAttemptAnswered('failed', o).adaptive])),
  // The same verdicts on an error the adaptive limiter's `dropOn` calls a refusal for overload.
  overloaded: Object.fromEntries(Object.keys(OUTCOMES).map((o) => [o, policyAttemptAnswered('failed', o, true).adaptive])),
};
for (const ending of ['attempt_timeout', 'deadline', 'deadline_before_call', 'cancelled']) {
  SAMPLES[ending] = policyAttemptEnded(ending).adaptive;
}

function instance(value, Class, name) {
  if (value === undefined) return undefined;
  if (!(value instanceof Class)) throw opt.typeError(name, opt.words(name), value);
  return value;
}

/** `error`, carrying the core's decision on an attempt that ended as `ending`. */
function ended(error, ending) {
  error[POLICY_DECISION] = policyAttemptEnded(ending);
  return error;
}

const checkOptions = opt.declare(
  'Policy',
  ['fallback', 'timeout', 'attemptTimeout', 'retry', 'breaker', 'bulkhead', 'adaptive', 'limiter', 'limiterMaxWait', 'clock'],
  {
    retries: '`retry: new Retry({ backoff: { maxAttempts } })` (every call, the first included)',
    circuitBreaker: '`breaker`',
    rateLimiter: '`limiter`',
    perAttemptTimeout: '`attemptTimeout`',
  },
);

/**
 * Composes the guards it is given; each is optional. `timeout` (ms, or bigint ns) bounds the
 * whole call, retries included; `attemptTimeout` bounds each attempt's call within it;
 * `adaptive` (an AdaptiveLimiter) caps attempts in flight at a limit learned from their
 * latency, instead of or inside the `bulkhead`; `fallback(error)` answers instead of any error.
 */
class Policy {
  constructor(options) {
    const o = opt.options(options);
    checkOptions(o);
    this.retry = instance(o.retry, Retry, 'retry');
    this.breaker = instance(o.breaker, CircuitBreaker, 'breaker');
    this.bulkhead = instance(o.bulkhead, Bulkhead, 'bulkhead');
    this.adaptive = instance(o.adaptive, AdaptiveLimiter, 'adaptive');
    this.limiter = instance(o.limiter, RateLimiter, 'limiter');
    // Kept as milliseconds (numbers), what timers and TimeoutError take.
    this.timeout = opt.millisOrInfinity(o.timeout, 'timeout');
    if (this.timeout === Infinity) throw opt.rangeError('timeout', opt.words('timeout'), Infinity);
    // The core checks the range (at least 1 ns) and takes it as ns; timers take ms.
    this._attemptTimeoutNs = opt.duration(o.attemptTimeout, 'attemptTimeout');
    if (this._attemptTimeoutNs !== undefined) {
      opt.construct(() => policyCheckAttemptTimeout(this._attemptTimeoutNs), o);
    }
    this.attemptTimeout = opt.millisOrInfinity(o.attemptTimeout, 'attemptTimeout');
    this.limiterMaxWait = opt.millisOrInfinity(o.limiterMaxWait, 'limiterMaxWait');
    this.fallback = opt.func(o.fallback, 'fallback');
    this.clock = opt.clock(o.clock) ?? nativeNow;
  }

  /** Runs `fn(signal)` through every guard; resolves to its value (or the fallback's). */
  async execute(fn, options) {
    const signal = signalOf(options);
    try {
      return await this._timed(fn, signal);
    } catch (error) {
      // The decision was for this policy's breaker and retry; an enclosing policy judges the
      // error as any other.
      if (error?.[POLICY_DECISION] !== undefined) delete error[POLICY_DECISION];
      if (this.fallback === undefined) throw error;
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
    return this._retried(fn, signal, deadline, now, new TimeoutError(this.timeout));
  }

  /**
   * The retry layer: the core's retry loop bounded by `deadline` (ms), the call having started
   * at `startedAt` (the policy's clock reading, when it took one); `expired` is the error if
   * the deadline has already passed.
   */
  _retried(fn, signal, deadline, startedAt, expired) {
    const attempt = (attemptSignal) => this._attempt(fn, attemptSignal, deadline);
    if (this.retry === undefined) return attempt(signal);
    return this.retry._execute(attempt, signal, deadline, startedAt, expired);
  }

  /**
   * One attempt: the breaker's permit, then bulkhead → adaptive limiter → limiter → the call
   * under its limit. The attempt settles when the call does, or at once when a limit passes or
   * the caller aborts. `attempt` is what the adaptive limiter's sample is decided from: whether
   * the call was made, the ending this method observed, and the caller's verdict on its error.
   */
  _attempt(fn, signal, deadline) {
    const timed = deadline !== undefined || this._attemptTimeoutNs !== undefined;
    const breaker = this.breaker;
    const attempt = this.adaptive === undefined ? undefined : { called: false, ending: undefined, verdict: undefined };
    if (!timed && breaker === undefined) return this._guards(fn, signal, deadline, attempt);
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    let generation = 0;
    if (breaker !== undefined) {
      try {
        generation = breaker._admit();
      } catch (refusal) {
        return Promise.reject(refusal);
      }
    }
    const issuedAt = breaker?._issuedAt;
    if (!timed && signal === undefined) {
      // Nothing can end the attempt before its call settles: one `then`, no timers.
      let called = false;
      const call = (s) => {
        called = true;
        return fn(s);
      };
      return this._guards(call, undefined, undefined, attempt).then(
        (value) => {
          breaker._record(generation, issuedAt, OUTCOMES.success);
          return value;
        },
        (error) => {
          if (called) breaker._record(generation, issuedAt, OUTCOMES[this._verdict(attempt, error)]);
          else breaker._release(generation, issuedAt);
          throw error;
        },
      );
    }
    /** Tells the breaker what the core decided: a permit's report by its name. */
    const report = (how) => {
      if (breaker === undefined) return;
      if (how === 'release') breaker._release(generation, issuedAt);
      else breaker._record(generation, issuedAt, OUTCOMES[how]);
    };
    return new Promise((resolve, reject) => {
      // The call's own signal: aborted by the caller, or when the attempt's limit passes.
      const controller = timed ? new AbortController() : undefined;
      const inner = controller?.signal ?? signal;
      let called = false;
      let over = false; // the attempt has settled; its call may still be running
      let reportOnSettle; // the breaker hears of a call the caller abandoned once it settles
      let stopTimer = noop;
      let stopListening = noop;
      const cutOff = (ending, error) => {
        if (over) return;
        over = true;
        stopListening();
        ended(error, ending);
        if (attempt !== undefined) attempt.ending = ending;
        controller.abort(error);
        // Recorded now, at the instant it was cut off: the call that runs on past its signal
        // is no longer this attempt.
        report(error[POLICY_DECISION].breaker);
        reject(error);
      };
      stopListening = onAbort(signal, () => {
        if (over) return;
        over = true;
        stopTimer();
        const reason = abortReason(signal);
        if (attempt !== undefined) attempt.ending = 'cancelled';
        controller?.abort(reason);
        const decision = policyAttemptEnded('cancelled');
        // A call still running keeps its probe slot until it settles: freeing it now would let
        // more probes run than the breaker allows.
        if (called) reportOnSettle = decision.breaker;
        else report(decision.breaker);
        reject(reason);
      });
      if (deadline !== undefined && (this.bulkhead !== undefined || this.adaptive !== undefined)) {
        // The wait for a place in the bulkhead's or the adaptive limiter's queue ends at the
        // deadline (a token's wait is bounded by `maxWait` already).
        const left = Math.max(0, deadline - opt.millis(this.clock()));
        stopTimer = after(left, () => cutOff('deadline_before_call', new TimeoutError(this.timeout)));
      }
      const call = (s) => {
        if (over) return Promise.reject(abortReason(inner));
        called = true;
        stopTimer();
        stopTimer = noop;
        if (timed) {
          const limit = policyAttemptLimit(this._attemptTimeoutNs ?? null, deadline ?? null, this.clock());
          if (limit !== null) {
            const error = limit.bound === 'attempt_timeout' ? new TimeoutError(this.attemptTimeout, 'attempt') : new TimeoutError(this.timeout);
            stopTimer = after(limit.limit, () => cutOff(limit.bound, error));
          }
        }
        return fn(s);
      };
      const settled = () => {
        if (!over) {
          over = true;
          stopTimer();
          stopListening();
          return true;
        }
        if (reportOnSettle !== undefined) {
          report(reportOnSettle);
          reportOnSettle = undefined;
        }
        return false;
      };
      this._guards(call, inner, deadline, attempt).then(
        (value) => {
          if (!settled()) return;
          report('success');
          resolve(value);
        },
        (error) => {
          if (!settled()) return;
          // A guard inside the breaker refused: the call was never made, and the core releases
          // the permit of such an attempt (`Ending::Refused`).
          if (!called) report('release');
          else if (breaker !== undefined) breaker._record(generation, issuedAt, OUTCOMES[this._verdict(attempt, error)]);
          reject(error);
        },
      );
    });
  }

  /**
   * The caller's verdict on an attempt's error, as the breaker's `classify` gives it (every
   * error is a failure without a breaker): judged once, for the breaker and the adaptive
   * limiter alike.
   */
  _verdict(attempt, error) {
    if (attempt?.verdict !== undefined) return attempt.verdict;
    const name = this.breaker === undefined ? 'failure' : this.breaker._classify(error);
    const verdict = Object.hasOwn(OUTCOMES, name) ? name : 'failure';
    if (attempt !== undefined) attempt.verdict = verdict;
    return verdict;
  }

  /**
   * What the adaptive limiter's permit records for `attempt` (the core's `Decision::adaptive`):
   * an ending observed here (cut off, cancelled) first; else a call abandoned by the caller's
   * abort, a call never made (a guard inside refused), or the call's answer as the caller
   * judges it, an error the limiter's `dropOn` matches being a refusal for overload (a drop).
   */
  _sample(attempt, abandoned, ok, result) {
    if (attempt.ending !== undefined) return SAMPLES[attempt.ending];
    if (abandoned) return SAMPLES.cancelled;
    if (!attempt.called) return SAMPLES.refused;
    if (ok) return SAMPLES.succeeded;
    const verdict = this._verdict(attempt, result);
    return (this.adaptive._dropOn(result) ? SAMPLES.overloaded : SAMPLES.failed)[verdict];
  }

  /** Bulkhead → adaptive limiter → limiter → `fn(signal)`. */
  _guards(fn, signal, deadline, attempt) {
    let call = fn;
    const adaptive = this.adaptive;
    if (adaptive !== undefined) {
      const inner = call;
      call = (s) => {
        attempt.called = true;
        return inner(s);
      };
    }
    if (this.limiter !== undefined) {
      const limiter = this.limiter;
      const inner = call;
      call = async (s) => {
        let maxWait = this.limiterMaxWait;
        if (deadline !== undefined) maxWait = Math.max(0, Math.min(maxWait ?? Infinity, deadline - opt.millis(this.clock())));
        await limiter.acquire({ signal: s, maxWait });
        return inner(s);
      };
    }
    if (adaptive !== undefined) {
      const inner = call;
      const judge = (abandoned, ok, result) => this._sample(attempt, abandoned, ok, result);
      call = (s) => adaptive._execute(inner, s, judge);
    }
    if (this.bulkhead !== undefined) {
      const bulkhead = this.bulkhead;
      const inner = call;
      call = (s) => bulkhead._execute(inner, s, 0);
    }
    try {
      return Promise.resolve(call(signal));
    } catch (error) {
      return Promise.reject(error);
    }
  }
}

module.exports = { Policy };
