'use strict';
// CircuitBreaker: the core's default breaker (a count window of up to 320 calls, or a time
// window of up to 10 buckets), with Promises, AbortSignal and events.

const { EventEmitter } = require('node:events');
const { NativeBreaker, fastBreakerAcquire, fastBreakerRecord, fastBreakerRelease } = require('./native');
const { R, nativeNow } = require('./fast');
const { refusalError, refusal, abortReason } = require('./errors');
const opt = require('./options');
const { onAbort, signalOf } = require('./sleep');

const STATES = ['closed', 'open', 'half_open', 'forced_open', 'disabled'];
const OUTCOMES = { success: 0, failure: 1, ignored: 2 };
// Transition codes 1 + 5·from + to, decoded once.
const TRANSITIONS = [null];
for (let from = 0; from < 5; from++) {
  for (let to = 0; to < 5; to++) TRANSITIONS[1 + 5 * from + to] = Object.freeze({ from: STATES[from], to: STATES[to] });
}

// Names other libraries use for these options, and what to write here instead.
const HINTS = {
  resetTimeout: '`openFor` (how long a trip keeps the breaker open)',
  errorThresholdPercentage: '`failureRate` (a share in (0, 1], not a percentage)',
  volumeThreshold: '`minimumCalls`',
  timeout: "`timeout` on a `Policy` (a breaker does not time calls out; `slowCall` counts slow ones)",
};
const checkOptions = opt.declare(
  'CircuitBreaker',
  [
    'failureCount',
    'consecutiveFailures',
    'failureRate',
    'minimumCalls',
    'slowCall',
    'window',
    'openFor',
    'openForMax',
    'openForFactor',
    'openForJitter',
    'halfOpenProbes',
    'halfOpenSuccesses',
    'probeTimeout',
    'seed',
    'classify',
    'clock',
    'unit',
  ],
  HINTS,
);
const checkSlowCall = opt.declare('`slowCall`', ['duration', 'rate']);
const checkWindow = opt.declare('`window`', ['count', 'span', 'buckets']);

function nativeConfig(o) {
  checkOptions(o);
  const config = {};
  if (o.failureCount === null) config.failureCountOff = true;
  else config.failureCount = opt.integer(o.failureCount, 'failureCount');
  config.consecutiveFailures = opt.integer(o.consecutiveFailures ?? undefined, 'consecutiveFailures');
  config.failureRate = opt.finite(o.failureRate ?? undefined, 'failureRate');
  config.minimumCalls = opt.integer(o.minimumCalls, 'minimumCalls');
  if (o.slowCall !== undefined && o.slowCall !== null) {
    if (typeof o.slowCall !== 'object') throw opt.typeError('slowCall', opt.words('slowCall'), o.slowCall);
    checkSlowCall(o.slowCall, 'slowCall.');
    config.slowCallDuration = opt.duration(o.slowCall.duration, 'slowCall.duration');
    if (config.slowCallDuration === undefined) throw opt.missing('slowCall.duration');
    config.slowCallRate = opt.finite(o.slowCall.rate ?? 1, 'slowCall.rate');
  }
  if (o.window !== undefined) {
    const w = o.window;
    if (w === null || typeof w !== 'object') throw opt.typeError('window', opt.words('window'), w);
    checkWindow(w, 'window.');
    if (w.count !== undefined) {
      if (w.span !== undefined || w.buckets !== undefined) {
        throw opt.typeError('window', 'either a count window { count } or a time window { span, buckets? }, not both', w);
      }
      config.windowCount = opt.integer(w.count, 'window.count');
    } else {
      config.windowSpan = opt.duration(w.span, 'window.span');
      if (config.windowSpan === undefined) throw opt.missing('window.span');
      config.windowBuckets = opt.integer(w.buckets, 'window.buckets');
    }
  }
  config.openFor = opt.duration(o.openFor, 'openFor');
  config.openForMax = opt.duration(o.openForMax, 'openForMax');
  config.openForFactor = opt.finite(o.openForFactor, 'openForFactor');
  config.openForJitter = opt.finite(o.openForJitter, 'openForJitter');
  config.halfOpenProbes = opt.integer(o.halfOpenProbes, 'halfOpenProbes');
  config.halfOpenSuccesses = opt.integer(o.halfOpenSuccesses ?? undefined, 'halfOpenSuccesses');
  config.probeTimeout = opt.duration(o.probeTimeout ?? undefined, 'probeTimeout');
  config.seed = opt.seed(o.seed, 'seed');
  return config;
}

function defaultClassify() {
  return 'failure';
}

