'use strict';
// AdaptiveLimiter: the core's adaptive concurrency limit (a bulkhead whose limit follows the
// latency it measures: AIMD, Vegas or Gradient2) with the bulkhead's FIFO wait queue, Promises,
// AbortSignal and events. Every limit, window, default and range is the core's; this file only
// maps how a call ended to the core's outcomes.

const { EventEmitter } = require('node:events');
const {
  NativeAdaptiveLimiter,
  fastAdaptiveAcquire,
  fastAdaptiveEnter,
  fastAdaptiveRecord,
  fastAdaptiveRelease,
  coreDefaults,
} = require('./native');
const { R, nativeNow } = require('./fast');
const { refusalError, refusal, abortReason } = require('./errors');
const opt = require('./options');
const { onAbort, signalOf } = require('./sleep');

// The core's outcomes by their stable numbers (`adaptive::Outcome as u8`).
const OUTCOMES = { success: 0, failure: 1, ignored: 2, dropped: 3 };
const SUCCESS = 0;
const FAILURE = 1;
const IGNORED = 2;
const DROPPED = 3;

const DEFAULTS = coreDefaults();
const MAX_WAITERS = DEFAULTS.bulkheadMaxWaiters;

// The parameters of each algorithm, as the core's `Aimd`, `Vegas` and `Gradient2` have them.
const PARAMETERS = {
  aimd: ['backoffRatio', 'timeout'],
  vegas: ['alpha', 'beta', 'probeMultiplier', 'smoothing'],
  gradient2: ['smoothing', 'queueSize', 'longWindow', 'rttTolerance', 'creepGuard'],
};
const checkAlgorithm = Object.fromEntries(
  Object.entries(PARAMETERS).map(([name, params]) => [name, opt.declare(`the ${name} algorithm`, ['name', ...params])]),
);

const checkOptions = opt.declare(
  'AdaptiveLimiter',
  ['algorithm', 'initialLimit', 'minLimit', 'maxLimit', 'minSamples', 'window', 'maxWaiting', 'seed', 'dropOn', 'clock', 'unit'],
  {
    maxConcurrent: '`initialLimit` (the limit then follows the latency, between `minLimit` and `maxLimit`)',
    limit: '`initialLimit`',
    concurrency: '`initialLimit`',
    maxQueue: '`maxWaiting`',
    queueSize: '`maxWaiting`, or `algorithm: { name: "gradient2", queueSize }`',
    classify: '`dropOn` (which errors are drops; every other error is a latency sample)',
  },
);
const checkAcquire = opt.declare('an adaptive limiter wait', ['signal']);

/** A duration option, worded as one whatever else shares its name. */
function durationOption(value, name) {
  try {
    return opt.duration(value, name);
  } catch (error) {
    throw error instanceof RangeError ? opt.rangeError(name, opt.DURATION, value) : opt.typeError(name, opt.DURATION, value);
  }
}

/** The native config of the `algorithm` option: a name, or `{ name, ...parameters }`. */
function algorithmConfig(value, config) {
  if (value === undefined) return;
  const object = value !== null && typeof value === 'object';
  const name = object ? value.name : value;
  if (!Object.hasOwn(PARAMETERS, name ?? '')) {
    throw object ? opt.typeError('algorithm.name', opt.words('algorithm.name'), name) : opt.typeError('algorithm', opt.words('algorithm'), value);
  }
  config.algorithm = name;
  if (!object) return;
  checkAlgorithm[name](value, 'algorithm.');
  config.backoffRatio = opt.finite(value.backoffRatio, 'algorithm.backoffRatio');
  config.timeout = opt.duration(value.timeout, 'algorithm.timeout');
  config.alpha = opt.integer(value.alpha, 'algorithm.alpha');
  config.beta = opt.integer(value.beta, 'algorithm.beta');
  config.probeMultiplier = opt.integer(value.probeMultiplier, 'algorithm.probeMultiplier');
  config.smoothing = opt.finite(value.smoothing, 'algorithm.smoothing');
  config.queueSize = opt.integer(value.queueSize, 'algorithm.queueSize');
  config.longWindow = opt.integer(value.longWindow, 'algorithm.longWindow');
  config.rttTolerance = opt.finite(value.rttTolerance, 'algorithm.rttTolerance');
  config.creepGuard = opt.boolean(value.creepGuard, 'algorithm.creepGuard');
}

