'use strict';
// Option checks, in JavaScript's words. Every message names the camelCase option, says what
// it must be (the real range, with `null` or "omit it" where the core says "none") and what
// was received. The JS half checks only what must hold to reach the core (types, integers
// that fit); the ranges themselves are the core's: it validates every config, and its config
// errors are worded here (`construct`), never re-decided.

const { inspect } = require('node:util');
const { coreDefaults, keyedSizes } = require('./native');

const U32_MAX = 0xffffffff;
const U64_MAX = (1n << 64n) - 1n;

const DURATION = 'a duration: milliseconds as a number ≥ 0, or nanoseconds as a bigint from 0n to 2^64-1';
const POSITIVE_DURATION =
  'a duration of at least 1 ns: milliseconds as a number ≥ 0.000001, or nanoseconds as a bigint from 1n to 2^64-1';
/**
 * The keyed limiter's table sizes (the addon's list) in words: a run from the smallest, then
 * powers of two.
 */
function sizesInWords(sizes) {
  let run = 1;
  while (run < sizes.length && sizes[run] === sizes[run - 1] + 1) run++;
  const rest = sizes.slice(run);
  const head = `an integer from ${sizes[0]} to ${sizes[run - 1]}`;
  if (rest.length === 0) return head;
  const powers = rest.every((n, i) => (n & (n - 1)) === 0 && (i === 0 || n === rest[i - 1] * 2));
  return powers ? `${head}, or a power of two from ${rest[0]} to ${rest.at(-1)}` : `${head}, or one of ${rest.join(', ')}`;
}

const CLOCK_RESULT =
  'milliseconds as a finite number ≥ 0 (as performance.now() does) or nanoseconds as a bigint from 0n to 2^64-1 (as process.hrtime.bigint() does)';

