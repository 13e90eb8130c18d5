'use strict';
// FleetLimiter: the core's token bucket shared by every process that names the same key,
// kept in Redis and decided by one call of redis/scripts/gcra.lua per request
// (docs/semantics.md §9). The script decides on the server; what the client decides (names,
// prefixes, exact buckets, the timeout, the breaker, the answer while Redis cannot decide) is
// the core's `stanchion::fleet`, through the addon. This file converts units and words errors.

const { EventEmitter } = require('node:events');
const native = require('../native');
const { nativeNow } = require('../fast');
const { REASONS, CircuitOpenError, refusalError, unavailableError, fleetError, abortReason } = require('../errors');
const opt = require('../options');
const { signalOf } = require('../sleep');
const { script } = require('./scripts');
const { adapterOf, guardedCall, guardOf, isUnavailable, CLIENT_WORDS } = require('./client');

const DEFAULTS = native.fleetDefaults();

// The core's reason numbers (`Reason as u8`), as errors.js keeps them.
const RATE_LIMITED = 4;
const INSUFFICIENT_CAPACITY = 5;
// What NativeFleetFallback answers besides refusal codes (< 0).
const ADMIT = 0;
const RAISE = 1;

const HINTS = {
  keyPrefix: '`prefix` (put before `{key}` in every Redis key)',
  redis: '`client`',
  connection: '`client`',
  commandTimeout: '`timeout` (of each call, in ms)',
  failOpen: "`onUnavailable: 'allow'`",
  fallback: "`onUnavailable` ('local', 'allow', 'deny' or 'raise')",
  burst: '`capacity`',
  rate: '`refillAmount` per `refillEvery`',
  interval: '`refillEvery`',
};
const OPTIONS = ['client', 'capacity', 'refillAmount', 'refillEvery', 'prefix', 'timeout', 'onUnavailable', 'localShare', 'unit'];
const checkOptions = opt.declare('FleetLimiter', OPTIONS, HINTS);
const checkCall = opt.declare('a fleet limiter call', ['n', 'signal']);

// What the fleet's own options must be, for the type checks made before the core is asked.
const WORDS = {
  client: CLIENT_WORDS,
  prefix: `a string of at most ${DEFAULTS.maxPrefixLen} bytes, without \`{\` or \`}\``,
  key: `a string of 1 to ${DEFAULTS.maxNameLen} bytes (UTF-8), without \`{\` or \`}\``,
  onUnavailable: DEFAULTS.policies.map((p) => `'${p}'`).join(', ').replace(/, ([^,]*)$/, ' or $1'),
  localShare: "a number in (0, 1], with onUnavailable 'local'",
};

// ---- the core's config errors, in this package's words ---------------------------------------

function camel(field) {
  return field.replace(/_([a-z])/g, (_, c) => c.toUpperCase());
}

/** The core's wording of a range, made JavaScript's: camelCase names, 'quoted' strings. */
function javascript(allowed) {
  return allowed
    .replace(/\b[a-z]+(?:_[a-z]+)+\b/g, camel)
    .replace(/"(\w+)"/g, "'$1'")
    .replace(/(\S+)\.\.=(\S+)/g, '$1 to $2');
}

/**
 * The fields only the fleet checks, worded from the core's own range; the token bucket's
 * fields that the core's TokenBucket checks are worded as RateLimiter words them.
 */
