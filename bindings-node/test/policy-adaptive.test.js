'use strict';
// An AdaptiveLimiter inside a Policy: each attempt's sample is what the core decides of how the
// attempt ended (`policy::Ending::decide`), observed through the limiter's snapshot and events.
const test = require('node:test');
const assert = require('node:assert/strict');
const { AdaptiveLimiter, Bulkhead, CircuitBreaker, Policy, RateLimiter, Retry, TimeoutError } = require('..');
const { fakeTime, settle } = require('./fake-time');

/** A limiter whose every report closes a window: 10 in force, so one call in flight is application-limited. */
function adaptive(time, options = {}) {
  const changes = [];
  const limiter = new AdaptiveLimiter({ initialLimit: 10, minSamples: 1, window: 0, clock: time.clock, ...options });
  limiter.on('limitChange', (change) => changes.push(change));
  return { limiter, changes };
}

/** A call that stops when its signal aborts, as a fetch does. */
const honest = (signal) => new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)));

test('an attempt cut off by its attemptTimeout is a drop: the limit goes down', async (t) => {
  const time = fakeTime(t);
  const { limiter, changes } = adaptive(time);
  const policy = new Policy({ adaptive: limiter, attemptTimeout: 50, clock: time.clock });
  const result = policy.execute(honest);
  const timedOut = assert.rejects(result, { name: 'TimeoutError', message: 'attempt timed out after 50 ms' });
  await settle();
  assert.equal(limiter.snapshot().inFlight, 1);
  await time.advance(50);
  await timedOut;
  await settle();
  assert.deepEqual(changes, [{ from: 10, to: 9 }]);
  assert.deepEqual([limiter.snapshot().inFlight, limiter.snapshot().windows], [0, 1]);
  // The function's own TimeoutError is what the limiter's default `dropOn` calls a drop, inside
  // a policy as outside (the core's `Verdict::overload`).
  await assert.rejects(policy.execute(() => Promise.reject(new TimeoutError(5))), TimeoutError);
  assert.deepEqual(changes, [{ from: 10, to: 9 }, { from: 9, to: 8 }]);
  assert.equal(limiter.snapshot().windows, 2);
});

test("an error the limiter's dropOn matches is a drop to the limiter and the breaker's verdict to the breaker", async (t) => {
  const time = fakeTime(t);
  const overloaded = (error) => error.status === 503;
  const { limiter, changes } = adaptive(time, { dropOn: overloaded });
  const breaker = new CircuitBreaker({ clock: time.clock });
  const policy = new Policy({ adaptive: limiter, breaker, clock: time.clock });
  const refusal = Object.assign(new Error('unavailable'), { status: 503 });
  await assert.rejects(policy.execute(() => Promise.reject(refusal)), /unavailable/);
  assert.deepEqual(changes, [{ from: 10, to: 9 }], 'a 503 is a drop');
  assert.equal(breaker.snapshot().failures, 1, 'and a failure to the breaker');
  // Any other error is a latency sample; with one call in flight of 9 the limit holds.
  await assert.rejects(policy.execute(() => Promise.reject(new Error('bad request'))), /bad request/);
  assert.deepEqual(changes, [{ from: 10, to: 9 }]);
  assert.deepEqual([limiter.snapshot().windows, breaker.snapshot().failures], [2, 2]);
});

test('each retried attempt holds a permit of its own and reports its own ending', async (t) => {
  const time = fakeTime(t);
  const { limiter, changes } = adaptive(time);
  const retry = new Retry({ backoff: { schedule: 'constant', delay: 10, maxAttempts: 3 }, clock: time.clock });
  const policy = new Policy({ adaptive: limiter, retry, attemptTimeout: 100, clock: time.clock });
  let calls = 0;
  const result = policy.execute((signal) => (++calls === 1 ? honest(signal) : 'ok'));
  await time.advance(100);
  await time.advance(10);
  assert.equal(await result, 'ok');
  assert.equal(calls, 2);
  assert.deepEqual(changes, [{ from: 10, to: 9 }], 'the cut-off attempt dropped, the second sampled');
  assert.deepEqual([limiter.snapshot().inFlight, limiter.snapshot().windows, limiter.snapshot().peak], [0, 2, 1]);
});