/** What each option must be, by its camelCase name (nested ones by their path). */
const WORDS = {
  // CircuitBreaker
  failureCount: `an integer from 1 to ${U32_MAX}, or null when another trigger is set`,
  consecutiveFailures: `an integer from 1 to ${U32_MAX} (omit it to leave the trigger off)`,
  failureRate: 'a number in (0, 1] (omit it to leave the trigger off)',
  minimumCalls: `an integer from 1 to ${U32_MAX}`,
  slowCall: 'an object { duration, rate? } (omit it to leave the trigger off)',
  'slowCall.duration': POSITIVE_DURATION,
  'slowCall.rate': 'a number in (0, 1]',
  window: 'a count window { count } of 1 to 320 calls, or a time window { span, buckets? } of 1 to 10 buckets',
  'window.count': 'an integer from 1 to 320',
  'window.buckets': 'an integer from 1 to 10',
  'window.span': DURATION,
  openFor: DURATION,
  openForMax: DURATION,
  openForFactor: 'a number in [1, 65535]',
  openForJitter: 'a number in [0, 1]',
  halfOpenProbes: 'an integer from 1 to 65535',
  halfOpenSuccesses: 'an integer from 1 to 65535 (omit it to use `halfOpenProbes`)',
  probeTimeout: `${POSITIVE_DURATION} (omit it for the default)`,
  seed: 'an integer from 0 to 2^53-1, or a bigint from 0n to 2^64-1',
  classify: "a function returning 'success', 'failure' or 'ignored'",
  clock: `a function returning ${CLOCK_RESULT}`,
  // RateLimiter, KeyedRateLimiter
  capacity: `an integer from 1 to ${U32_MAX}`,
  refillAmount: `an integer from 1 to ${U32_MAX}`,
  refillEvery: POSITIVE_DURATION,
  maxKeys: sizesInWords(keyedSizes()),
  whenFull: "'reject' or 'admit'",
  n: `an integer from 0 to ${U32_MAX}`,
  maxWait: `${DURATION}, or Infinity for no limit`,
  key: 'a string, an integer from 0 to 2^53-1, or a bigint from 0n to 2^64-1',
  // Bulkhead
  maxConcurrent: 'an integer from 1 to 16777215',
  lanes: 'an array of 1 to 8 lane ceilings (integers)',
  'lanes[i]': 'an integer from 1 to `maxConcurrent`',
  maxWaiting: `an integer from 0 to ${coreDefaults().bulkheadMaxWaiters}`,
  lane: 'an integer ≥ 0 (lanes past the last configured one share it)',
  // AdaptiveLimiter (its ranges are the core's, worded by lib/adaptive.js)
  algorithm:
    "'aimd', 'vegas', 'gradient2', or { name, ...parameters }: { name: 'aimd', backoffRatio?, timeout? }, { name: 'vegas', alpha?, beta?, probeMultiplier?, smoothing? } or { name: 'gradient2', smoothing?, queueSize?, longWindow?, rttTolerance?, creepGuard? }",
  'algorithm.name': "'aimd', 'vegas' or 'gradient2'",
  'algorithm.timeout': POSITIVE_DURATION,
  'algorithm.creepGuard': 'a boolean',
  dropOn: 'a function (error) => boolean',
  outcome: "'success', 'failure', 'ignored' or 'dropped'",
  // Backoff
  schedule: "'constant', 'linear', 'exponential' or 'decorrelated'",
  delay: DURATION,
  initial: DURATION,
  step: DURATION,
  base: DURATION,
  factor: 'a number in [1, 1024]',
  jitter: "'none', 'full', 'equal' or { proportional: p }",
  'jitter.proportional': 'a number in [0, 1]',
  maxDelay: DURATION,
  maxAttempts: `an integer from 1 to ${U32_MAX}, or null for no limit`,
  maxElapsed: DURATION,
  attempt: `an integer from 0 to ${U32_MAX}`,
  limit: `an integer from 0 to ${U32_MAX}`,
  now: CLOCK_RESULT,
  // RetryBudget
  ratio: 'a number in [0, 1000]',
  minRetriesPerSec: 'an integer from 0 to 1000000000 (0 turns the floor off)',
  maxBalance: `an integer from 0 to ${U32_MAX}`,
  // Retry, Policy, Deadline
  backoff: 'a Backoff or Backoff options',
  budget: 'a RetryBudget',
  retryIf: 'a function (error, attempt) => boolean',
  fallback: 'a function (error) => value',
  timeout: DURATION,
  attemptTimeout: `${POSITIVE_DURATION} (omit it for none)`,
  limiterMaxWait: `${DURATION}, or Infinity for no limit`,
  retry: 'a Retry',
  breaker: 'a CircuitBreaker',
  bulkhead: 'a Bulkhead (an AdaptiveLimiter goes in `adaptive`)',
  adaptive: 'an AdaptiveLimiter',
  limiter: 'a RateLimiter',
  at: 'an instant of the clock: milliseconds as a number ≥ 0, or nanoseconds as a bigint from 0n to 2^64-1',
  signal: 'an AbortSignal',
  // Every class that gives times back
  unit: "'ms' (milliseconds as numbers) or 'ns' (exact nanoseconds as bigints)",
  retryRefusals: 'a boolean',
  deadline: 'a Deadline',
};

/** What `name` must be: its entry above (`lanes[3]` reads `lanes[i]`), else `fallback`. */
function words(name, fallback) {
  return WORDS[name] ?? WORDS[name.replace(/\[\d+\]$/, '[i]')] ?? fallback;
}

/** A received value as a message shows it: `100n`, `"5s"`, `NaN`, `{ count: 400 }`. */
function show(value) {
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'function') return `a function${value.name ? ` (${value.name})` : ''}`;
  if (typeof value === 'object' && value !== null) return inspect(value, { depth: 2, breakLength: Infinity });
  return String(value);
}

function labelled(error, name) {
  error.option = name;
  return error;
}

/** A duration option as a message shows it: `30000 ms`, `5n ns`. */
function showDuration(value) {
  return typeof value === 'bigint' ? `${value}n ns` : typeof value === 'number' ? `${value} ms` : show(value);
}