/**
 * The core's range of a field, in this package's words: `1..=max_limit` reads "an integer
 * from 1 to `maxLimit` (1000)", `(0, 1]` reads "a number in (0, 1]".
 */
function coreWords(field, allowed, o) {
  if (allowed === 'at least 1 ns') return opt.POSITIVE_DURATION;
  const range = /^(\w+)\.\.=(\w+)$/.exec(allowed);
  if (range !== null) {
    const end = (x) => {
      if (/^\d+$/.test(x)) return x;
      const name = opt.camel(x);
      return `\`${name}\` (${o[name] ?? DEFAULT_OF[name]})`;
    };
    return `an integer from ${end(range[1])} to ${end(range[2])}`;
  }
  if (/^[[(].*[\])]$/.test(allowed)) return `a number in ${allowed}`;
  return undefined;
}

// The core's defaults of the options a range may name, or a message may show as received.
const DEFAULT_OF = {
  initialLimit: DEFAULTS.adaptiveInitialLimit,
  minLimit: DEFAULTS.adaptiveMinLimit,
  maxLimit: DEFAULTS.adaptiveMaxLimit,
  minSamples: DEFAULTS.adaptiveMinSamples,
};

/** The default `dropOn`: a timeout, as this package and the platform name them. */
function isTimeout(error) {
  if (error === null || typeof error !== 'object') return false;
  // A Policy's TimeoutError, AbortSignal.timeout()'s DOMException, or an abort caused by one.
  if (error.name === 'TimeoutError' || error.code === 'ERR_TIMEOUT') return true;
  return error.name === 'AbortError' && error.cause?.name === 'TimeoutError';
}

// A permit handed to the caller and dropped while held gives its slot back, with no sample,
// when it is garbage-collected, as the core's permit does when dropped.
const dropped = new FinalizationRegistry(({ limiter, id }) => limiter._release(id));

/**
 * A permit of an AdaptiveLimiter: report how its call ended with `record(outcome)`, or give it
 * back unreported with `release()`; only the first report counts.
 */
class AdaptivePermit {
  constructor(limiter, id) {
    this.ok = true;
    this._limiter = limiter;
    this._id = id;
    this._done = false;
  }

  /** Makes this permit the caller's: a permit collected while held is released. */
  _handOut() {
    dropped.register(this, { limiter: this._limiter, id: this._id }, this);
    return this;
  }

  /** The calls in flight when it was admitted, itself included; null once reported. */
  get inFlight() {
    return this._done ? null : this._limiter._native.inFlightOf(this._id);
  }

  /**
   * Reports how the call ended (`'success'` or `'failure'`: its latency is a sample;
   * `'dropped'`: a timeout or an overload refusal from further down; `'ignored'`: no sample)
   * and gives the permit back. Returns the change of limit this report made (`{ from, to }`),
   * else null; a later report does nothing and returns null.
   */
  record(outcome) {
    const code = OUTCOMES[outcome];
    if (code === undefined || !Object.hasOwn(OUTCOMES, outcome)) throw opt.typeError('outcome', opt.words('outcome'), outcome);
    if (this._done) return null;
    this._done = true;
    dropped.unregister(this);
    return this._limiter._ended(this._id, code);
  }

  /** Gives the permit back with no sample; true the first time. */
  release() {
    if (this._done) return false;
    this._done = true;
    dropped.unregister(this);
    return this._limiter._release(this._id);
  }
}

/**
 * A concurrency limit that follows the measured latency (the core's AdaptiveLimiter): at most
 * `limit` calls at once, with `maxWaiting` callers in a FIFO queue as a Bulkhead has; each
 * call's latency feeds the algorithm, which moves the limit between `minLimit` and `maxLimit`.
 * Emits `limitChange` ({ from, to }) when a report changes the limit, and `reject` (the
 * refusal) for every refused call.
 */
