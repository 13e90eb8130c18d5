'use strict';
// Every duration option takes milliseconds as a number or exact nanoseconds as a bigint, and
// the two forms of one duration behave the same, class by class.
const test = require('node:test');
const assert = require('node:assert/strict');
const s = require('..');
const { fakeTime, settle } = require('./fake-time');

// Every duration option, by class, with the options it needs besides.
const DURATIONS = {
  CircuitBreaker: { options: { openFor: 1 }, names: ['openFor', 'openForMax', 'probeTimeout', 'slowCall.duration', 'window.span'] },
  RateLimiter: { options: { capacity: 1 }, names: ['refillEvery'] },
  KeyedRateLimiter: { options: { capacity: 1 }, names: ['refillEvery'] },
  Backoff: { options: { schedule: 'exponential', initial: 1 }, names: ['initial', 'maxDelay', 'maxElapsed'] },
  'Backoff constant': { options: { schedule: 'constant' }, names: ['delay'] },
  'Backoff linear': { options: { schedule: 'linear', initial: 1 }, names: ['step'] },
  'Backoff decorrelated': { options: { schedule: 'decorrelated' }, names: ['base'] },
  Policy: { options: {}, names: ['timeout', 'attemptTimeout', 'limiterMaxWait'] },
  Deadline: { options: {}, names: ['timeout'] },
};

function withOption(options, name, value) {
  const [outer, inner] = name.split('.');
  if (inner === undefined) return { ...options, [outer]: value };
  return { ...options, [outer]: { ...(outer === 'window' ? { buckets: 1 } : {}), [inner]: value } };
}

test('every duration option takes a number of ms and a bigint of ns, and refuses a negative of either', () => {
  for (const [where, { options, names }] of Object.entries(DURATIONS)) {
    const Class = s[where.split(' ')[0]];
    for (const name of names) {
      new Class(withOption(options, name, 1.5));
      new Class(withOption(options, name, 1_500_000n));
      for (const bad of [-1, -1n, 1n << 64n]) {
        assert.throws(() => new Class(withOption(options, name, bad)), { name: 'RangeError', message: new RegExp(`^option \`${name}\` must be `) }, `${where} ${name}: ${bad}`);
      }
      assert.throws(() => new Class(withOption(options, name, '1s')), { name: 'TypeError', message: new RegExp(`^option \`${name}\` must be .*nanoseconds as a bigint`) }, `${where} ${name}`);
    }
  }
  // And as arguments: a limiter's maxWait.
  const limiter = new s.RateLimiter({ capacity: 1 });
  assert.equal(limiter.reserve(1, 5n).ok, true);
  assert.throws(() => limiter.reserve(1, -1n), { name: 'RangeError', message: /^option `maxWait` must be / });
});

test('a breaker open for 5 ms or 5_000_000n ns stays open as long', () => {
  for (const openFor of [5, 5_000_000n]) {
    let now = 0;
    const breaker = new s.CircuitBreaker({ consecutiveFailures: 1, openFor, probeTimeout: openFor, clock: () => now });
    breaker.tryAcquire().record('failure');
    assert.equal(breaker.snapshot().openUntil, 5);
    now = 5;
    assert.equal(breaker.tryAcquire().ok, true);
  }
  for (const span of [10, 10_000_000n]) {
    const breaker = new s.CircuitBreaker({ window: { span, buckets: 2 }, slowCall: { duration: span, rate: 1 }, openFor: 1, openForMax: span, clock: () => 0 });
    assert.equal(breaker.state, 'closed');
  }
});

test('a limiter refilled every 100 ms or 100_000_000n ns refills alike', () => {
  for (const refillEvery of [100, 100_000_000n]) {
    let now = 0;
    const limiter = new s.RateLimiter({ capacity: 1, refillEvery, clock: () => now });
    const keyed = new s.KeyedRateLimiter({ capacity: 1, refillEvery, clock: () => now });
    assert.equal(limiter.tryAcquire().ok, true);
    assert.equal(keyed.tryAcquire('k').ok, true);
    assert.equal(limiter.tryAcquire().retryAfter, 100);
    assert.equal(keyed.tryAcquire('k').retryAfter, 100);
    assert.equal(limiter.reserve(1, 50_000_000n).ok, false, 'a bigint maxWait is nanoseconds');
    now = 100;
    assert.equal(limiter.tryAcquire().ok, true);
  }
});

