'use strict';
// A `clock` must return milliseconds as a finite number ≥ 0 or nanoseconds as a bigint from 0n
// to 2^64-1. Anything else is refused, naming `clock`, what it returned and what is expected:
// at construction (the clock is called once) and on every later reading. Before, the addon
// took NaN as "read the native clock" and clamped -1 to 0, silently.
const test = require('node:test');
const assert = require('node:assert/strict');
const s = require('..');

// Every class that takes a clock, with the rest of its options and one use that reads it.
const CLOCKED = {
  CircuitBreaker: [{}, (b) => b.tryAcquire()],
  RateLimiter: [{ capacity: 1 }, (l) => l.tryAcquire()],
  KeyedRateLimiter: [{ capacity: 1 }, (l) => l.tryAcquire('k')],
  RetryBudget: [{ ratio: 0.1 }, (b) => b.tryRetry()],
  Deadline: [{ timeout: 10 }, (d) => d.remaining()],
  Retry: [{ backoff: { schedule: 'constant', delay: 0 } }, (r) => r.execute((_, attempt) => (attempt === 0 ? Promise.reject(new Error('x')) : 1))],
  Policy: [{ timeout: 10 }, (p) => p.execute(() => 1)],
};

const EXPECTED = 'it must return milliseconds as a finite number ≥ 0 (as performance.now() does) or nanoseconds as a bigint from 0n to 2^64-1 (as process.hrtime.bigint() does)';

const BAD = [
  [NaN, 'RangeError', 'NaN'],
  [-1, 'RangeError', '-1'],
  [Infinity, 'RangeError', 'Infinity'],
  [-1n, 'RangeError', '-1n'],
  [1n << 64n, 'RangeError', '18446744073709551616n'],
  ['12', 'TypeError', '"12" (a string)'],
  [undefined, 'TypeError', 'undefined'],
  [null, 'TypeError', 'null'],
];

function refusal(kind, shown) {
  return (error) => {
    assert.equal(error.name, kind);
    assert.equal(error.option, 'clock');
    assert.equal(error.message, `option \`clock\` returned ${shown}; ${EXPECTED}`);
    return true;
  };
}

test('a clock returning a bad reading is refused at construction, for every class', () => {
  for (const [Class, [options]] of Object.entries(CLOCKED)) {
    for (const [value, kind, shown] of BAD) {
      assert.throws(() => new s[Class]({ ...options, clock: () => value }), refusal(kind, shown), `${Class}: ${String(value)}`);
    }
    assert.throws(() => new s[Class]({ ...options, clock: 5 }), { name: 'TypeError', message: /^option `clock` must be a function returning milliseconds/ });
  }
});

test('a clock that goes bad later is refused on use, for every class', async () => {
  for (const [Class, [options, use]] of Object.entries(CLOCKED)) {
    for (const [value, kind, shown] of BAD) {
      let reading = 1_000;
      const instance = new s[Class]({ ...options, clock: () => reading });
      reading = value;
      const check = refusal(kind, shown);
      let outcome;
      try {
        outcome = use(instance);
      } catch (error) {
        check(error);
        continue;
      }
      await assert.rejects(Promise.resolve(outcome), check, `${Class}: ${String(value)}`);
    }
  }
});

test('good readings of either kind pass: 0, fractions, bigints up to 2^64-1', () => {
  for (const reading of [0, 0.5, 1e12, 0n, (1n << 64n) - 1n]) {
    const breaker = new s.CircuitBreaker({ clock: () => reading });
    assert.equal(breaker.tryAcquire().ok, true);
  }
});

test('an instant given as an argument is checked alike', () => {
  const backoff = new s.Backoff({ schedule: 'constant', delay: 1 });
  assert.throws(() => backoff.start(0, NaN), { name: 'RangeError', message: /^option `now` must be milliseconds as a finite number ≥ 0 .*, got NaN$/ });
  assert.throws(() => backoff.start(0, '1'), { name: 'TypeError', message: /^option `now` must be .*, got "1"$/ });
  assert.equal(backoff.start(0, 5).nextDelay(5), 1);
});