class AdaptiveLimiter extends EventEmitter {
  constructor(options) {
    super();
    const o = opt.options(options);
    checkOptions(o);
    const config = {};
    algorithmConfig(o.algorithm, config);
    config.initialLimit = opt.integer(o.initialLimit, 'initialLimit');
    config.minLimit = opt.integer(o.minLimit, 'minLimit');
    config.maxLimit = opt.integer(o.maxLimit, 'maxLimit');
    config.minSamples = opt.integer(o.minSamples, 'minSamples');
    config.window = durationOption(o.window, 'window');
    // Left out: the core's default (no limit of its own, so as many as the waiter table holds).
    config.maxWaiting = opt.integer(o.maxWaiting, 'maxWaiting', 0, MAX_WAITERS);
    config.seed = opt.seed(o.seed, 'seed');
    this._dropOn = opt.func(o.dropOn, 'dropOn') ?? isTimeout;
    this._clock = opt.clock(o.clock);
    this._ns = opt.unit(o.unit);
    this._native = opt.construct(() => new NativeAdaptiveLimiter(config), o, { words: coreWords, defaults: DEFAULT_OF });
    this._handle = this._native.handle;
    this._waiters = new Map();
  }

  /** The clock's reading, or NaN for the native clock (read natively on the hot path). */
  _now() {
    return this._clock === undefined ? NaN : this._clock();
  }

  /** The core's try_acquire (`enter`: its acquire, first poll): a permit id, or a code. */
  _acquire(enter) {
    const now = this._now();
    if (typeof now === 'bigint') return enter ? this._native.acquire(now) : this._native.tryAcquire(now);
    R[0] = this._handle;
    R[1] = now;
    return enter ? fastAdaptiveEnter() : fastAdaptiveAcquire();
  }

  /** A permit now (`ok: true`), or a refusal (`ok: false`) without throwing. */
  tryAcquire() {
    const id = this._acquire(false);
    return id >= 0 ? new AdaptivePermit(this, id)._handOut() : this._refused(id, false);
  }

  /**
   * A permit: at once, or after waiting in the queue (its latency is measured from when it is
   * granted). Rejects with a BulkheadFullError when it cannot wait, or with the signal's reason
   * on abort (leaving the queue clean).
   */
  acquire(options) {
    const signal = signalOf(options, checkAcquire);
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    const code = this._acquire(true);
    if (code >= 0) return Promise.resolve(new AdaptivePermit(this, code)._handOut());
    return this._waitOrRefuse(code, signal, true);
  }

  /** Waits in the queue (`handOut`: a permit for the caller, else its id), or rejects a refusal. */
  _waitOrRefuse(code, signal, handOut) {
    const packed = -code / 64;
    if (packed < 16) return Promise.reject(this._refused(code, true));
    const waiter = packed - 16;
    return new Promise((resolve, reject) => {
      const stop = onAbort(signal, () => {
        if (!this._waiters.delete(waiter)) return;
        reject(abortReason(signal));
        if (this._native.cancel(waiter) > 0) this._serve();
      });
      this._waiters.set(waiter, { resolve, stop, handOut });
    });
  }

  /** Hands the permits the core granted to their waiting callers, issued at the clock's now. */
  _serve() {
    const now = this._now();
    const granted = this._native.takeGranted(typeof now === 'number' && Number.isNaN(now) ? nativeNow() : now);
    for (let i = 0; i < granted.length; i += 2) {
      const waiter = this._waiters.get(granted[i]);
      const id = granted[i + 1];
      if (waiter === undefined) {
        this._release(id);
        continue;
      }
      this._waiters.delete(granted[i]);
      waiter.stop();
      waiter.resolve(waiter.handOut ? new AdaptivePermit(this, id)._handOut() : id);
    }
  }

  /** Gives back permit `id` with no sample; true if it was held. */
  _release(id) {
    R[0] = this._handle;
    R[1] = id;
    const released = fastAdaptiveRelease() === 1;
    if (this._waiters.size > 0) this._serve();
    return released;
  }

  /**
   * Reports permit `id`'s outcome (a number) at the clock's now; returns the change of limit,
   * or null. The permit is given back and the queue served before `limitChange` is emitted, so
   * a listener that throws loses no permit (its error goes to whoever made the report).
   */
  _ended(id, outcome) {
    const now = this._now();
    let code;
    if (typeof now === 'bigint') {
      code = this._native.record(id, outcome, now);
    } else {
      R[0] = this._handle;
      R[1] = id;
      R[2] = outcome;
      R[3] = now;
      code = fastAdaptiveRecord();
    }
    if (this._waiters.size > 0) this._serve();
    if (code <= 0) return null;
    const packed = code - 1;
    const change = { from: Math.floor(packed / 65536), to: packed % 65536 };
    this.emit('limitChange', change);
    return change;
  }