test('backoff schedules in ms and in ns give the same waits', () => {
  const pairs = [
    [{ schedule: 'constant', delay: 10 }, { schedule: 'constant', delay: 10_000_000n }],
    [{ schedule: 'linear', initial: 10, step: 5 }, { schedule: 'linear', initial: 10_000_000n, step: 5_000_000n }],
    [{ schedule: 'exponential', initial: 10, maxDelay: 30, maxAttempts: 5 }, { schedule: 'exponential', initial: 10_000_000n, maxDelay: 30_000_000n, maxAttempts: 5 }],
    [{ schedule: 'decorrelated', base: 10, maxElapsed: 1_000 }, { schedule: 'decorrelated', base: 10_000_000n, maxElapsed: 1_000_000_000n }],
  ];
  for (const [ms, ns] of pairs) assert.deepEqual(new s.Backoff(ns).delays(7), new s.Backoff(ms).delays(7));
});

test('a deadline of 250 ms or 250_000_000n ns expires at one instant', () => {
  for (const timeout of [250, 250_000_000n]) {
    assert.equal(new s.Deadline({ timeout, clock: () => 1_000 }).expiresAt, 1_250);
  }
});

test('a policy timeout of 100 ms or 100_000_000n ns', async (t) => {
  const time = fakeTime(t);
  for (const timeout of [100, 100_000_000n]) {
    const policy = new s.Policy({ timeout, clock: time.clock });
    const result = policy.execute(() => new Promise(() => {}));
    const timedOut = assert.rejects(result, { name: 'TimeoutError', timeout: 100, message: 'timed out after 100 ms' });
    await time.advance(99);
    let settled = false;
    result.catch(() => (settled = true));
    await settle();
    assert.equal(settled, false, 'still running at 99 ms');
    await time.advance(1);
    await timedOut;
  }
  // The brief's case: new Policy({ timeout: 100n }) is 100 ns.
  assert.equal(new s.Policy({ timeout: 100n }).timeout, 0.0001);
});

test("a policy's limiterMaxWait in ns bounds the limiter's wait as in ms", async (t) => {
  const time = fakeTime(t);
  for (const limiterMaxWait of [50, 50_000_000n]) {
    const limiter = new s.RateLimiter({ capacity: 1, refillEvery: 100, clock: time.clock });
    // Inside a timeout too: the two bounds meet in one comparison.
    const policy = new s.Policy({ limiter, limiterMaxWait, timeout: 1_000, clock: time.clock });
    assert.equal(await policy.execute(() => 'first'), 'first');
    await assert.rejects(policy.execute(() => 'second'), { code: 'ERR_RATE_LIMITED' });
    await time.advance(60);
    const third = policy.execute(() => 'third');
    await time.advance(40);
    assert.equal(await third, 'third');
  }
});

test('a bigint clock and a policy timeout share one scale', async (t) => {
  // The clock reads nanoseconds; the policy's deadline (and the limiter's wait within it) must
  // not add milliseconds to nanoseconds.
  const time = fakeTime(t);
  const clock = () => BigInt(time.now) * 1_000_000n;
  const limiter = new s.RateLimiter({ capacity: 1, refillEvery: 100, clock });
  const policy = new s.Policy({ limiter, timeout: 50, clock });
  assert.equal(await policy.execute(() => 1), 1);
  // The next token is 100 ms away, past the 50 ms deadline: refused at once, not waited for.
  await assert.rejects(policy.execute(() => 2), { code: 'ERR_RATE_LIMITED' });
  const retry = new s.Retry({ backoff: { schedule: 'constant', delay: 20, maxAttempts: 4 }, clock });
  const retried = new s.Policy({ retry, timeout: 50, clock });
  let calls = 0;
  const result = retried.execute(() => {
    calls++;
    throw new Error('down');
  });
  const failed = assert.rejects(result, /down/);
  await time.advance(20);
  await time.advance(20);
  // Waits end at 20 and 40 ms; a third would end at 60 ms, past the deadline at 50: the loop
  // gives up after three calls.
  await failed;
  assert.equal(calls, 3);
});