const FLEET_WORDS = {
  prefix: (allowed) => `a string of ${javascript(allowed)}`,
  key: (allowed) => `a string of ${javascript(allowed).replace(' bytes', ' bytes (UTF-8)')}`,
  timeout: (allowed) => `a duration of ${javascript(allowed)} (milliseconds as a number, or nanoseconds as a bigint)`,
  on_unavailable: (allowed) => javascript(allowed),
  local_share: (allowed) => (/^[([]/.test(allowed) ? `a number in ${javascript(allowed)}` : javascript(allowed)),
  capacity: (allowed) => (allowed.includes('2^52') ? `an integer from ${javascript(allowed)}` : undefined),
  refill_every: (allowed) => (allowed.includes('2^52') ? `a duration of ${javascript(allowed)}` : undefined),
};

/** A received value as a message shows it; a long key by its start and its length. */
function shown(value) {
  if (typeof value === 'string' && value.length > 64) {
    return `${JSON.stringify(`${value.slice(0, 32)}…`)} (${Buffer.byteLength(value)} bytes)`;
  }
  return opt.show(value);
}

function outOfRange(name, allowed, value) {
  const error = new RangeError(`option \`${name}\` must be ${allowed}, got ${shown(value)}`);
  error.option = name;
  error.code = 'ERR_OUT_OF_RANGE';
  return error;
}

/** Runs a native check and turns the core's config error into a RangeError naming the option. */
function construct(make, o, value = (name) => o[name]) {
  try {
    return make();
  } catch (error) {
    const parts = typeof error?.message === 'string' ? error.message.split('\u001f') : [];
    if (parts[0] !== 'stanchion-config') throw error;
    const [, field, allowed] = parts;
    const words = FLEET_WORDS[field]?.(allowed);
    if (words === undefined) return opt.construct(make, o);
    const name = camel(field);
    throw outOfRange(name, words, value(name));
  }
}

function typeError(name, value) {
  return opt.typeError(name, WORDS[name], value);
}

// ---- calls -------------------------------------------------------------------------------------

/** A call's `n` and `signal`, from a number (`n`) or `{ n, signal }`. */
function callOptions(value) {
  if (value === undefined) return { n: 1, signal: undefined };
  if (typeof value === 'number') return { n: opt.integer(value, 'n'), signal: undefined };
  const signal = signalOf(value, checkCall);
  return { n: value.n === undefined ? 1 : opt.integer(value.n, 'n'), signal };
}

const DECIMAL = /^[0-9]{1,20}$/;

/** The script's reply `{allowed, remaining, retry_after, reset_after}`, or undefined if it is not one. */
function reply(value) {
  if (!Array.isArray(value) || value.length !== 4) return undefined;
  const [allowed, remaining, retryAfter, resetAfter] = value;
  if (allowed !== 0 && allowed !== 1) return undefined;
  if (!Number.isSafeInteger(remaining) || remaining < 0) return undefined;
  if (retryAfter !== null && !(typeof retryAfter === 'string' && DECIMAL.test(retryAfter))) return undefined;
  if (!(typeof resetAfter === 'string' && DECIMAL.test(resetAfter))) return undefined;
  return value;
}

/**
 * A token bucket shared by every process that uses the same Redis and key: `capacity` tokens
 * of burst, refilled by `refillAmount` every `refillEvery` ms, as `RateLimiter` is configured,
 * decided in Redis by one script call per request on the server's clock. Emits `reject` (the
 * refusal) for every refused request and `unavailable` (a FleetUnavailableError) every time
 * Redis could not decide, whatever `onUnavailable` then answered.
 *
 * @example
 * const { FleetLimiter } = require('stanchion/redis');
 * const limiter = new FleetLimiter({ client: redis, capacity: 20, refillAmount: 10, refillEvery: 1_000 });
 * const answer = await limiter.tryAcquire('tenant-7');
 * if (!answer.ok) console.log(`retry in ${answer.retryAfter} ms`);
 */
class FleetLimiter extends EventEmitter {
  constructor(options) {
    super();
    const o = opt.options(options);
    checkOptions(o);
    this._adapter = adapterOf(o.client);
    this._client = o.client;
    const capacity = opt.integer(o.capacity, 'capacity');
    if (capacity === undefined) throw opt.missing('capacity');
    const bucket = {
      capacity,
      refillAmount: opt.integer(o.refillAmount, 'refillAmount'),
      refillEvery: opt.duration(o.refillEvery, 'refillEvery'),
    };
    const reduced = construct(() => native.fleetBucket(bucket), o);
    const prefix = o.prefix ?? DEFAULTS.prefix;
    if (typeof prefix !== 'string') throw typeError('prefix', prefix);
    construct(() => native.fleetCheckPrefix(prefix), o);
    const timeout = o.timeout === undefined ? DEFAULTS.callTimeout : opt.duration(o.timeout, 'timeout');
    construct(() => native.fleetCheckTimeout(timeout), o);
    if (o.onUnavailable !== undefined && typeof o.onUnavailable !== 'string') throw typeError('onUnavailable', o.onUnavailable);
    if (o.localShare !== undefined && typeof o.localShare !== 'number') throw typeError('localShare', o.localShare);
    this._fallback = construct(() => new native.NativeFleetFallback(bucket, o.onUnavailable, o.localShare), o);
    this._ns = opt.unit(o.unit);
    this._script = script('gcra');
    this._capacity = reduced.capacity;
    this._config = [String(reduced.capacity), String(reduced.refillAmount), String(reduced.refillEvery)];
    this._prefix = prefix;
    this._timeout = Number(timeout) / 1e6;
    this._guard = guardOf(o.client, timeout);
  }

  /**
   * The circuit breaker guarding this client's connection, shared by every fleet primitive on
   * the same client object (`stateChange` events, `snapshot()`, `forceOpen()` to answer by
   * `onUnavailable` without asking Redis), configured by the core's
   * `fleet::connection_breaker_for` the longest `timeout` among them.
   */
  get breaker() {
    return this._guard.breaker;
  }

  /** What the limiter answers while Redis cannot decide: `'local'`, `'allow'`, `'deny'` or `'raise'`. */
  get onUnavailable() {
    return this._fallback.policy;
  }

  /**
   * The local stand-in's bucket under `onUnavailable: 'local'` (`localShare` of the burst and
   * of the rate, as the core sizes it), or null.
   */
  get localBucket() {
    const bucket = this._fallback.localBucket;
    if (bucket == null) return null;
    return { ...bucket, refillEvery: this._ns ? bucket.refillEvery : Number(bucket.refillEvery) / 1e6 };
  }

  /** The Redis key that holds `key`'s bucket: `<prefix>{<key>}:limiter`, one cluster slot per key. */
  redisKey(key) {
    if (typeof key !== 'string') throw typeError('key', key);
    construct(
      () => native.fleetCheckName('key', key),
      {},
      () => key,
    );
    return `${this._prefix}{${key}}:limiter`;
  }

  /**
   * Takes `n` tokens (default 1) from `key`'s bucket, or says why not: resolves to
   * `{ ok, allowed, remaining, retryAfter, resetAfter, fallback }` (and `reason`, `code` when
   * refused); never rejects for a refusal. Takes `n` or `{ n, signal }`.
   */
  async tryAcquire(key, options) {
    const { n, signal } = callOptions(options);
    return this._decide(key, n, false, signal, undefined, false);
  }

  /** What `tryAcquire` would answer now, taking nothing. */
  async peek(key, options) {
    const { n, signal } = callOptions(options);
    return this._decide(key, n, true, signal, undefined, false);
  }

  /**
   * Takes `n` tokens of `key` (default 1), then runs `fn(signal)`; rejects with a
   * RateLimitedError (`ERR_RATE_LIMITED` with `retryAfter`, or `ERR_INSUFFICIENT_CAPACITY`)
   * without running it when refused. It does not wait for tokens.
   */
  async execute(key, fn, options) {
    if (typeof fn !== 'function') throw new TypeError(`argument \`fn\` must be a function, got ${opt.show(fn)}`);
    const { n, signal } = callOptions(options);
    await this._decide(key, n, false, signal, undefined, true);
    return fn(signal);
  }

  /** `tryAcquire` at `now` (bigint ns on the server's Unix clock) instead of its TIME: tests only. */
  async _tryAcquireAt(key, n, now) {
    return this._decide(key, n, false, undefined, now, false);
  }

  /** `peek` at `now`: tests only. */
  async _peekAt(key, n, now) {
    return this._decide(key, n, true, undefined, now, false);
  }

  async _decide(key, n, peek, signal, now, asError) {
    const redisKey = this.redisKey(key);
    if (signal?.aborted) throw abortReason(signal);
    const args = [...this._config, String(n), peek ? '1' : '0'];
    if (now !== undefined) args.push(String(now));
    let answer;
    try {
      // The timer runs even after an abort: the call must settle for the breaker to get its
      // permit back, and the timeout bounds how long that takes.
      answer = await guardedCall(this._guard, this._adapter, this._client, this._script, redisKey, args, this._timeout, signal);
    } catch (error) {
      if (signal?.aborted) throw error;
      // An error reply that waiting will not change is the server's answer, for the caller.
      if (!isUnavailable(error)) throw fleetError(`Redis answered the limiter with an error: ${error.message}`, error);
      return this._fallBack(error, n, peek, asError);
    }
    const checked = reply(answer);
    if (checked === undefined) {
      const error = new Error(`the limiter script answered ${opt.show(answer)}, not {allowed, remaining, retry_after, reset_after}`);
      return this._fallBack(error, n, peek, asError);
    }
    const [allowed, remaining, retryAfter, resetAfter] = checked;
    if (allowed === 1) return this._admitted(remaining, this._duration(resetAfter), false);
    const reason = n > this._capacity ? INSUFFICIENT_CAPACITY : RATE_LIMITED;
    const wait = retryAfter === null ? null : this._duration(retryAfter);
    return this._refused(reason, wait, remaining, this._duration(resetAfter), false, asError);
  }

  /** A decimal string of nanoseconds as this limiter gives durations back. */
  _duration(text) {
    return this._ns ? BigInt(text) : Number(text) / 1e6;
  }

  _admitted(remaining, resetAfter, fallback) {
    return { ok: true, allowed: true, remaining, retryAfter: null, resetAfter, fallback };
  }

  _refused(reason, retryAfter, remaining, resetAfter, fallback, asError) {
    let answer;
    if (asError) {
      answer = refusalError(reason, retryAfter);
      answer.remaining = remaining;
      answer.resetAfter = resetAfter;
      answer.fallback = fallback;
    } else {
      const [name, code] = REASONS[reason];
      answer = { ok: false, allowed: false, reason: name, code, remaining, retryAfter, resetAfter, fallback };
    }
    this.emit('reject', answer);
    if (asError) throw answer;
    return answer;
  }

  /** Redis could not decide: the core's `fleet::fallback` answers by `onUnavailable`. */
  _fallBack(error, n, peek, asError) {
    const unavailable = this._unavailable(error);
    this.emit('unavailable', unavailable);
    const now = nativeNow();
    const code = peek ? this._fallback.peek(n, now) : this._fallback.decide(n, now);
    if (code === RAISE) throw unavailable;
    const zero = this._ns ? 0n : 0;
    if (code === ADMIT) return this._admitted(0, zero, true);
    const retryAfter = this._ns ? this._fallback.retryAfterNs : this._fallback.retryAfter;
    // NaN is the addon's "no retry_after" in milliseconds.
    return this._refused(-code / 64, Number.isNaN(retryAfter) ? null : retryAfter, 0, zero, true, asError);
  }

  _unavailable(error) {
    let retryAfter = null;
    if (error instanceof CircuitOpenError) {
      // The refusal is this call's; what opened the breaker is the failure before it.
      if (error.cause === undefined) error.cause = this._guard.lastFailure;
      retryAfter = error.retryAfter;
      if (this._ns && retryAfter !== null) retryAfter = BigInt(Math.round(retryAfter * 1e6));
    }
    const why = typeof error?.message === 'string' ? error.message : opt.show(error);
    return unavailableError(`Redis did not decide: ${why}`, error, retryAfter);
  }
}

module.exports = { FleetLimiter, OPTIONS };