/** The option is of the wrong type. */
function typeError(name, expected, value) {
  const message =
    value === undefined ? `option \`${name}\` is required: it must be ${expected}` : `option \`${name}\` must be ${expected}, got ${show(value)}`;
  return labelled(new TypeError(message), name);
}

/** A required option is missing; `context` says when it is required (" with schedule 'constant'"). */
function missing(name, context = '') {
  return labelled(new TypeError(`option \`${name}\` is required${context}: it must be ${words(name, 'given')}`), name);
}

/**
 * The option is of the right type but out of range. `received` words the value when `value`
 * alone would not say it (an option left out at a default that does not fit).
 */
function rangeError(name, allowed, value, received = show(value)) {
  const error = labelled(new RangeError(`option \`${name}\` must be ${allowed}, got ${received}`), name);
  error.code = 'ERR_OUT_OF_RANGE';
  return error;
}

// ---- unknown options ---------------------------------------------------------------------

/** Levenshtein distance, case-insensitive (`openfor` is 0 away from `openFor`). */
function distance(a, b) {
  a = a.toLowerCase();
  b = b.toLowerCase();
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      next[j] = Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    row = next;
  }
  return row[b.length];
}

/** The valid name closest to `name`, if it is close enough to be a likely typo. */
function closest(name, names) {
  let best;
  let bestDistance = Infinity;
  for (const candidate of names) {
    const d = distance(name, candidate);
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return bestDistance <= Math.max(2, Math.floor(name.length / 4)) ? best : undefined;
}

/** Each class's (or method's) option names, for the checks below and the tests. */
const NAMES = {};

/**
 * Declares `where`'s option names; `hints` maps names other libraries use to what to write
 * here instead (an edit distance would not find those). Returns the checker for an options
 * object: it throws a TypeError for the first name that is not an option, naming the closest
 * valid one.
 */
function declare(where, names, hints = {}) {
  NAMES[where] = names;
  return (o, prefix = '') => {
    for (const key in o) {
      if (!names.includes(key)) throw unknown(`${prefix}${key}`, key, names, where, hints, prefix, o[key]);
    }
  };
}

function unknown(path, key, names, where, hints, prefix, value) {
  const hint = hints[key];
  let message = `unknown option \`${path}\``;
  const suggestion = closest(key, names);
  if (hint !== undefined) message += `; did you mean ${typeof hint === 'function' ? hint(value) : hint}?`;
  else if (suggestion !== undefined) message += `; did you mean \`${prefix}${suggestion}\`?`;
  else message += `; ${where} takes ${names.map((n) => `\`${prefix}${n}\``).join(', ')}`;
  return labelled(new TypeError(message), path);
}

// ---- values --------------------------------------------------------------------------------

/** An options object (`{}` for undefined), or a TypeError naming the argument. */
function options(value, name = 'options') {
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object') {
    throw labelled(new TypeError(`argument \`${name}\` must be an object, got ${show(value)}`), name);
  }
  return value;
}

/** An optional integer that fits the addon's field ([min, max], u32 by default). */
function integer(value, name, min = 0, max = U32_MAX) {
  if (value === undefined) return undefined;
  // The message is made only for a refusal: these checks run on hot paths (a token count).
  if (typeof value !== 'number') throw typeError(name, words(name, `an integer from ${min} to ${max}`), value);
  if (!Number.isInteger(value) || value < min || value > max) throw rangeError(name, words(name, `an integer from ${min} to ${max}`), value);
  return value;
}

/** An optional finite number (the core checks its range). */
function finite(value, name) {
  if (value === undefined) return undefined;
  if (typeof value !== 'number') throw typeError(name, words(name, 'a finite number'), value);
  if (!Number.isFinite(value)) throw rangeError(name, words(name, 'a finite number'), value);
  return value;
}

function boolean(value, name) {
  if (value === undefined) return undefined;
  if (typeof value !== 'boolean') throw typeError(name, words(name, 'a boolean'), value);
  return value;
}

