'use strict';
// Options in plain JavaScript: a name that is not an option is refused (TypeScript refuses it
// too), naming the closest valid one; every message names the camelCase option, what it must
// be (the real range, in JavaScript's words) and what was received.
const test = require('node:test');
const assert = require('node:assert/strict');
const s = require('..');
const { NAMES } = require('../lib/options');

// What each class needs besides the option under test.
const REQUIRED = {
  CircuitBreaker: {},
  RateLimiter: { capacity: 1 },
  KeyedRateLimiter: { capacity: 1 },
  Bulkhead: { maxConcurrent: 1 },
  AdaptiveLimiter: {},
  Backoff: { schedule: 'constant', delay: 1 },
  RetryBudget: { ratio: 0.1 },
  Retry: {},
  Policy: {},
  Deadline: { timeout: 1 },
};

/** A likely typo of `name`: all lower case, or its last letter doubled. */
function typo(name) {
  return name === name.toLowerCase() ? `${name}${name.at(-1)}` : name.toLowerCase();
}

test('a misspelled option of any class is refused, naming it and the closest valid name', () => {
  for (const [Class, required] of Object.entries(REQUIRED)) {
    assert.ok(NAMES[Class]?.length > 0, `${Class} declares its option names`);
    for (const name of NAMES[Class]) {
      const wrong = typo(name);
      assert.throws(() => new s[Class]({ ...required, [wrong]: 1 }), {
        name: 'TypeError',
        message: `unknown option \`${wrong}\`; did you mean \`${name}\`?`,
      }, `${Class} { ${wrong} }`);
    }
    // A name nothing resembles lists the valid ones.
    assert.throws(() => new s[Class]({ ...required, zzzzzzzz: 1 }), (error) => {
      assert.ok(error instanceof TypeError);
      assert.match(error.message, /^unknown option `zzzzzzzz`; \S+ takes /);
      for (const name of NAMES[Class]) assert.ok(error.message.includes(`\`${name}\``), `${Class}: lists ${name}`);
      return true;
    });
  }
});