test("a caller's abort gives the permit back once the call settles, with no sample", async (t) => {
  const time = fakeTime(t);
  const { limiter } = adaptive(time);
  // With a timeout (the attempt's own signal), and without (the caller's signal goes through).
  for (const options of [{ timeout: 10_000 }, {}]) {
    const policy = new Policy({ adaptive: limiter, clock: time.clock, ...options });
    const controller = new AbortController();
    let finish;
    const result = policy.execute(() => new Promise((resolve) => (finish = resolve)), { signal: controller.signal });
    await settle();
    controller.abort(new Error('stop'));
    await assert.rejects(result, /stop/);
    assert.equal(limiter.snapshot().inFlight, 1, 'the call ignores its signal and runs on: its permit is held');
    finish('late');
    await settle();
    assert.deepEqual([limiter.snapshot().inFlight, limiter.snapshot().windows], [0, 0], JSON.stringify(options));
  }
});

test("a rate limiter's refusal inside gives the permit back with no sample", async (t) => {
  const time = fakeTime(t);
  const { limiter: l } = adaptive(time);
  const bucket = new RateLimiter({ capacity: 1, refillEvery: 60_000, clock: time.clock });
  const policy = new Policy({ adaptive: l, limiter: bucket, limiterMaxWait: 0, clock: time.clock });
  assert.equal(await policy.execute(() => 'first'), 'first');
  await assert.rejects(policy.execute(() => assert.fail('called')), { code: 'ERR_RATE_LIMITED' });
  assert.deepEqual([l.snapshot().inFlight, l.snapshot().windows], [0, 1], 'only the call that ran sampled');
});

test("a failed call is judged by the breaker's classify, once, for the breaker and the limiter alike", async (t) => {
  const time = fakeTime(t);
  const { limiter } = adaptive(time);
  let judged = 0;
  const breaker = new CircuitBreaker({
    clock: time.clock,
    classify: (error) => {
      judged++;
      return error.message === 'not found' ? 'ignored' : 'failure';
    },
  });
  const policy = new Policy({ adaptive: limiter, breaker, attemptTimeout: 1000, clock: time.clock });
  await assert.rejects(policy.execute(() => Promise.reject(new Error('not found'))));
  assert.equal(limiter.snapshot().windows, 0, "the caller's 'ignored': no sample");
  await assert.rejects(policy.execute(() => Promise.reject(new Error('down'))));
  assert.equal(limiter.snapshot().windows, 1, 'a failure is a sample');
  assert.equal(await policy.execute(() => 'up'), 'up');
  assert.equal(limiter.snapshot().windows, 2);
  assert.equal(judged, 2);
  const { calls, failures, successes } = breaker.snapshot();
  assert.deepEqual({ calls, failures, successes }, { calls: 2, failures: 1, successes: 1 }, 'an ignored call is not counted');
});

test('with a bulkhead too, an attempt holds both, the bulkhead first', async (t) => {
  const time = fakeTime(t);
  const { limiter } = adaptive(time, { initialLimit: 1, maxWaiting: 0 });
  const bulkhead = new Bulkhead({ maxConcurrent: 2, maxWaiting: 0 });
  const policy = new Policy({ bulkhead, adaptive: limiter, clock: time.clock });
  let finish;
  const first = policy.execute(() => new Promise((resolve) => (finish = resolve)));
  await settle();
  assert.deepEqual([bulkhead.snapshot().inFlight, limiter.snapshot().inFlight], [1, 1]);
  // The second gets the bulkhead's permit, then the limiter refuses it: both are back.
  await assert.rejects(policy.execute(() => assert.fail('called')), { code: 'ERR_BULKHEAD_QUEUE_FULL' });
  assert.deepEqual([bulkhead.snapshot().inFlight, limiter.snapshot().inFlight, limiter.snapshot().rejected], [1, 1, 1]);
  finish('done');
  assert.equal(await first, 'done');
  assert.deepEqual([bulkhead.snapshot().inFlight, limiter.snapshot().inFlight, limiter.snapshot().windows], [0, 0, 1]);
});

test("the deadline bounds the wait in the limiter's queue, which it leaves clean", async (t) => {
  const time = fakeTime(t);
  const { limiter } = adaptive(time, { initialLimit: 1 });
  const held = limiter.tryAcquire();
  const policy = new Policy({ adaptive: limiter, timeout: 100, clock: time.clock });
  const result = policy.execute(() => assert.fail('called'));
  const timedOut = assert.rejects(result, { name: 'TimeoutError', message: 'timed out after 100 ms' });
  await settle();
  assert.equal(limiter.snapshot().waiting, 1);
  await time.advance(100);
  await timedOut;
  assert.equal(limiter.snapshot().waiting, 0);
  held.release();
  assert.deepEqual([limiter.snapshot().inFlight, limiter.snapshot().windows], [0, 0]);
  assert.throws(() => new Policy({ adaptive: new Bulkhead({ maxConcurrent: 1 }) }), { name: 'TypeError', message: /^option `adaptive` must be an AdaptiveLimiter/ });
});