/** The `unit` option: true for 'ns' (times out as exact bigint nanoseconds), false for 'ms'. */
function unit(value) {
  if (value === undefined || value === 'ms') return false;
  if (value === 'ns') return true;
  throw typeError('unit', WORDS.unit, value);
}

function func(value, name) {
  if (value === undefined) return undefined;
  if (typeof value !== 'function') throw typeError(name, words(name, 'a function'), value);
  return value;
}

/**
 * An optional duration: milliseconds as a number, or exact nanoseconds as a bigint. Returns
 * bigint nanoseconds, as the addon takes them (a number past 2^64 ns saturates).
 */
function duration(value, name) {
  if (value === undefined) return undefined;
  if (typeof value === 'bigint') {
    if (value < 0n || value > U64_MAX) throw rangeError(name, words(name, DURATION), value);
    return value;
  }
  if (typeof value !== 'number') throw typeError(name, words(name, DURATION), value);
  if (!(value >= 0) || !Number.isFinite(value)) throw rangeError(name, words(name, DURATION), value);
  const ns = BigInt(Math.round(value * 1e6));
  return ns > U64_MAX ? U64_MAX : ns;
}

/** A duration or Infinity (no limit), as milliseconds (a number): what a timer takes. */
function millisOrInfinity(value, name) {
  if (value === undefined || value === Infinity) return value;
  const ns = duration(value, name);
  return typeof value === 'bigint' ? Number(ns) / 1e6 : value;
}

/** A seed: a non-negative safe integer or a bigint u64. */
function seed(value, name) {
  if (value === undefined) return undefined;
  if (typeof value === 'bigint') {
    if (value < 0n || value > U64_MAX) throw rangeError(name, words(name, WORDS.seed), value);
    return value;
  }
  if (typeof value !== 'number') throw typeError(name, words(name, WORDS.seed), value);
  if (!Number.isSafeInteger(value) || value < 0) throw rangeError(name, words(name, WORDS.seed), value);
  return BigInt(value);
}

// ---- clocks --------------------------------------------------------------------------------

function clockError(Kind, value) {
  const kind = typeof value === 'string' ? ' (a string)' : '';
  const error = labelled(new Kind(`option \`clock\` returned ${show(value)}${kind}; it must return ${CLOCK_RESULT}`), 'clock');
  if (Kind === RangeError) error.code = 'ERR_OUT_OF_RANGE';
  return error;
}

/** A clock's reading, checked: milliseconds (a number) or nanoseconds (a bigint). */
function reading(now) {
  if (typeof now === 'number') {
    // NaN fails the comparison.
    if (now >= 0 && now !== Infinity) return now;
    throw clockError(RangeError, now);
  }
  if (typeof now === 'bigint') {
    if (now >= 0n && now <= U64_MAX) return now;
    throw clockError(RangeError, now);
  }
  throw clockError(TypeError, now);
}

/**
 * The clock option: `() => number` of milliseconds, or a bigint of nanoseconds. Undefined
 * means the default, a native monotonic clock on performance.now()'s scale, which the hot
 * path reads without a call into JS. A given clock is called once here (unless the caller reads
 * it at once itself: `readNow: false`), so a clock that returns nonsense is refused at
 * construction, and every later reading is checked too: the addon would otherwise read NaN as
 * "use the native clock" and clamp a negative to 0.
 */
function clock(value, { readNow = true } = {}) {
  if (func(value, 'clock') === undefined) return undefined;
  const read = () => reading(value());
  if (readNow) read();
  return read;
}

/** An instant given as an argument (`now`): checked as a clock's reading is. */
function instant(value, name) {
  if (typeof value === 'number' ? value >= 0 && value !== Infinity : typeof value === 'bigint' && value >= 0n && value <= U64_MAX) {
    return value;
  }
  const expected = words(name, CLOCK_RESULT);
  throw typeof value === 'number' || typeof value === 'bigint' ? rangeError(name, expected, value) : typeError(name, expected, value);
}

