'use strict';
// Deadline: the core's Deadline read against a clock. The core does the arithmetic (it
// saturates at the end of time and counts the instant itself as expired); this class only
// reads the clock and converts.

const { NativeDeadline } = require('./native');
const opt = require('./options');
const { nativeNow } = require('./fast');

const checkOptions = opt.declare('Deadline', ['timeout', 'at', 'clock', 'unit']);

/**
 * One instant for a whole call, retries and nested calls included: `timeout` after now, or
 * `at` an instant of the clock. A call should not start once it has expired.
 *
 * @example
 * const deadline = new Deadline({ timeout: 2_000 });
 * if (!deadline.isExpired()) await fetch(url, { signal: AbortSignal.timeout(deadline.remaining()) });
 */
class Deadline {
  constructor(options) {
    const o = opt.options(options);
    checkOptions(o);
    if (o.timeout !== undefined && o.at !== undefined) {
      throw opt.typeError('at', 'omitted when `timeout` is given (a deadline is one or the other)', o.at);
    }
    if (o.timeout === undefined && o.at === undefined) {
      throw opt.missing('timeout', ' (or give `at`, an instant of the clock)');
    }
    // Checked before the clock is read, so a bad option reads no time.
    const timeout = opt.duration(o.timeout, 'timeout');
    const at = opt.duration(o.at, 'at');
    // With a timeout the clock is read below, once, and checked there.
    this._now = opt.clock(o.clock, { readNow: timeout === undefined }) ?? nativeNow;
    this._ns = opt.unit(o.unit);
    this._native = timeout === undefined ? NativeDeadline.at(at) : NativeDeadline.after(this._now(), timeout);
  }

  /** The instant it expires, in milliseconds on the clock's scale (or ns with `unit: 'ns'`). */
  get expiresAt() {
    return this._ns ? this._native.expiresAtNs : this._native.expiresAt;
  }

  /** Milliseconds (or ns) left now; 0 once expired, never negative. */
  remaining() {
    return this._ns ? this._native.remainingNs(this._now()) : this._native.remaining(this._now());
  }

  /** Whether it has expired now: true from the instant `expiresAt` itself on. */
  isExpired() {
    return this._native.isExpired(this._now());
  }

  /** The earlier of this deadline and `other`, on this deadline's clock. */
  min(other) {
    if (!(other instanceof Deadline)) throw new TypeError(`argument \`other\` must be a Deadline, got ${opt.show(other)}`);
    const earlier = Object.create(Deadline.prototype);
    earlier._now = this._now;
    earlier._ns = this._ns;
    earlier._native = this._native.min(other._native);
    return earlier;
  }
}

module.exports = { Deadline };
