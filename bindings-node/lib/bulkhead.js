'use strict';
// Bulkhead: the core's concurrency cap, priority lanes and FIFO wait queue.

const { EventEmitter } = require('node:events');
const { NativeBulkhead, fastBulkheadAcquire, fastBulkheadEnter, fastBulkheadRelease, coreDefaults } = require('./native');
const { R } = require('./fast');
const { refusalError, refusal, abortReason } = require('./errors');
const opt = require('./options');
const { onAbort, signalOf } = require('./sleep');

// The core's largest waiter table: the most callers that may wait in one bulkhead.
const MAX_WAITERS = coreDefaults().bulkheadMaxWaiters;

// A permit handed to the caller (`tryAcquire`, `acquire`) and dropped while held gives its
// slot back when it is garbage-collected, as the core's permit does when dropped; else a
// lost permit would hold its slot for good.
const dropped = new FinalizationRegistry(({ bulkhead, id }) => bulkhead._release(id));

/** A permit; `release()` gives it back once (later calls return false). */
class BulkheadPermit {
  constructor(bulkhead, id) {
    this.ok = true;
    this._bulkhead = bulkhead;
    this._id = id;
    this._released = false;
  }

  /** Makes this permit the caller's: a permit collected while held is released. */
  _handOut() {
    dropped.register(this, { bulkhead: this._bulkhead, id: this._id }, this);
    return this;
  }

  /** The lane the permit was taken in. */
  get lane() {
    return this._released ? null : this._bulkhead._native.laneOf(this._id);
  }

  /** Gives the permit back; true the first time. */
  release() {
    if (this._released) return false;
    this._released = true;
    dropped.unregister(this);
    R[0] = this._bulkhead._handle;
    R[1] = this._id;
    const woken = fastBulkheadRelease();
    if (woken > 0) this._bulkhead._serve();
    return woken >= 0;
  }
}

const checkOptions = opt.declare('Bulkhead', ['maxConcurrent', 'lanes', 'maxWaiting'], {
  concurrency: '`maxConcurrent`',
  maxQueue: '`maxWaiting`',
  queueSize: '`maxWaiting`',
});
const checkAcquire = opt.declare('a bulkhead wait', ['lane', 'signal']);

// Every lane past the configured ones is the lowest (the core's rule); 255 is past them all.
function laneOf(lane) {
  if (lane === undefined) return 0;
  return Math.min(opt.integer(lane, 'lane', 0, Infinity), 255);
}

/**
 * At most `maxConcurrent` calls at once. `lanes` are ceilings per priority lane (lane 0
 * first); `maxWaiting` callers (at most the core's `MAX_WAITERS`, 65535) may wait in the
 * core's FIFO queue; left out, the core's default: as many as the waiter table holds (1024).
 * Emits `reject` (the refusal) for every refused call.
 */
class Bulkhead extends EventEmitter {
  constructor(options) {
    super();
    const o = opt.options(options);
    checkOptions(o);
    const maxConcurrent = opt.integer(o.maxConcurrent, 'maxConcurrent');
    if (maxConcurrent === undefined) throw opt.missing('maxConcurrent');
    let lanes;
    if (o.lanes !== undefined) {
      if (!Array.isArray(o.lanes)) throw opt.typeError('lanes', opt.words('lanes'), o.lanes);
      lanes = o.lanes.map((ceiling, i) => opt.integer(ceiling, `lanes[${i}]`));
    }
    // Left out: the core's default (no limit of its own, so as many as the waiter table holds).
    const maxWaiting = opt.integer(o.maxWaiting, 'maxWaiting', 0, MAX_WAITERS);
    this._native = opt.construct(() => new NativeBulkhead({ maxConcurrent, lanes, maxWaiting }), o);
    this._handle = this._native.handle;
    this._retryAfter = NaN;
    this._waiters = new Map();
  }

  /** A permit now (`ok: true`), or a refusal (`ok: false`) without throwing. */
  tryAcquire(lane) {
    R[0] = this._handle;
    R[1] = laneOf(lane);
    const id = fastBulkheadAcquire();
    this._retryAfter = R[7];
    return id >= 0 ? new BulkheadPermit(this, id)._handOut() : this._refused(id, false);
  }

