'use strict';
// Option checks that name the option (camelCase), and the translation of the core's config
// errors into RangeErrors that do too. Ranges are the core's: it validates every config.

const { performance } = require('node:perf_hooks');

function typeError(name, expected, value) {
  const shown = typeof value === 'bigint' ? `${value}n` : typeof value === 'string' ? JSON.stringify(value) : String(value);
  return new TypeError(`option \`${name}\` must be ${expected}, got ${shown}`);
}

function rangeError(name, allowed, value) {
  const error = new RangeError(`option \`${name}\` must be in ${allowed}${value === undefined ? '' : `, got ${value}`}`);
  error.code = 'ERR_OUT_OF_RANGE';
  error.option = name;
  return error;
}

function object(value, name) {
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object') throw typeError(name, 'an object', value);
  return value;
}

/** An optional integer in [min, max] (u32 by default). */
function integer(value, name, min = 0, max = 0xffffffff) {
  if (value === undefined) return undefined;
  if (typeof value !== 'number') throw typeError(name, 'an integer', value);
  if (!Number.isInteger(value) || value < min || value > max) throw rangeError(name, `${min}..=${max}`, value);
  return value;
}

/** An optional finite number (the core checks its range). */
function finite(value, name) {
  if (value === undefined) return undefined;
  if (typeof value !== 'number') throw typeError(name, 'a number', value);
  if (!Number.isFinite(value)) throw rangeError(name, 'finite numbers', value);
  return value;
}

function boolean(value, name) {
  if (value === undefined) return undefined;
  if (typeof value !== 'boolean') throw typeError(name, 'a boolean', value);
  return value;
}

function func(value, name) {
  if (value === undefined) return undefined;
  if (typeof value !== 'function') throw typeError(name, 'a function', value);
  return value;
}

const U64_MAX = (1n << 64n) - 1n;

/**
 * An optional duration: milliseconds as a number, or exact nanoseconds as a bigint. Returns
 * bigint nanoseconds, as the addon takes them.
 */
function duration(value, name) {
  if (value === undefined) return undefined;
  if (typeof value === 'bigint') {
    if (value < 0n || value > U64_MAX) throw rangeError(name, '0..=2^64-1 ns', value);
    return value;
  }
  if (typeof value !== 'number') throw typeError(name, 'a number of milliseconds or a bigint of nanoseconds', value);
  if (!(value >= 0) || !Number.isFinite(value)) throw rangeError(name, 'finite milliseconds >= 0', value);
  const ns = BigInt(Math.round(value * 1e6));
  return ns > U64_MAX ? U64_MAX : ns;
}

/** A seed: a non-negative safe integer or a bigint u64. */
function seed(value, name) {
  if (value === undefined) return undefined;
  if (typeof value === 'bigint') {
    if (value < 0n || value > U64_MAX) throw rangeError(name, '0..=2^64-1', value);
    return value;
  }
  if (typeof value !== 'number') throw typeError(name, 'an integer or a bigint', value);
  if (!Number.isSafeInteger(value) || value < 0) throw rangeError(name, '0..=2^53-1', value);
  return BigInt(value);
}

const defaultClock = () => performance.now();

/**
 * The clock: `() => number` of milliseconds (or a bigint of nanoseconds). Undefined means the
 * default, a native monotonic clock on performance.now()'s scale, which the hot path reads
 * without a call into JS.
 */
function clock(value) {
  return func(value, 'clock');
}

// Where the core's field name is not the option's camelCase.
const FIELD_NAMES = {
  'schedule.factor': 'factor',
  'jitter.proportional': 'jitter.proportional',
  lane_ceilings: 'lanes',
};

function camel(field) {
  return FIELD_NAMES[field] ?? field.replace(/_([a-z])/g, (_, c) => c.toUpperCase());
}

/** Runs a native constructor, turning the core's config error into a RangeError naming the option. */
function construct(make) {
  try {
    return make();
  } catch (error) {
    const parts = typeof error?.message === 'string' ? error.message.split('\u001f') : [];
    if (parts[0] === 'stanchion-config') throw rangeError(camel(parts[1]), parts[2]);
    throw error;
  }
}

module.exports = { object, integer, finite, boolean, func, duration, seed, clock, construct, typeError, rangeError, defaultClock };
