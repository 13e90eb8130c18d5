'use strict';
// Retry: a loop that only sleeps and calls. Every decision of a retried call is the core's
// retry loop (`stanchion::retry::RetryLoop`, src/retry.rs): whether the first attempt may
// start (a deadline) and the budget's deposit; after a failure, whether to retry, the wait
// (the backoff, a hint, `maxDelay`), `maxAttempts`, `maxElapsed`, the deadline, the budget, and
// refusals (not retried unless `retryRefusals`); and the reason the loop stops. This file
// classifies each error (retryable or final, with `retryIf`; a refusal of stanchion's guards
// as a refusal), sleeps on a timer that keeps the process alive, and makes the next call.

const { EventEmitter } = require('node:events');
const { Backoff, RetryBudget } = require('./backoff');
const { Deadline } = require('./deadline');
const { NativeRetry, fastRetryStart, retryStopReasons } = require('./native');
const { RetryBudgetExhaustedError, StanchionError, refusalError, abortReason, REASONS, POLICY_DECISION } = require('./errors');
const opt = require('./options');
const { sleep, signalOf } = require('./sleep');
const { R, nativeNow } = require('./fast');

// The core's names of the stop reasons, by code (src/retry.rs): code c is STOPS[c].
const STOPS = [null, ...retryStopReasons()];
// The core's reason numbers by name, for the refusals this package's guards throw.
const REASON_CODES = new Map();
REASONS.forEach((entry, code) => entry && REASON_CODES.set(entry[0], code));
const BUDGET_EXHAUSTED = REASON_CODES.get('retry_budget_exhausted');
const DEADLINE = STOPS.indexOf('deadline');

/** An instant in ns from its two 32-bit halves (as src/retry.rs writes them), exact. */
function joined(high, low) {
  return (BigInt(high) << 32n) | BigInt(low);
}

// How an attempt failed, as src/retry.rs takes it.
const FINAL = 0;
const RETRYABLE = 1;
const HINTED = 2;
const REFUSED = 3;

/** By default every error is retried but aborts; refusals are the core's to judge. */
function defaultRetryIf(error) {
  return error?.name !== 'AbortError';
}

function randomSeed() {
  return BigInt(Math.floor(Math.random() * 2 ** 53));
}

/** A `retryAfter` read as a hint: ms (a number ≥ 0) or ns (a bigint), else none. */
function hintOf(value) {
  if (typeof value === 'number') return value >= 0 && value !== Infinity ? value : undefined;
  if (typeof value === 'bigint') return value >= 0n && value < 1n << 64n ? value : undefined;
  return undefined;
}

const attempts = (n) =>
  `\`backoff: { maxAttempts }\` (every call, the first included${Number.isInteger(n) ? `: \`retries: ${n}\` is \`backoff: { maxAttempts: ${n + 1} }\`` : ''})`;
const checkOptions = opt.declare('Retry', ['backoff', 'budget', 'retryIf', 'retryRefusals', 'seed', 'clock', 'unit'], {
  retries: attempts,
  maxRetries: attempts,
  maxAttempts: (n) => `\`backoff: { maxAttempts${n === undefined ? '' : `: ${opt.show(n)}`} }\``,
  attempts: (n) => `\`backoff: { maxAttempts${n === undefined ? '' : `: ${opt.show(n)}`} }\``,
  delay: "`backoff: { schedule: 'constant', delay }`",
  minTimeout: "`backoff: { schedule: 'exponential', initial }`",
  factor: "`backoff: { schedule: 'exponential', initial, factor }`",
  shouldRetry: '`retryIf`',
  retryOn: '`retryIf`',
});
const checkStart = opt.declare('a retried call', ['deadline']);

/**
 * Calls `fn(signal, attempt)` until it resolves or the core says stop, waiting between
 * attempts as it says (default backoff: exponential from 100 ms, factor 2, full jitter, 3
 * attempts). Emits `retry` ({ attempt, delay, error }) before each wait and `giveUp`
 * ({ error, reason, attempts }) when it stops after a failure.
 */