  /**
   * A permit: at once, or after waiting in the queue. Rejects with a BulkheadFullError when
   * it cannot wait, or with the signal's reason on abort (leaving the queue clean).
   */
  acquire(options) {
    const signal = signalOf(options, checkAcquire);
    const lane = laneOf(options?.lane);
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    const code = this._enter(lane);
    if (code >= 0) return Promise.resolve(new BulkheadPermit(this, code)._handOut());
    return this._waitOrRefuse(code, signal, true);
  }

  /** The core's acquire, first poll: a permit id, a refusal code or a waiter code. */
  _enter(lane) {
    R[0] = this._handle;
    R[1] = lane;
    const code = fastBulkheadEnter();
    this._retryAfter = R[7];
    return code;
  }

  /** Waits in the queue (`handOut`: the permit goes to the caller), or rejects a refusal. */
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

  /** Hands the permits the core granted to their waiting callers. */
  _serve() {
    const granted = this._native.takeGranted();
    for (let i = 0; i < granted.length; i += 2) {
      const waiter = this._waiters.get(granted[i]);
      const permit = new BulkheadPermit(this, granted[i + 1]);
      if (waiter === undefined) {
        permit.release();
        continue;
      }
      this._waiters.delete(granted[i]);
      waiter.stop();
      waiter.resolve(waiter.handOut ? permit._handOut() : permit);
    }
  }

  /** Gives back a permit that only this object knew of. */
  _release(id) {
    R[0] = this._handle;
    R[1] = id;
    if (fastBulkheadRelease() > 0) this._serve();
  }

  /** Runs `fn(signal)` under a permit (waiting for one if the queue allows) and releases it. */
  execute(fn, options) {
    return this._execute(fn, signalOf(options, checkAcquire), laneOf(options?.lane));
  }

  /** `execute` with its options read: what a Policy runs. */
  _execute(fn, signal, lane) {
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    const code = this._enter(lane);
    if (code >= 0) {
      if (signal === undefined) return this._run(fn, code);
      return this._runAbortable(fn, new BulkheadPermit(this, code), signal);
    }
    return this._waitOrRefuse(code, signal, false).then((permit) => {
      if (signal?.aborted) {
        // Granted while the caller was aborting: the permit goes straight back.
        permit.release();
        throw abortReason(signal);
      }
      return signal === undefined ? this._run(fn, permit._id, permit) : this._runAbortable(fn, permit, signal);
    });
  }

  _run(fn, id, permit) {
    let result;
    try {
      result = fn(undefined);
    } catch (error) {
      this._done(id, permit);
      return Promise.reject(error);
    }
    if (typeof result?.then === 'function') return this._settle(result, id, permit);
    this._done(id, permit);
    return Promise.resolve(result);
  }

  // One `then` on the fn's promise, as in CircuitBreaker._settle.
  _settle(promise, id, permit) {
    const adopted = promise instanceof Promise ? promise : Promise.resolve(promise);
    return adopted.then(
      (value) => {
        this._done(id, permit);
        return value;
      },
      (error) => {
        this._done(id, permit);
        throw error;
      },
    );
  }

  _done(id, permit) {
    if (permit === undefined) this._release(id);
    else permit.release();
  }

  /**
   * Runs `fn(signal)` under `permit`. An abort rejects the caller's promise at once, but the
   * permit stays held until `fn` settles: the call is still running, and giving its slot to
   * another would let more than `maxConcurrent` run.
   */
  _runAbortable(fn, permit, signal) {
    return new Promise((resolve, reject) => {
      const stop = onAbort(signal, () => reject(abortReason(signal)));
      const done = () => {
        stop();
        permit.release();
      };
      try {
        Promise.resolve(fn(signal)).then(
          (value) => (done(), resolve(value)),
          (error) => (done(), reject(error)),
        );
      } catch (error) {
        done();
        reject(error);
      }
    });
  }

  _refused(code, asError) {
    const reason = -code / 64;
    const retryAfter = this._retryAfter;
    const answer = asError ? refusalError(reason, retryAfter) : refusal(reason, retryAfter);
    this.emit('reject', answer);
    return answer;
  }

  /** `{ inFlight, peak, waiting, rejected, maxConcurrent }` now. */
  snapshot() {
    return this._native.snapshot();
  }
}

module.exports = { Bulkhead, BulkheadPermit };
