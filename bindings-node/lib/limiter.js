'use strict';
// RateLimiter (the core's token bucket) and KeyedRateLimiter (its keyed table).

const { EventEmitter } = require('node:events');
const { NativeRateLimiter, NativeKeyedRateLimiter, fastBucketAcquire, fastBucketReserve, keyedSizes } = require('./native');
const { R, nativeNow } = require('./fast');
const { refusalError, refusal } = require('./errors');
const opt = require('./options');
const { sleep, signalOf } = require('./sleep');

/** What every `tryAcquire` form returns on admission. */
const ADMITTED = Object.freeze({ ok: true });

const BUCKET = ['capacity', 'refillAmount', 'refillEvery', 'clock', 'unit'];
const HINTS = {
  tokensPerInterval: '`refillAmount` (with `refillEvery`)',
  interval: '`refillEvery`',
  burst: '`capacity`',
  rate: '`refillAmount` per `refillEvery`',
};
const checkOptions = opt.declare('RateLimiter', BUCKET, HINTS);
const checkKeyedOptions = opt.declare('KeyedRateLimiter', [...BUCKET, 'maxKeys', 'whenFull'], HINTS);
const checkAcquire = opt.declare('a limiter wait', ['n', 'maxWait', 'signal']);

function bucketConfig(o) {
  const capacity = opt.integer(o.capacity, 'capacity');
  if (capacity === undefined) throw opt.missing('capacity');
  return {
    capacity,
    refillAmount: opt.integer(o.refillAmount, 'refillAmount'),
    refillEvery: opt.duration(o.refillEvery, 'refillEvery'),
  };
}

function tokens(n) {
  if (n === undefined) return 1;
  return opt.integer(n, 'n');
}

/** A `maxWait`: undefined for none, else checked and kept as given (ms number or ns bigint). */
function maxWaitOf(value) {
  if (value === undefined || value === Infinity) return undefined;
  opt.duration(value, 'maxWait');
  return value;
}

/** A `maxWait` as the addon's methods take it: bigint nanoseconds, or undefined. */
function maxWaitNs(value) {
  return value === undefined ? undefined : opt.duration(value, 'maxWait');
}

function waitOptions(options) {
  const signal = signalOf(options, checkAcquire);
  return { n: tokens(options?.n), maxWait: maxWaitOf(options?.maxWait), signal };
}

/** Shared by both limiters: a reservation's answer, then the wait until its instant. */
function waitFor(limiter, readyAtOrCode, now, signal) {
  if (readyAtOrCode < 0) return Promise.reject(limiter._refused(readyAtOrCode, true));
  if (readyAtOrCode === now) return Promise.resolve();
  const wait = readyAtOrCode - (typeof now === 'bigint' ? Number(now) / 1e6 : now);
  if (wait <= 0) return Promise.resolve();
  return sleep(wait, signal);
}

function refused(limiter, code, asError) {
  const reason = -code / 64;
  const retryAfter = limiter._retryAfter;
  const answer = asError ? refusalError(reason, retryAfter) : refusal(reason, retryAfter);
  limiter.emit('reject', answer);
  return answer;
}

/**
 * A token bucket: `capacity` tokens of burst, refilled by `refillAmount` every `refillEvery`
 * ms (default 1000). Emits `reject` (the refusal) for every refused request.
 */
class RateLimiter extends EventEmitter {
  constructor(options) {
    super();
    const o = opt.options(options);
    checkOptions(o);
    const config = bucketConfig(o);
    this._native = opt.construct(() => new NativeRateLimiter(config), o);
    this._clock = opt.clock(o.clock);
    this._now = this._clock ?? nativeNow;
    this._ns = opt.unit(o.unit);
    this._handle = this._native.handle;
    this._retryAfter = NaN;
    this._reservedAt = 0;
  }