test("the reported cases: CircuitBreaker's `openfor`, Retry's `retries`", () => {
  assert.throws(() => new s.CircuitBreaker({ openfor: 5000 }), {
    name: 'TypeError',
    message: 'unknown option `openfor`; did you mean `openFor`?',
  });
  // Retry counts attempts in its backoff; `retries` (p-retry's name) is off by the first call.
  assert.throws(() => new s.Retry({ retries: 3 }), {
    name: 'TypeError',
    message: /^unknown option `retries`; did you mean `backoff: \{ maxAttempts \}`.*`retries: 3` is `backoff: \{ maxAttempts: 4 \}`/,
  });
  assert.throws(() => new s.Retry({ maxAttempts: 4 }), { message: /did you mean `backoff: \{ maxAttempts: 4 \}`/ });
  assert.throws(() => new s.CircuitBreaker({ resetTimeout: 1 }), { message: /did you mean `openFor`/ });
  assert.throws(() => new s.Policy({ retries: 3 }), { message: /did you mean `retry: new Retry/ });
});

test('nested options and method options are checked too', () => {
  assert.throws(() => new s.CircuitBreaker({ slowCall: { duraton: 1 } }), { message: 'unknown option `slowCall.duraton`; did you mean `slowCall.duration`?' });
  assert.throws(() => new s.CircuitBreaker({ window: { cuont: 10 } }), { message: 'unknown option `window.cuont`; did you mean `window.count`?' });
  assert.throws(() => new s.CircuitBreaker({ window: { count: 10, span: 100 } }), { name: 'TypeError', message: /`window` must be either a count window .* or a time window .*, got \{ count: 10, span: 100 \}/ });
  assert.throws(() => new s.Backoff({ schedule: 'constant', delay: 1, jitter: { proportion: 0.5 } }), { message: /unknown option `jitter.proportion`; did you mean `jitter.proportional`\?/ });
  assert.throws(() => new s.Backoff({ schedule: 'constant', initial: 100 }), { name: 'TypeError', message: "option `initial` must be omitted with schedule 'constant', which takes `delay`, got 100" });
  assert.throws(() => new s.Backoff({ schedule: 'linear', initial: 1, step: 1, factor: 2 }), { message: /`factor` must be omitted with schedule 'linear', which takes `initial` and `step`/ });
  assert.throws(() => new s.Retry({ backoff: { schedule: 'constant', delay: 1, maxAttempt: 2 } }), { message: /did you mean `maxAttempts`\?/ });
  const limiter = new s.RateLimiter({ capacity: 1 });
  assert.throws(() => limiter.acquire({ maxwait: 10 }), { message: 'unknown option `maxwait`; did you mean `maxWait`?' });
  assert.throws(() => new s.KeyedRateLimiter({ capacity: 1 }).acquire('k', { tokens: 1 }), { message: /unknown option `tokens`; a limiter wait takes `n`, `maxWait`, `signal`/ });
  const bulkhead = new s.Bulkhead({ maxConcurrent: 1 });
  assert.throws(() => bulkhead.execute(() => 1, { priority: 1 }), { message: /unknown option `priority`; a bulkhead wait takes `lane`, `signal`/ });
  assert.throws(() => new s.CircuitBreaker().execute(() => 1, { singal: undefined }), { message: 'unknown option `singal`; did you mean `signal`?' });
  assert.throws(() => new s.CircuitBreaker().reconfigure({ openfor: 1 }), { message: /did you mean `openFor`/ });
  assert.throws(() => new s.Policy({ bulkhead: new s.AdaptiveLimiter() }), { name: 'TypeError', message: /^option `bulkhead` must be a Bulkhead \(an AdaptiveLimiter goes in `adaptive`\)/ });
  assert.throws(() => new s.AdaptiveLimiter({ algorithm: { name: 'vegas', backoffRatio: 0.5 } }), { message: /^unknown option `algorithm.backoffRatio`; the vegas algorithm takes `algorithm.name`, `algorithm.alpha`/ });
  assert.throws(() => new s.AdaptiveLimiter({ algorithm: { name: 'Vegas' } }), { name: 'TypeError', message: /^option `algorithm.name` must be 'aimd', 'vegas' or 'gradient2', got "Vegas"$/ });
  // Policy hands its guards only names they know, so a policy still runs.
  return new s.Policy({ limiter, bulkhead, retry: new s.Retry(), breaker: new s.CircuitBreaker() }).execute(() => 'ran').then((v) => assert.equal(v, 'ran'));
});

// [what, the option named, what it must be, what was received]: every message has all three.
const CASES = [
  // Checked in JavaScript (types, integers that fit the addon's fields).
  [() => new s.CircuitBreaker({ consecutiveFailures: 2.5 }), 'RangeError', 'consecutiveFailures', 'an integer from 1 to 4294967295 (omit it to leave the trigger off)', '2.5'],
  [() => new s.CircuitBreaker({ failureCount: '5' }), 'TypeError', 'failureCount', 'an integer from 1 to 4294967295, or null when another trigger is set', '"5"'],
  [() => new s.CircuitBreaker({ halfOpenProbes: -1 }), 'RangeError', 'halfOpenProbes', 'an integer from 1 to 65535', '-1'],
  [() => new s.CircuitBreaker({ openFor: '1s' }), 'TypeError', 'openFor', 'a duration: milliseconds as a number ≥ 0, or nanoseconds as a bigint from 0n to 2^64-1', '"1s"'],
  [() => new s.CircuitBreaker({ seed: -1 }), 'RangeError', 'seed', 'an integer from 0 to 2^53-1, or a bigint from 0n to 2^64-1', '-1'],
  [() => new s.RateLimiter({ capacity: 1, refillEvery: -1 }), 'RangeError', 'refillEvery', 'a duration of at least 1 ns', '-1'],
  [() => new s.RateLimiter({ capacity: 1 }).tryAcquire(1.5), 'RangeError', 'n', 'an integer from 0 to 4294967295', '1.5'],
  [() => new s.KeyedRateLimiter({ capacity: 1, maxKeys: 65537 }), 'RangeError', 'maxKeys', 'an integer from 1 to 16, or a power of two from 32 to 65536', '65537'],
  [() => new s.KeyedRateLimiter({ capacity: 1, maxKeys: 100 }), 'RangeError', 'maxKeys', 'an integer from 1 to 16, or a power of two from 32 to 65536', '100'],
  [() => new s.KeyedRateLimiter({ capacity: 1 }).tryAcquire(-1), 'RangeError', 'key', 'a string, an integer from 0 to 2^53-1, or a bigint from 0n to 2^64-1', '-1'],
  [() => new s.Bulkhead({ maxConcurrent: 1, maxWaiting: 70000 }), 'RangeError', 'maxWaiting', 'an integer from 0 to 65535', '70000'],
  [() => new s.Retry({ unit: 'us' }), 'TypeError', 'unit', "'ms' (milliseconds as numbers) or 'ns' (exact nanoseconds as bigints)", '"us"'],
  [() => new s.Retry({ retryRefusals: 1 }), 'TypeError', 'retryRefusals', 'a boolean', '1'],
  [() => new s.Bulkhead({ maxConcurrent: 1 }).tryAcquire(-1), 'RangeError', 'lane', 'an integer ≥ 0', '-1'],
  [() => new s.Backoff({ schedule: 'constant', delay: 1, maxAttempts: 1.5 }), 'RangeError', 'maxAttempts', 'an integer from 1 to 4294967295, or null for no limit', '1.5'],
  [() => new s.Policy({ timeout: -1 }), 'RangeError', 'timeout', 'a duration: milliseconds as a number ≥ 0', '-1'],
  [() => new s.Policy({ limiterMaxWait: -1n }), 'RangeError', 'limiterMaxWait', 'or Infinity for no limit', '-1n'],
  [() => new s.Deadline({ at: NaN }), 'RangeError', 'at', 'an instant of the clock', 'NaN'],
  // Decided by the core, worded here.
  [() => new s.CircuitBreaker({ consecutiveFailures: 0 }), 'RangeError', 'consecutiveFailures', 'an integer from 1 to 4294967295 (omit it to leave the trigger off)', '0'],
  [() => new s.CircuitBreaker({ failureCount: 0 }), 'RangeError', 'failureCount', 'an integer from 1 to 4294967295, or null when another trigger is set', '0'],
  // No trigger at all: a breaker that could never open.
  [() => new s.CircuitBreaker({ failureCount: null }), 'RangeError', 'failureCount', 'an integer from 1 to 4294967295, or null when another trigger is set', 'null'],
  [() => new s.CircuitBreaker({ failureRate: 1.5 }), 'RangeError', 'failureRate', 'a number in (0, 1] (omit it to leave the trigger off)', '1.5'],
  [() => new s.CircuitBreaker({ minimumCalls: 0 }), 'RangeError', 'minimumCalls', 'an integer from 1 to 4294967295', '0'],
  [() => new s.CircuitBreaker({ slowCall: { duration: 0 } }), 'RangeError', 'slowCall.duration', 'a duration of at least 1 ns', '0'],
  [() => new s.CircuitBreaker({ slowCall: { duration: 1, rate: 0 } }), 'RangeError', 'slowCall.rate', 'a number in (0, 1]', '0'],
  [() => new s.CircuitBreaker({ window: { count: 321 } }), 'RangeError', 'window', 'a count window { count } of 1 to 320 calls, or a time window { span, buckets? } of 1 to 10 buckets', '{ count: 321 }'],
  [() => new s.CircuitBreaker({ window: { count: 0 } }), 'RangeError', 'window.count', 'an integer from 1 to 320', '0'],
  [() => new s.CircuitBreaker({ window: { span: 100, buckets: 0 } }), 'RangeError', 'window.buckets', 'an integer from 1 to 10', '0'],
  [() => new s.CircuitBreaker({ window: { span: 5n, buckets: 10 } }), 'RangeError', 'window.span', 'at least 1 ns per bucket (`window.buckets` is 10', '5n'],
  [() => new s.CircuitBreaker({ openFor: 10, openForMax: 5 }), 'RangeError', 'openForMax', 'a duration ≥ `openFor` (10 ms)', '5'],
  [() => new s.CircuitBreaker({ openForMax: 5 }), 'RangeError', 'openForMax', 'a duration ≥ `openFor` (30000 ms, its default)', '5'],
  [() => new s.CircuitBreaker({ openForFactor: 0.5 }), 'RangeError', 'openForFactor', 'a number in [1, 65535]', '0.5'],
  [() => new s.CircuitBreaker({ openForJitter: 2 }), 'RangeError', 'openForJitter', 'a number in [0, 1]', '2'],
  [() => new s.CircuitBreaker({ halfOpenProbes: 0 }), 'RangeError', 'halfOpenProbes', 'an integer from 1 to 65535', '0'],
  [() => new s.CircuitBreaker({ halfOpenSuccesses: 0 }), 'RangeError', 'halfOpenSuccesses', 'an integer from 1 to 65535 (omit it to use `halfOpenProbes`)', '0'],
  [() => new s.CircuitBreaker({ probeTimeout: 0n }), 'RangeError', 'probeTimeout', 'a duration of at least 1 ns', '0n'],
  [() => new s.CircuitBreaker().reconfigure({ failureRate: 2 }), 'RangeError', 'failureRate', 'a number in (0, 1]', '2'],
  [() => new s.RateLimiter({ capacity: 0 }), 'RangeError', 'capacity', 'an integer from 1 to 4294967295', '0'],
  [() => new s.RateLimiter({ capacity: 1, refillAmount: 0 }), 'RangeError', 'refillAmount', 'an integer from 1 to 4294967295', '0'],
  [() => new s.RateLimiter({ capacity: 1, refillAmount: 2, refillEvery: 1n }), 'RangeError', 'refillAmount', 'at most one token per nanosecond of `refillEvery` (10^9 tokens per second; `refillEvery` is 1n ns)', '2'],
  [() => new s.RateLimiter({ capacity: 1, refillEvery: 0 }), 'RangeError', 'refillEvery', 'a duration of at least 1 ns', '0'],
  [() => new s.KeyedRateLimiter({ capacity: 0 }), 'RangeError', 'capacity', 'an integer from 1 to 4294967295', '0'],
  [() => new s.Bulkhead({ maxConcurrent: 0 }), 'RangeError', 'maxConcurrent', 'an integer from 1 to 16777215', '0'],
  [() => new s.Bulkhead({ maxConcurrent: 2, lanes: [2, 3] }), 'RangeError', 'lanes', 'lane ceilings with lane 0 equal to `maxConcurrent` (2), then non-increasing, each at least 1', '[ 2, 3 ]'],
  [() => new s.Bulkhead({ maxConcurrent: 2, lanes: [] }), 'RangeError', 'lanes', 'an array of 1 to 8 lane ceilings', '[]'],
  [() => new s.Backoff({ schedule: 'constant', delay: 1, maxAttempts: 0 }), 'RangeError', 'maxAttempts', 'an integer from 1 to 4294967295, or null for no limit', '0'],
  [() => new s.Backoff({ schedule: 'exponential', initial: 1, factor: 0.5 }), 'RangeError', 'factor', 'a number in [1, 1024]', '0.5'],
  [() => new s.Backoff({ schedule: 'constant', delay: 1, jitter: { proportional: 2 } }), 'RangeError', 'jitter.proportional', 'a number in [0, 1]', '2'],
  [() => new s.Backoff({ schedule: 'decorrelated', base: 1, jitter: 'full' }), 'RangeError', 'jitter', "'none' or omitted with schedule 'decorrelated' (its jitter is built in)", '"full"'],
  [() => new s.RetryBudget({ ratio: 2000 }), 'RangeError', 'ratio', 'a number in [0, 1000]', '2000'],
  [() => new s.RetryBudget({ ratio: 0.1, minRetriesPerSec: 2e9 }), 'RangeError', 'minRetriesPerSec', 'an integer from 0 to 1000000000 (0 turns the floor off)', '2000000000'],
  // The adaptive limiter's ranges are the core's own words, in JavaScript's.
  [() => new s.AdaptiveLimiter({ minLimit: 0 }), 'RangeError', 'minLimit', 'an integer from 1 to `maxLimit` (1000)', '0'],
  [() => new s.AdaptiveLimiter({ maxLimit: 10 }), 'RangeError', 'initialLimit', 'an integer from `minLimit` (1) to `maxLimit` (10)', '20 (its default)'],
  [() => new s.AdaptiveLimiter({ maxLimit: 65536 }), 'RangeError', 'maxLimit', 'an integer from `minLimit` (1) to 65535', '65536'],
  [() => new s.AdaptiveLimiter({ minSamples: 0 }), 'RangeError', 'minSamples', 'an integer from 1 to 4294967295', '0'],
  [() => new s.AdaptiveLimiter({ algorithm: { name: 'aimd', backoffRatio: 1 } }), 'RangeError', 'algorithm.backoffRatio', 'a number in [0.5, 1)', '1'],
  [() => new s.AdaptiveLimiter({ algorithm: { name: 'aimd', timeout: 0n } }), 'RangeError', 'algorithm.timeout', 'a duration of at least 1 ns', '0n'],
  [() => new s.AdaptiveLimiter({ algorithm: { name: 'vegas', probeMultiplier: 0 } }), 'RangeError', 'algorithm.probeMultiplier', 'an integer from 1 to 65535', '0'],
  [() => new s.AdaptiveLimiter({ algorithm: { name: 'gradient2', rttTolerance: 0.5 } }), 'RangeError', 'algorithm.rttTolerance', 'a number in [1, 1000]', '0.5'],
  [() => new s.AdaptiveLimiter({ algorithm: 'fast' }), 'TypeError', 'algorithm', "'aimd', 'vegas', 'gradient2', or { name, ...parameters }", '"fast"'],
  [() => new s.AdaptiveLimiter({ window: '1s' }), 'TypeError', 'window', 'a duration: milliseconds as a number ≥ 0', '"1s"'],
  [() => new s.AdaptiveLimiter().tryAcquire().record('timeout'), 'TypeError', 'outcome', "'success', 'failure', 'ignored' or 'dropped'", '"timeout"'],
];

test('every message names the camelCase option, what it must be and what it got', () => {
  for (const [make, kind, option, allowed, got] of CASES) {
    assert.throws(make, (error) => {
      assert.equal(error.name, kind, error.message);
      assert.equal(error.option, option, error.message);
      assert.ok(error.message.startsWith(`option \`${option}\` must be `), error.message);
      assert.ok(error.message.includes(allowed), `${error.message}\n  lacks: ${allowed}`);
      assert.ok(error.message.endsWith(`, got ${got}`), `${error.message}\n  lacks: got ${got}`);
      if (kind === 'RangeError') assert.equal(error.code, 'ERR_OUT_OF_RANGE');
      return true;
    });
  }
});

