'use strict';
// Retry: the core's backoff decides each wait and when to stop, an optional RetryBudget
// decides whether a retry may happen at all; this loop only sleeps (on a timer that keeps the
// process alive while the caller awaits the call).

const { EventEmitter } = require('node:events');
const { Backoff, RetryBudget } = require('./backoff');
const { RetryBudgetExhaustedError, StanchionError, refusalError, abortReason } = require('./errors');
const opt = require('./options');
const { sleep, signalOf } = require('./sleep');
const { R, nativeNow } = require('./fast');

const EXHAUSTED = { '-1': 'max_attempts', '-2': 'max_elapsed' };

/** By default every error is retried except refusals (as the core's policy does) and aborts. */
function defaultRetryIf(error) {
  return !(error instanceof StanchionError) && error?.name !== 'AbortError';
}

function randomSeed() {
  return BigInt(Math.floor(Math.random() * 2 ** 53));
}

/**
 * Calls `fn(signal, attempt)` until it resolves, waiting between attempts as `backoff` says
 * (default: exponential from 100 ms, factor 2, full jitter, 3 attempts). Emits `retry`
 * ({ attempt, delay, error }) before each wait and `giveUp` ({ error, reason }) when it stops.
 */
const attempts = (n) =>
  `\`backoff: { maxAttempts }\` (every call, the first included${Number.isInteger(n) ? `: \`retries: ${n}\` is \`backoff: { maxAttempts: ${n + 1} }\`` : ''})`;
const checkOptions = opt.declare('Retry', ['backoff', 'budget', 'retryIf', 'seed', 'clock'], {
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

class Retry extends EventEmitter {
  constructor(options) {
    super();
    const o = opt.options(options);
    checkOptions(o);
    if (o.backoff instanceof Backoff) this._backoff = o.backoff;
    else if (o.backoff === undefined) this._backoff = new Backoff({ schedule: 'exponential', initial: 100, factor: 2, jitter: 'full' });
    else if (typeof o.backoff === 'object' && o.backoff !== null) this._backoff = new Backoff(o.backoff);
    else throw opt.typeError('backoff', opt.words('backoff'), o.backoff);
    if (o.budget !== undefined && !(o.budget instanceof RetryBudget)) {
      throw opt.typeError('budget', opt.words('budget'), o.budget);
    }
    this._budget = o.budget;
    this._retryIf = opt.func(o.retryIf, 'retryIf') ?? defaultRetryIf;
    this._seed = opt.seed(o.seed, 'seed');
    this._now = opt.clock(o.clock) ?? nativeNow;
  }

  /** Runs `fn` with retries; resolves to its value or rejects with its last error. */
  execute(fn, options) {
    return this._execute(fn, signalOf(options), undefined);
  }

  /** `deadline`: no retry whose wait would end past this instant (ms, clock scale). */
  async _execute(fn, signal, deadline) {
    if (signal?.aborted) throw abortReason(signal);
    // The start matters only to `maxElapsed`; without it the success path reads no clock.
    let started = this._backoff._usesStart ? this._now() : undefined;
    if (this._budget !== undefined) this._budget.deposit();
    let retrying;
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn(signal, attempt);
      } catch (error) {
        if (signal?.aborted || !this._retryIf(error, attempt)) throw error;
        const now = this._now();
        started ??= now;
        retrying ??= this._backoff.start(this._seed ?? randomSeed(), started);
        const hint = typeof error?.retryAfter === 'number' && error.retryAfter >= 0 ? error.retryAfter : undefined;
        const delay = retrying.nextDelay(now, hint);
        if (delay < 0) {
          this.emit('giveUp', { error, reason: EXHAUSTED[delay] });
          throw error;
        }
        if (deadline !== undefined && opt.millis(now) + delay > deadline) {
          this.emit('giveUp', { error, reason: 'deadline' });
          throw error;
        }
        if (this._budget !== undefined) {
          const code = this._budget._tryRetry();
          if (code !== 0) {
            const refused = refusalError(-code / 64, R[7]);
            refused.cause = error;
            this.emit('giveUp', { error, reason: 'retry_budget_exhausted' });
            throw refused;
          }
        }
        this.emit('retry', { attempt: attempt + 1, delay, error });
        await sleep(delay, signal);
      }
    }
  }
}

module.exports = { Retry, RetryBudgetExhaustedError };