// A permit from `tryAcquire` dropped without `record` or `release` is released when it is
// garbage-collected, as the core's permit is when dropped: at the instant it was issued,
// recording nothing (so it never counts as a lost probe lease) and freeing its probe slot.
const dropped = new FinalizationRegistry(({ breaker, generation, issuedAt }) => breaker._dropped(generation, issuedAt));

/** A permit from `tryAcquire`: report how the call ended exactly once. */
class BreakerPermit {
  constructor(breaker, generation, issuedAt) {
    this.ok = true;
    this._breaker = breaker;
    this._generation = generation;
    this._issuedAt = issuedAt;
    this._done = false;
    dropped.register(this, { breaker, generation, issuedAt }, this);
  }

  /** Records `'success'`, `'failure'` or `'ignored'`; later calls do nothing. */
  record(outcome) {
    const code = OUTCOMES[outcome];
    if (code === undefined) {
      throw new TypeError(`argument \`outcome\` must be 'success', 'failure' or 'ignored', got ${opt.show(outcome)}`);
    }
    if (this._done) return;
    this._done = true;
    dropped.unregister(this);
    this._breaker._record(this._generation, this._issuedAt, code);
  }

  /** Abandons the call: frees its probe slot, records nothing; later calls do nothing. */
  release() {
    if (this._done) return;
    this._done = true;
    dropped.unregister(this);
    this._breaker._release(this._generation, this._issuedAt);
  }
}

/**
 * A circuit breaker. Emits `stateChange` ({ from, to }) for every transition and `reject`
 * (the refusal) for every refused call.
 */
class CircuitBreaker extends EventEmitter {
  constructor(options) {
    super();
    const o = opt.options(options);
    const config = nativeConfig(o);
    this._classify = opt.func(o.classify, 'classify') ?? defaultClassify;
    this._native = opt.construct(() => new NativeBreaker(config), o);
    this._clock = opt.clock(o.clock);
    this._now = this._clock ?? nativeNow;
    this._ns = opt.unit(o.unit);
    this._handle = this._native.handle;
    // Set by every _acquire: the instant the permit was issued at, and a refusal's retryAfter.
    this._issuedAt = 0;
    this._retryAfter = NaN;
  }

  /** The core's try_acquire: the packed answer (see src/code.rs). */
  _acquire() {
    const now = this._clock === undefined ? NaN : this._clock();
    if (typeof now === 'bigint' || this._ns) {
      const at = typeof now === 'number' && Number.isNaN(now) ? nativeNow() : now;
      const code = this._native.tryAcquire(at);
      this._issuedAt = at;
      this._retryAfter = this._ns ? this._native.retryAfterNs : this._native.retryAfter;
      return code;
    }
    R[0] = this._handle;
    R[1] = now;
    const code = fastBreakerAcquire();
    this._issuedAt = R[6];
    this._retryAfter = R[7];
    return code;
  }

  /** Runs `fn(signal)` if the breaker admits it, and records how it ended. */
  execute(fn, options) {
    const signal = options === undefined ? undefined : signalOf(options);
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    const code = this._acquire();
    if (code < 0) return Promise.reject(this._refused(code, true));
    const issuedAt = this._issuedAt;
    const transition = code % 64;
    if (transition !== 0) this._emitTransition(transition);
    const generation = (code - transition) / 64;
    return signal === undefined ? this._run(fn, generation, issuedAt) : this._runAbortable(fn, generation, issuedAt, signal);
  }

  _run(fn, generation, issuedAt) {
    let result;
    try {
      result = fn(undefined);
    } catch (error) {
      this._failed(generation, issuedAt, error);
      return Promise.reject(error);
    }
    if (typeof result?.then === 'function') return this._settle(result, generation, issuedAt);
    this._record(generation, issuedAt, 0);
    return Promise.resolve(result);
  }

  // One `then` on the fn's promise, not an async function: that would add a promise and a
  // suspended frame per call. A foreign thenable is adopted first, as `await` would.
  _settle(promise, generation, issuedAt) {
    const adopted = promise instanceof Promise ? promise : Promise.resolve(promise);
    return adopted.then(
      (value) => {
        this._record(generation, issuedAt, 0);
        return value;
      },
      (error) => {
        this._failed(generation, issuedAt, error);
        throw error;
      },
    );
  }

  /**
   * Admits one call for a Policy, which reports it itself: the permit's generation (its issue
   * instant is left in `_issuedAt`), or throws the refusal, emitted as `execute` emits it.
   */
  _admit() {
    const code = this._acquire();
    if (code < 0) throw this._refused(code, true);
    const transition = code % 64;
    if (transition !== 0) this._emitTransition(transition);
    return (code - transition) / 64;
  }