test('a missing required option says so', () => {
  assert.throws(() => new s.RateLimiter({}), { name: 'TypeError', message: /^option `capacity` is required: it must be an integer from 1 to 4294967295$/ });
  assert.throws(() => new s.Bulkhead({}), { message: /^option `maxConcurrent` is required/ });
  assert.throws(() => new s.RetryBudget({}), { message: /^option `ratio` is required: it must be a number in \[0, 1000\]$/ });
  assert.throws(() => new s.Backoff({ schedule: 'linear', initial: 1 }), { message: /^option `step` is required with schedule 'linear': it must be a duration/ });
  assert.throws(() => new s.Deadline({}), { message: /^option `timeout` is required \(or give `at`/ });
  assert.throws(() => new s.CircuitBreaker(5), { name: 'TypeError', message: 'argument `options` must be an object, got 5' });
});

test('no message is in Rust\'s words: no None, no ..=, no snake_case names', () => {
  const messages = [];
  for (const [make] of CASES) {
    try {
      make();
    } catch (error) {
      messages.push(error.message);
    }
  }
  assert.equal(messages.length, CASES.length);
  for (const message of messages) {
    assert.doesNotMatch(message, /\bnone\b(?!')|None|\.\.=|\b[a-z]+_[a-z_]+\b|Jitter::|\bin 0\b/, message);
  }
});