class Retry extends EventEmitter {
  constructor(options) {
    super();
    const o = opt.options(options);
    checkOptions(o);
    let backoff;
    if (o.backoff instanceof Backoff) backoff = o.backoff;
    else if (o.backoff === undefined) backoff = new Backoff({ schedule: 'exponential', initial: 100, factor: 2, jitter: 'full' });
    else if (typeof o.backoff === 'object' && o.backoff !== null) backoff = new Backoff(o.backoff);
    else throw opt.typeError('backoff', opt.words('backoff'), o.backoff);
    if (o.budget !== undefined && !(o.budget instanceof RetryBudget)) {
      throw opt.typeError('budget', opt.words('budget'), o.budget);
    }
    this._retryIf = opt.func(o.retryIf, 'retryIf') ?? defaultRetryIf;
    const retryRefusals = opt.boolean(o.retryRefusals, 'retryRefusals') ?? false;
    this._seed = opt.seed(o.seed, 'seed');
    this._clock = opt.clock(o.clock);
    this._now = this._clock ?? nativeNow;
    this._ns = opt.unit(o.unit);
    this._native = new NativeRetry(backoff._native, o.budget?._native, retryRefusals);
    this._handle = this._native.handle;
    // Whether the start can decide or do anything without a deadline: pay into the budget,
    // or note the instant `maxElapsed` counts from. Otherwise a first attempt that succeeds
    // crosses into the addon not at all.
    this._usesStart = backoff._usesStart;
    this._eager = o.budget !== undefined || this._usesStart;
  }

  /** Runs `fn` with retries; resolves to its value or rejects with its last error. */
  execute(fn, options) {
    return this._execute(fn, signalOf(options), undefined, undefined, undefined);
  }

  /**
   * Begins one call's retry decisions, for a loop of your own: the same steps `execute` takes
   * (the core's `RetryLoop`). `deadline` (a `Deadline` on this retry's clock) bounds the call:
   * no wait ends at or after it, no attempt starts at or after it. Make the first attempt
   * unless `stop` is set, then for each failure call `failed(error)` and, after the wait it
   * gives, `resume()`.
   */
  start(options) {
    const o = opt.options(options);
    checkStart(o);
    if (o.deadline !== undefined && !(o.deadline instanceof Deadline)) {
      throw opt.typeError('deadline', 'a Deadline', o.deadline);
    }
    const deadline = o.deadline?._native.expiresAtNs;
    const call = new RetryCall(this, deadline);
    const started = this._start(deadline);
    if (started === null) call._stop = STOPS[DEADLINE];
    else call._started = started === true ? joined(R[5], R[6]) : started;
    return call;
  }

  /**
   * The core's start (the deadline check, the budget's deposit) at this retry's clock, before
   * `deadline` (ms number or ns bigint): null when the deadline has passed (make no attempt),
   * else the start instant: exact ns (a bigint), or `true` when it is in registers 5 and 6
   * (the fast path, which allocates nothing; `joined` reads them).
   */
  _start(deadline) {
    // The instant matters only to `maxElapsed` and a deadline; without them the start reads no
    // clock (it decides nothing by the time, and `begin` is given the same instant).
    if (!this._usesStart && deadline === undefined) {
      R[0] = this._handle;
      R[1] = 0;
      R[2] = NaN;
      fastRetryStart();
      return true;
    }
    const now = this._clock === undefined ? NaN : this._clock();
    if (typeof now === 'bigint' || typeof deadline === 'bigint') {
      return this._native.start(typeof now === 'number' && Number.isNaN(now) ? nativeNow() : now, deadline);
    }
    R[0] = this._handle;
    R[1] = now;
    R[2] = deadline === undefined ? NaN : deadline;
    const code = fastRetryStart();
    if (code === 0) return true;
    if (code !== -DEADLINE) throw new Error(`unexpected stop at the start: ${STOPS[-code]}`);
    return null;
  }

  /**
   * The loop of `execute` and of a `Policy`. `deadline`: no wait ends at or after this instant
   * (ms number or ns bigint, on the clock's scale); `startedAt`: when the caller began the
   * call, on that scale, if it already read the clock; `expired`: the error when the deadline
   * has passed before the first attempt.
   */
  async _execute(fn, signal, deadline, startedAt, expired) {
    if (signal?.aborted) throw abortReason(signal);
    let started = startedAt ?? 0;
    let high;
    let low;
    if (this._eager || (deadline !== undefined && startedAt === undefined)) {
      started = this._start(deadline);
      if (started === null) throw expired;
      if (started === true) {
        high = R[5];
        low = R[6];
      }
    }
    let call;
    for (let attempt = 0; ; ) {
      try {
        return await fn(signal, attempt);
      } catch (error) {
        if (signal?.aborted) throw error;
        if (call === undefined) {
          call = new RetryCall(this, deadline);
          call._started = high === undefined ? started : joined(high, low);
        }
        const wait = call._failed(error);
        if (wait < 0) throw call._error;
        await sleep(wait, signal);
        const next = call._resume();
        if (next < 0) throw call._error;
        attempt = next - 1;
      }
    }
  }
}