/** A clock reading as milliseconds (a bigint reading is nanoseconds). */
function millis(now) {
  return typeof now === 'bigint' ? Number(now) / 1e6 : now;
}

// ---- the core's config errors --------------------------------------------------------------

// Where the core's field name is not the option's camelCase.
const FIELD_NAMES = {
  'schedule.factor': 'factor',
  lane_ceilings: 'lanes',
};

function camel(field) {
  return FIELD_NAMES[field] ?? field.replace(/_([a-z])/g, (_, c) => c.toUpperCase());
}

/** The value at a dotted option path. */
function valueAt(o, path) {
  let value = o;
  for (const part of path.split('.')) value = value?.[part];
  return value;
}

/**
 * The core's field (snake_case, its own wording of the range) → what the option must be, in
 * this package's terms. Entries that depend on another option take the options object.
 */
const CORE_WORDS = {
  window: () => WORDS.window,
  'window.span': (o) => {
    const buckets = o.window?.buckets ?? 10;
    return `a duration of at least 1 ns per bucket (\`window.buckets\` is ${buckets}: at least ${buckets}n ns, ${buckets / 1e6} ms)`;
  },
  open_for_max: (o) => `a duration ≥ \`openFor\` (${o.openFor === undefined ? '30000 ms, its default' : showDuration(o.openFor)})`,
  refill_amount: (o) => {
    if (o.refillAmount === 0) return WORDS.refillAmount;
    const every = o.refillEvery === undefined ? '1000 ms, its default' : showDuration(o.refillEvery);
    return `at most one token per nanosecond of \`refillEvery\` (10^9 tokens per second; \`refillEvery\` is ${every})`;
  },
  jitter: () => "'none' or omitted with schedule 'decorrelated' (its jitter is built in)",
  lanes: () => WORDS.lanes,
  lane_ceilings: (o) =>
    `lane ceilings with lane 0 equal to \`maxConcurrent\` (${show(o.maxConcurrent)}), then non-increasing, each at least 1`,
};

/** The core's own wording, made JavaScript's where no entry above covers a field. */
function javascriptWords(allowed) {
  return allowed
    .replace(/\b[Jj]itter::None\b/g, "'none'")
    .replace(/,? or [Nn]one\b/g, ', or null')
    .replace(/\b[a-z]+(?:_[a-z]+)+\b/g, camel)
    .replace(/(\d+)\.\.=(\d+)/g, 'from $1 to $2');
}

/**
 * Runs a native constructor (or reconfigure) given the options `o` it was made from, and turns
 * the core's config error into a RangeError naming the option, the allowed range and the
 * value received. A class may word its own fields (`words(field, allowed, o)`, from the core's
 * `allowed`) and name the defaults of options left out (`defaults`, by option name).
 */
function construct(make, o = {}, { words: own, defaults } = {}) {
  try {
    return make();
  } catch (error) {
    const parts = typeof error?.message === 'string' ? error.message.split('\u001f') : [];
    if (parts[0] !== 'stanchion-config') throw error;
    const [, field, allowed] = parts;
    const name = camel(field);
    const wording = CORE_WORDS[field]?.(o) ?? own?.(field, allowed, o) ?? WORDS[name] ?? javascriptWords(allowed);
    const value = valueAt(o, name);
    const fallback = value === undefined ? defaults?.[name] : undefined;
    throw rangeError(name, wording, value, fallback === undefined ? show(value) : `${show(fallback)} (its default)`);
  }
}

module.exports = {
  options,
  declare,
  integer,
  finite,
  boolean,
  unit,
  func,
  duration,
  millisOrInfinity,
  seed,
  clock,
  instant,
  millis,
  construct,
  typeError,
  rangeError,
  missing,
  words,
  show,
  NAMES,
  WORDS,
  U32_MAX,
  DURATION,
  POSITIVE_DURATION,
  camel,
};