  /**
   * The outcome of a call that settled (`ok`, with its value or error), or that the caller
   * abandoned: `judge` (a Policy's, from the core's decision) or this limiter's own rule.
   */
  _outcome(judge, abandoned, ok, result) {
    if (judge !== undefined) return OUTCOMES[judge(abandoned, ok, result)] ?? IGNORED;
    if (abandoned) return IGNORED;
    if (ok) return SUCCESS;
    return this._dropOn(result) ? DROPPED : FAILURE;
  }

  /** Reports the end of permit `id`'s call; a `dropOn` that throws still gives the permit back. */
  _settled(id, judge, abandoned, ok, result) {
    let outcome;
    try {
      outcome = this._outcome(judge, abandoned, ok, result);
    } catch (error) {
      this._ended(id, FAILURE);
      throw error;
    }
    this._ended(id, outcome);
  }

  /**
   * Runs `fn(signal)` under a permit (waiting for one if the queue allows) and reports how it
   * ended: resolved is a success, rejected a failure (its latency a sample) unless `dropOn`
   * says the error is a drop (by default a timeout). Aborting the signal rejects at once; the
   * permit is given back with no sample once `fn` settles.
   */
  execute(fn, options) {
    return this._execute(fn, signalOf(options, checkAcquire), undefined);
  }

  /** `execute` with its options read; `judge(abandoned, ok, result)` names the outcome (a Policy's). */
  _execute(fn, signal, judge) {
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    const code = this._acquire(true);
    if (code >= 0) return this._run(fn, code, signal, judge);
    return this._waitOrRefuse(code, signal, false).then((id) => {
      if (signal?.aborted) {
        // Granted while the caller was aborting: the permit goes straight back.
        this._release(id);
        throw abortReason(signal);
      }
      return this._run(fn, id, signal, judge);
    });
  }

  _run(fn, id, signal, judge) {
    if (signal !== undefined) return this._runAbortable(fn, id, signal, judge);
    let result;
    try {
      result = fn(undefined);
    } catch (error) {
      return this._failedNow(id, judge, error);
    }
    if (typeof result?.then === 'function') {
      // One `then` on the fn's promise, as in Bulkhead._settle.
      const adopted = result instanceof Promise ? result : Promise.resolve(result);
      return adopted.then(
        (value) => {
          this._settled(id, judge, false, true, value);
          return value;
        },
        (error) => {
          this._settled(id, judge, false, false, error);
          throw error;
        },
      );
    }
    try {
      this._settled(id, judge, false, true, result);
    } catch (error) {
      return Promise.reject(error);
    }
    return Promise.resolve(result);
  }

  _failedNow(id, judge, error) {
    try {
      this._settled(id, judge, false, false, error);
    } catch (reportError) {
      return Promise.reject(reportError);
    }
    return Promise.reject(error);
  }

  /**
   * Runs `fn(signal)` under permit `id`. An abort rejects the caller's promise at once, but the
   * permit stays held until `fn` settles: the call is still running, and giving its slot to
   * another would let more than the limit run.
   */
  _runAbortable(fn, id, signal, judge) {
    return new Promise((resolve, reject) => {
      let abandoned = false;
      const stop = onAbort(signal, () => {
        abandoned = true;
        reject(abortReason(signal));
      });
      const done = (ok, result) => {
        stop();
        try {
          this._settled(id, judge, abandoned, ok, result);
        } catch (error) {
          reject(error);
          return;
        }
        if (ok) resolve(result);
        else reject(result);
      };
      try {
        Promise.resolve(fn(signal)).then(
          (value) => done(true, value),
          (error) => done(false, error),
        );
      } catch (error) {
        done(false, error);
      }
    });
  }

  _refused(code, asError) {
    const reason = -code / 64;
    const answer = asError ? refusalError(reason, NaN) : refusal(reason, NaN);
    this.emit('reject', answer);
    return answer;
  }

  /** The limit in force. */
  get limit() {
    return this._native.limit;
  }

  /**
   * `{ limit, inFlight, waiting, peak, rejected, baseline, lastUpdate, windows }` now; `baseline`
   * (a duration) and `lastUpdate` (an instant of the clock) in ms, or exact ns with `unit: 'ns'`,
   * null until there is one.
   */
  snapshot() {
    return this._native.snapshot(this._ns);
  }
}

module.exports = { AdaptiveLimiter, AdaptivePermit, OUTCOMES };