/** One retried call's decisions, step by step: the core's `RetryLoop` (see `Retry.start`). */
class RetryCall {
  constructor(retry, deadline) {
    this._retry = retry;
    this._deadline = deadline;
    this._started = 0;
    this._native = undefined;
    this._stop = null;
    this._error = undefined;
    this._last = undefined;
  }

  /** Attempts made or begun so far, the first included; 0 if the deadline stopped the first. */
  get attempts() {
    if (this._native !== undefined) return this._native.attempts;
    return this._stop === null ? 1 : 0;
  }

  /** Why no further attempt is made (the core's name for it), or null while the call goes on. */
  get stop() {
    return this._stop;
  }

  /**
   * The current attempt failed with `error`: `{ next: 'retry', wait }` (sleep `wait`, then
   * `resume()`), or `{ next: 'stop', stop }` with the `error` to give the caller: the last
   * error, or a RetryBudgetExhaustedError whose `cause` it is.
   */
  failed(error) {
    const wait = this._failed(error);
    const retry = this._retry;
    const attempts = this._native.attempts;
    if (wait < 0) return { next: 'stop', wait: null, stop: this._stop, attempts, error: this._error };
    return { next: 'retry', wait: retry._ns ? this._native.waitNs : wait, stop: null, attempts, error: undefined };
  }

  /**
   * The wait is over: `{ proceed: true, attempt }` (the number of the attempt to make, from
   * 2), or `{ proceed: false, stop: 'deadline' }` when the deadline passed meanwhile.
   */
  resume() {
    if (this._native === undefined) throw new Error('resume() follows a failed() that answered retry');
    const next = this._resume();
    return next < 0 ? { proceed: false, attempt: null, stop: this._stop } : { proceed: true, attempt: next, stop: null };
  }

  /** The core's step after a failure: the wait in ms, or -1 when the call stops. */
  _failed(error) {
    const retry = this._retry;
    const native = (this._native ??= retry._native.begin(retry._seed ?? randomSeed(), this._started, this._deadline));
    this._last = error;
    // A Policy's timeout: the core decided what the loop is told, whatever `retryIf` says.
    const decided = error?.[POLICY_DECISION];
    if (decided !== undefined && decided.step !== 'ask') {
      // Past the deadline the call is over: the loop is not asked.
      this._stop = decided.detail;
      this._error = error;
      retry.emit('giveUp', { error, reason: this._stop, attempts: native.attempts });
      return -1;
    }
    let kind;
    let hint;
    let reason = 0;
    if (decided !== undefined) {
      kind = decided.detail === 'final' ? FINAL : RETRYABLE;
    } else if (error instanceof StanchionError && REASON_CODES.has(error.reason)) {
      kind = REFUSED;
      reason = REASON_CODES.get(error.reason);
      hint = hintOf(error.retryAfter);
    } else if (!retry._retryIf(error, native.attempts - 1)) {
      kind = FINAL;
    } else {
      hint = hintOf(error?.retryAfter);
      kind = hint === undefined ? RETRYABLE : HINTED;
    }
    const wait = native.afterFailure(retry._now(), kind, hint, reason);
    if (wait >= 0) {
      retry.emit('retry', { attempt: native.attempts, delay: retry._ns ? native.waitNs : wait, error });
      return wait;
    }
    this._stopped(native, error);
    return -1;
  }

  /** The core's step after a wait: the attempt to make, or -1 when the call stops. */
  _resume() {
    const native = this._native;
    const next = native.resume(this._retry._now());
    if (next > 0) return next;
    this._stopped(native, this._last);
    return -1;
  }

  _stopped(native, error) {
    this._stop = native.stop;
    this._error = error;
    if (native.stopReason === BUDGET_EXHAUSTED && this._stop === 'budget_exhausted') {
      const refused = refusalError(BUDGET_EXHAUSTED, this._retry._ns ? native.stopRetryAfterNs : native.stopRetryAfter);
      refused.cause = error;
      this._error = refused;
    }
    this._retry.emit('giveUp', { error, reason: this._stop, attempts: native.attempts });
  }
}

module.exports = { Retry, RetryCall, RetryBudgetExhaustedError };