  /** Takes `n` tokens now, or returns a refusal (`ok: false`) without throwing. */
  tryAcquire(n) {
    const count = n === undefined ? 1 : tokens(n);
    const now = this._clock === undefined ? NaN : this._clock();
    let code;
    if (typeof now === 'bigint' || this._ns) {
      code = this._native.tryAcquire(count, typeof now === 'number' && Number.isNaN(now) ? nativeNow() : now);
      this._retryAfter = this._ns ? this._native.retryAfterNs : this._native.retryAfter;
    } else {
      R[0] = this._handle;
      R[1] = count;
      R[2] = now;
      code = fastBucketAcquire();
      this._retryAfter = R[7];
    }
    return code === 0 ? ADMITTED : this._refused(code, false);
  }

  /** The core's reserve: the ready instant or a refusal code; the instant used in _reservedAt. */
  _reserve(n, maxWait) {
    const now = this._clock === undefined ? NaN : this._clock();
    if (typeof now === 'bigint' || typeof maxWait === 'bigint' || this._ns) {
      const at = typeof now === 'number' && Number.isNaN(now) ? nativeNow() : now;
      const code = this._native.reserve(n, at, maxWaitNs(maxWait));
      this._retryAfter = this._ns ? this._native.retryAfterNs : this._native.retryAfter;
      this._reservedAt = at;
      return code;
    }
    R[0] = this._handle;
    R[1] = n;
    R[2] = now;
    R[3] = maxWait === undefined ? Infinity : maxWait;
    const code = fastBucketReserve();
    this._retryAfter = R[7];
    this._reservedAt = R[6];
    return code;
  }

  /**
   * Reserves `n` tokens and resolves when they are due (on a timer that keeps the process
   * alive meanwhile). Rejects with a RateLimitedError if that is more than `maxWait` ms away
   * (default: no limit), or with the signal's reason on abort (the reserved tokens are spent:
   * the core gives none back).
   */
  acquire(options) {
    const { n, maxWait, signal } = waitOptions(options);
    if (signal?.aborted) return sleep(0, signal);
    const code = this._reserve(n, maxWait);
    return waitFor(this, code, this._reservedAt, signal);
  }

  /** `acquire`, then `fn(signal)`. */
  async execute(fn, options) {
    await this.acquire(options);
    return fn(options?.signal);
  }

  /** Reserves `n` tokens: the instant (ms, on the clock's scale, or ns) to proceed at, or a refusal. */
  reserve(n, maxWait) {
    if (this._ns) {
      const answer = this._native.reserveNs(tokens(n), this._now(), maxWaitNs(maxWaitOf(maxWait)));
      return reservationNs(this, answer);
    }
    const code = this._reserve(tokens(n), maxWaitOf(maxWait));
    return code < 0 ? this._refused(code, false) : { ok: true, readyAt: code };
  }

  _refused(code, asError) {
    return refused(this, code, asError);
  }

  /** Whole tokens available now. */
  available() {
    return this._native.available(this._now());
  }

  /** `{ available, capacity, nextTokenAt, fullAt }` now. */
  snapshot() {
    const now = this._now();
    const snapshot = this._native.snapshot(now);
    return this._ns ? Object.assign(snapshot, this._native.timesNs(now)) : snapshot;
  }
}

/** A `reserveNs` answer: the exact instant (a bigint), or a refusal code. */
function reservationNs(limiter, answer) {
  if (typeof answer === 'bigint') return { ok: true, readyAt: answer };
  limiter._retryAfter = limiter._native.retryAfterNs;
  return limiter._refused(answer, false);
}

function key(value) {
  if (typeof value === 'string') return value;
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value < 0) throw opt.rangeError('key', opt.words('key'), value);
    return value;
  }
  if (typeof value === 'bigint') {
    if (value < 0n || value >= 1n << 64n) throw opt.rangeError('key', opt.words('key'), value);
    return value;
  }
  throw opt.typeError('key', opt.words('key'), value);
}

