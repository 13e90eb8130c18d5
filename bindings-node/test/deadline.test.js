'use strict';
// Deadline in fake time: the clock is a variable the test moves.

const test = require('node:test');
const assert = require('node:assert/strict');
const { Deadline } = require('..');

function clockAt(start) {
  const time = { now: start };
  return { time, clock: () => time.now };
}

test('a timeout counts from the clock at construction, and the instant itself is expired', () => {
  const { time, clock } = clockAt(1_000);
  const deadline = new Deadline({ timeout: 250, clock });
  assert.equal(deadline.expiresAt, 1_250);
  time.now = 1_100;
  assert.equal(deadline.remaining(), 150);
  assert.equal(deadline.isExpired(), false);
  time.now = 1_249.999999;
  assert.equal(deadline.isExpired(), false);
  time.now = 1_250;
  assert.equal(deadline.remaining(), 0);
  assert.equal(deadline.isExpired(), true);
  time.now = 9_000;
  assert.equal(deadline.remaining(), 0, 'never negative');
  time.now = 1_000;
  assert.equal(deadline.isExpired(), false, 'a clock read earlier does not change the instant');
});

test('`at` is an instant of the clock; ms and bigint ns agree', () => {
  const { time, clock } = clockAt(0);
  const ms = new Deadline({ at: 2.5, clock });
  const ns = new Deadline({ at: 2_500_000n, clock });
  assert.equal(ms.expiresAt, 2.5);
  assert.equal(ns.expiresAt, 2.5);
  time.now = 2_000_000n; // a clock may return bigint nanoseconds
  assert.equal(ns.remaining(), 0.5);
  assert.equal(new Deadline({ timeout: 1n, clock }).expiresAt, 2.000001);
  time.now = 1;
  assert.equal(ms.remaining(), 1.5);
});

test('a deadline already past is expired at once', () => {
  const { clock } = clockAt(500);
  const deadline = new Deadline({ at: 0, clock });
  assert.equal(deadline.isExpired(), true);
  assert.equal(deadline.remaining(), 0);
});

test('a timeout past the end of time saturates there', () => {
  const max = (1n << 64n) - 1n;
  const { time, clock } = clockAt(max);
  const deadline = new Deadline({ timeout: 1_000, clock });
  assert.equal(deadline.expiresAt, Number(max) / 1e6);
  time.now = max - 1n;
  assert.equal(deadline.remaining(), 1e-6);
  time.now = max;
  assert.equal(deadline.isExpired(), true);
});

test('min keeps the tighter deadline and this one\'s clock', () => {
  const { time, clock } = clockAt(100);
  const other = clockAt(0);
  const outer = new Deadline({ at: 300, clock });
  const inner = new Deadline({ timeout: 50, clock: other.clock }); // at 50 on its own clock
  const tighter = outer.min(inner);
  assert.ok(tighter instanceof Deadline);
  assert.equal(tighter.expiresAt, 50);
  assert.equal(inner.min(outer).expiresAt, 50);
  assert.equal(outer.min(new Deadline({ at: 900, clock })).expiresAt, 300);
  assert.equal(tighter.isExpired(), true, 'read on the clock of `outer`, at 100');
  time.now = 10;
  assert.equal(tighter.remaining(), 40);
  assert.equal(outer.expiresAt, 300, 'min makes a new deadline');
});

test('the default clock is monotonic and on performance.now()\'s scale', () => {
  const deadline = new Deadline({ timeout: 60_000 });
  const { performance } = require('node:perf_hooks');
  // A minute ahead of now: the two clocks agree far better than that.
  assert.ok(Math.abs(deadline.expiresAt - (performance.now() + 60_000)) < 30_000);
  assert.equal(deadline.isExpired(), false);
  assert.ok(deadline.remaining() > 0);
  assert.equal(new Deadline({ timeout: 0 }).isExpired(), true);
});

test('bad options throw a TypeError or RangeError naming the option', () => {
  const clock = () => 0;
  assert.throws(() => new Deadline(), { name: 'TypeError', message: /`timeout`/ });
  assert.throws(() => new Deadline({}), { name: 'TypeError', message: /`timeout`/ });
  assert.throws(() => new Deadline(5), { name: 'TypeError', message: /`options`/ });
  assert.throws(() => new Deadline({ timeout: 1, at: 2 }), { name: 'TypeError', message: /`at`/ });
  assert.throws(() => new Deadline({ timeout: '1s' }), { name: 'TypeError', message: /`timeout`/ });
  assert.throws(() => new Deadline({ timeout: -1 }), { name: 'RangeError', message: /`timeout`/, code: 'ERR_OUT_OF_RANGE' });
  assert.throws(() => new Deadline({ timeout: Infinity }), { name: 'RangeError', message: /`timeout`/ });
  assert.throws(() => new Deadline({ at: NaN }), { name: 'RangeError', message: /`at`/ });
  assert.throws(() => new Deadline({ at: 1n << 64n }), { name: 'RangeError', message: /`at`/ });
  assert.throws(() => new Deadline({ at: 1, clock: 'now' }), { name: 'TypeError', message: /`clock`/ });
  const deadline = new Deadline({ at: 5, clock });
  assert.throws(() => deadline.min({ expiresAt: 1 }), { name: 'TypeError', message: /`other`/ });
  assert.equal(deadline.remaining(), 5, 'still usable');
});