  /**
   * Runs `fn(signal)` under an admitted call. An abort rejects the caller's promise at once;
   * the call is abandoned (it records nothing), but its probe slot is released only when `fn`
   * settles: it is still running, and a freed slot would let more probes run than allowed.
   */
  _runAbortable(fn, generation, issuedAt, signal) {
    return new Promise((resolve, reject) => {
      let abandoned = false;
      const stop = onAbort(signal, () => {
        abandoned = true;
        reject(abortReason(signal));
      });
      const succeed = (value) => {
        stop();
        if (abandoned) return this._release(generation, issuedAt);
        this._record(generation, issuedAt, 0);
        resolve(value);
      };
      const fail = (error) => {
        stop();
        if (abandoned) return this._release(generation, issuedAt);
        this._failed(generation, issuedAt, error);
        reject(error);
      };
      try {
        Promise.resolve(fn(signal)).then(succeed, fail);
      } catch (error) {
        fail(error);
      }
    });
  }

  /**
   * Asks to make a call without throwing: a permit (`ok: true`) whose `record` or `release`
   * must be called once, or a refusal (`ok: false`) with `code`, `reason` and `retryAfter`.
   */
  tryAcquire() {
    const code = this._acquire();
    if (code < 0) return this._refused(code, false);
    const transition = code % 64;
    if (transition !== 0) this._emitTransition(transition);
    return new BreakerPermit(this, (code - transition) / 64, this._issuedAt);
  }

  _refused(code, asError) {
    const packed = -code;
    const transition = packed % 64;
    if (transition !== 0) this._emitTransition(transition);
    const reason = (packed - transition) / 64;
    const retryAfter = this._retryAfter;
    const refused = asError ? refusalError(reason, retryAfter) : refusal(reason, retryAfter);
    this.emit('reject', refused);
    return refused;
  }

  _failed(generation, issuedAt, error) {
    const code = OUTCOMES[this._classify(error)] ?? 1;
    this._record(generation, issuedAt, code);
  }

  _record(generation, issuedAt, outcome) {
    const now = this._clock === undefined ? NaN : this._clock();
    let transition;
    if (typeof now === 'bigint' || typeof issuedAt === 'bigint') {
      transition = this._native.record(generation, issuedAt, outcome, now);
    } else {
      R[0] = this._handle;
      R[1] = generation;
      R[2] = issuedAt;
      R[3] = outcome;
      R[4] = now;
      transition = fastBreakerRecord();
    }
    if (transition !== 0) this._emitTransition(transition);
  }

  _release(generation, issuedAt) {
    const now = this._clock === undefined ? NaN : this._clock();
    let transition;
    if (typeof now === 'bigint' || typeof issuedAt === 'bigint') {
      transition = this._native.release(generation, issuedAt, now);
    } else {
      R[0] = this._handle;
      R[1] = generation;
      R[2] = issuedAt;
      R[4] = now;
      transition = fastBreakerRelease();
    }
    if (transition !== 0) this._emitTransition(transition);
  }

  /** A permit collected while held: the core's drop (a release at its issue time). */
  _dropped(generation, issuedAt) {
    const transition = this._native.release(generation, issuedAt, issuedAt);
    if (transition !== 0) this._emitTransition(transition);
  }

  _emitTransition(code) {
    this.emit('stateChange', TRANSITIONS[code]);
  }

  _operator(code) {
    if (code !== 0) this._emitTransition(code);
    return TRANSITIONS[code];
  }

  /** Refuses every call until `reset()`. Returns the transition, or null. */
  forceOpen() {
    return this._operator(this._native.forceOpen(this._now()));
  }

  /** Admits every call, counting but never tripping, until `reset()`. Returns the transition, or null. */
  disable() {
    return this._operator(this._native.disable(this._now()));
  }

  /** Closes the breaker with a fresh window. Returns the transition, or null. */
  reset() {
    return this._operator(this._native.reset(this._now()));
  }

  /** Changes thresholds and durations in place, keeping state and window where they fit. */
  reconfigure(options) {
    const o = opt.options(options);
    if (o.unit !== undefined) throw opt.typeError('unit', 'omitted: an instance keeps the unit it was made with', o.unit);
    const config = nativeConfig(o);
    const now = this._now();
    opt.construct(() => this._native.reconfigure(config, now), o);
  }

  /** `'closed'`, `'open'`, `'half_open'`, `'forced_open'` or `'disabled'`. */
  get state() {
    return STATES[this._native.state()];
  }

  /** The state and counters now, as a plain object (instants in ms on the clock's scale, or ns). */
  snapshot() {
    const now = this._now();
    const snapshot = this._native.snapshot(now);
    if (this._ns) snapshot.openUntil = this._native.openUntilNs(now);
    return snapshot;
  }
}

module.exports = { CircuitBreaker, BreakerPermit, STATES, TRANSITIONS };