// The table sizes the addon offers (src/keyed_limiter.rs), and the default: the core has no
// default size, so this is the binding's choice, the Python binding's too.
const SIZES = keyedSizes();
const DEFAULT_KEYS = 1024;

function slots(maxKeys) {
  if (maxKeys === undefined) return DEFAULT_KEYS;
  const n = opt.integer(maxKeys, 'maxKeys', 1, SIZES.at(-1));
  if (!SIZES.includes(n)) throw opt.rangeError('maxKeys', opt.words('maxKeys'), n);
  return n;
}

/**
 * A token bucket per key (string, number or bigint) in a fixed table of exactly `maxKeys`
 * slots (1 to 16, or a power of two up to 65536; default 1024). Strings map to the core's key with its
 * `key_of_bytes` (FNV-1a 64 of the UTF-8), as in every stanchion binding. When every slot
 * holds an active key a new key is refused (`whenFull: 'reject'`, the default) or admitted
 * untracked (`'admit'`).
 */
class KeyedRateLimiter extends EventEmitter {
  constructor(options) {
    super();
    const o = opt.options(options);
    checkKeyedOptions(o);
    const bucket = bucketConfig(o);
    if (o.whenFull !== undefined && o.whenFull !== 'reject' && o.whenFull !== 'admit') {
      throw opt.typeError('whenFull', opt.words('whenFull'), o.whenFull);
    }
    const config = { bucket, slots: slots(o.maxKeys), admitWhenFull: o.whenFull === 'admit' };
    this._native = opt.construct(() => new NativeKeyedRateLimiter(config), o);
    this._now = opt.clock(o.clock) ?? nativeNow;
    this._ns = opt.unit(o.unit);
    this._retryAfter = NaN;
    this.maxKeys = config.slots;
  }

  /** Takes `n` tokens of `key` now, or returns a refusal (`ok: false`) without throwing. */
  tryAcquire(k, n) {
    const code = this._native.tryAcquire(key(k), n === undefined ? 1 : tokens(n), this._now());
    if (code === 0) return ADMITTED;
    this._retryAfter = this._ns ? this._native.retryAfterNs : this._native.retryAfter;
    return this._refused(code, false);
  }

  /** As `RateLimiter.acquire`, for `key`. */
  acquire(k, options) {
    const checked = key(k);
    const { n, maxWait, signal } = waitOptions(options);
    if (signal?.aborted) return sleep(0, signal);
    const now = this._now();
    const code = this._native.reserve(checked, n, now, maxWaitNs(maxWait));
    this._retryAfter = this._ns ? this._native.retryAfterNs : this._native.retryAfter;
    return waitFor(this, code, now, signal);
  }

  /** Reserves `n` tokens of `key`: the instant to proceed at, or a refusal. */
  reserve(k, n, maxWait) {
    if (this._ns) return reservationNs(this, this._native.reserveNs(key(k), tokens(n), this._now(), maxWaitNs(maxWaitOf(maxWait))));
    const code = this._native.reserve(key(k), tokens(n), this._now(), maxWaitNs(maxWaitOf(maxWait)));
    this._retryAfter = this._ns ? this._native.retryAfterNs : this._native.retryAfter;
    return code < 0 ? this._refused(code, false) : { ok: true, readyAt: code };
  }

  _refused(code, asError) {
    return refused(this, code, asError);
  }

  /** Whole tokens available to `key` now. */
  available(k) {
    return this._native.available(key(k), this._now());
  }

  /** `key`'s bucket now. */
  snapshot(k) {
    const checked = key(k);
    const now = this._now();
    const snapshot = this._native.snapshot(checked, now);
    return this._ns ? Object.assign(snapshot, this._native.timesNs(checked, now)) : snapshot;
  }

  /** Slots whose bucket is not full now. */
  activeKeys() {
    return this._native.activeKeys(this._now());
  }
}

module.exports = { RateLimiter, KeyedRateLimiter, ADMITTED };
