'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { Policy, CircuitBreaker, Bulkhead, RateLimiter, Retry, TimeoutError } = require('..');
const { fakeTime, settle } = require('./fake-time');

test('a policy retries through the breaker and records every attempt', async (t) => {
  const time = fakeTime(t);
  const breaker = new CircuitBreaker({ consecutiveFailures: 5, clock: time.clock });
  const retry = new Retry({ backoff: { schedule: 'constant', delay: 10, maxAttempts: 3 }, clock: time.clock });
  const policy = new Policy({ retry, breaker, clock: time.clock });
  let n = 0;
  const result = policy.execute(() => {
    if (++n < 3) throw new Error('flaky');
    return 'ok';
  });
  await time.advance(10);
  await time.advance(10);
  assert.equal(await result, 'ok');
  const snapshot = breaker.snapshot();
  assert.equal(snapshot.failures, 2);
  assert.equal(snapshot.successes, 1);
});

test('an open breaker is not retried and the fallback answers', async () => {
  const breaker = new CircuitBreaker();
  breaker.forceOpen();
  const retry = new Retry({ backoff: { schedule: 'constant', delay: 0, maxAttempts: 5 } });
  let calls = 0;
  const policy = new Policy({ breaker, retry, fallback: (error) => `fallback: ${error.code}` });
  assert.equal(await policy.execute(() => calls++), 'fallback: ERR_CIRCUIT_FORCED_OPEN');
  assert.equal(calls, 0);
});

test('the timeout bounds the whole call and aborts the inner signal', async (t) => {
  const time = fakeTime(t);
  const bulkhead = new Bulkhead({ maxConcurrent: 1 });
  const policy = new Policy({ timeout: 100, bulkhead, clock: time.clock });
  let innerSignal;
  // The call stops when its signal aborts, as a fetch does.
  const result = policy.execute((signal) => {
    innerSignal = signal;
    return new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
  });
  const timedOut = assert.rejects(result, TimeoutError);
  await settle();
  assert.equal(bulkhead.snapshot().inFlight, 1);
  await time.advance(100);
  await timedOut;
  assert.equal(innerSignal.aborted, true);
  await settle();
  assert.equal(bulkhead.snapshot().inFlight, 0, 'the permit went back once the call stopped');
  await assert.rejects(new Policy({ timeout: 0 }).execute(() => assert.fail('called')), { code: 'ERR_TIMEOUT' });
});

test('the limiter waits inside the deadline, and refuses a wait past it', async (t) => {
  const time = fakeTime(t);
  const limiter = new RateLimiter({ capacity: 1, refillEvery: 1000, clock: time.clock });
  const policy = new Policy({ limiter, timeout: 500, clock: time.clock });
  assert.equal(await policy.execute(() => 1), 1);
  await assert.rejects(policy.execute(() => 2), { code: 'ERR_RATE_LIMITED' });
});

test('a caller abort reaches every layer', async (t) => {
  fakeTime(t);
  const bulkhead = new Bulkhead({ maxConcurrent: 1, maxWaiting: 1 });
  const breaker = new CircuitBreaker();
  const policy = new Policy({ bulkhead, breaker, timeout: 10_000 });
  const controller = new AbortController();
  let finish;
  const result = policy.execute(() => new Promise((resolve) => (finish = resolve)), { signal: controller.signal });
  await settle();
  controller.abort(new Error('stop'));
  await assert.rejects(result, /stop/);
  assert.equal(bulkhead.snapshot().inFlight, 1, 'the call ignores its signal and runs on: its permit is held');
  assert.equal(breaker.snapshot().probesInFlight, 0);
  finish('late');
  await settle();
  assert.equal(bulkhead.snapshot().inFlight, 0, 'released once the call settled');
  assert.equal(breaker.snapshot().calls, 0, 'an abandoned call records nothing');
});

test('policy options are checked', () => {
  assert.throws(() => new Policy({ breaker: {} }), { name: 'TypeError', message: /`breaker`/ });
  assert.throws(() => new Policy({ timeout: -1 }), { name: 'RangeError', message: /`timeout`/ });
  assert.throws(() => new Policy({ fallback: 1 }), { name: 'TypeError', message: /`fallback`/ });
});

test("a bulkhead's or limiter's refusal inside a policy is no failure for its breaker", async () => {
  const breaker = new CircuitBreaker({ consecutiveFailures: 1 });
  const bulkhead = new Bulkhead({ maxConcurrent: 1, maxWaiting: 0 });
  const limiter = new RateLimiter({ capacity: 1, refillEvery: 60_000 });
  const held = bulkhead.tryAcquire();
  await assert.rejects(new Policy({ breaker, bulkhead }).execute(() => 'no'), { code: 'ERR_BULKHEAD_QUEUE_FULL' });
  held.release();
  const limited = new Policy({ breaker, limiter, limiterMaxWait: 0 });
  assert.equal(await limited.execute(() => 'first'), 'first');
  await assert.rejects(limited.execute(() => 'no'), { code: 'ERR_RATE_LIMITED' });
  assert.equal(breaker.state, 'closed', 'the call never ran: the core records nothing');
  assert.equal(breaker.snapshot().calls, 1);
  // An error of the call itself is still the breaker's to count.
  await assert.rejects(new Policy({ breaker, bulkhead }).execute(() => Promise.reject(new Error('down'))), /down/);
  assert.equal(breaker.state, 'open');
});

/** A call that never settles, counted. */
function hanging(counter) {
  return () => {
    counter.calls++;
    return new Promise(() => {});
  };
}

/** The code an execute settles with, once `advance` has moved time on. */
async function codeAfter(time, ms, result) {
  result.catch(() => {});
  await time.advance(ms);
  return result.then(
    () => 'resolved',
    (error) => error.code,
  );
}

test('calls that hang past the timeout trip the breaker', async (t) => {
  const time = fakeTime(t);
  const breaker = new CircuitBreaker({ consecutiveFailures: 3, failureCount: null, clock: time.clock });
  const policy = new Policy({ timeout: 50, breaker, clock: time.clock });
  const counter = { calls: 0 };
  const codes = [];
  for (let i = 0; i < 10; i++) codes.push(await codeAfter(time, 50, policy.execute(hanging(counter))));
  assert.deepEqual(codes, [...Array(3).fill('ERR_TIMEOUT'), ...Array(7).fill('ERR_CIRCUIT_OPEN')]);
  assert.equal(counter.calls, 3);
  assert.equal(breaker.state, 'open');
  const { calls, failures, rejectedOpen } = breaker.snapshot();
  assert.deepEqual({ calls, failures, rejectedOpen }, { calls: 3, failures: 3, rejectedOpen: 7 });
});

test('a timed-out call counts as slow', async (t) => {
  const time = fakeTime(t);
  const breaker = new CircuitBreaker({ failureCount: null, slowCall: { duration: 100, rate: 1 }, minimumCalls: 3, clock: time.clock });
  const policy = new Policy({ attemptTimeout: 100, breaker, clock: time.clock });
  const counter = { calls: 0 };
  for (let i = 0; i < 3; i++) {
    const result = policy.execute(hanging(counter));
    const timedOut = assert.rejects(result, { name: 'TimeoutError', message: 'attempt timed out after 100 ms', timeout: 100 });
    await time.advance(100);
    await timedOut;
  }
  const { calls, failures, slowCalls } = breaker.snapshot();
  assert.deepEqual({ calls, failures, slowCalls }, { calls: 3, failures: 3, slowCalls: 3 });
  assert.equal(breaker.state, 'open', 'the slow-call rate tripped it');
});

test('an attempt timeout is retried, whatever retryIf says of a timeout', async (t) => {
  const time = fakeTime(t);
  const breaker = new CircuitBreaker({ clock: time.clock });
  const retry = new Retry({
    backoff: { schedule: 'constant', delay: 10, maxAttempts: 3 },
    retryIf: (error) => error.code !== 'ERR_TIMEOUT',
    clock: time.clock,
  });
  const policy = new Policy({ attemptTimeout: 100, retry, breaker, clock: time.clock });
  let calls = 0;
  const result = policy.execute(() => (++calls === 1 ? new Promise(() => {}) : 'ok'));
  await time.advance(100);
  await time.advance(10);
  assert.equal(await result, 'ok');
  assert.equal(calls, 2);
  const { failures, successes } = breaker.snapshot();
  assert.deepEqual({ failures, successes }, { failures: 1, successes: 1 });
});

test('the deadline caps the attempt timeout, and an attempt cut off by it ends the call', async (t) => {
  const time = fakeTime(t);
  const breaker = new CircuitBreaker({ clock: time.clock });
  const retry = new Retry({ backoff: { schedule: 'constant', delay: 0, maxAttempts: 5 }, clock: time.clock });
  const retried = [];
  const gaveUp = [];
  retry.on('retry', ({ attempt }) => retried.push(attempt));
  retry.on('giveUp', ({ reason }) => gaveUp.push(reason));
  const policy = new Policy({ timeout: 150, attemptTimeout: 100, retry, breaker, clock: time.clock });
  const counter = { calls: 0 };
  const result = policy.execute(hanging(counter));
  const timedOut = assert.rejects(result, { name: 'TimeoutError', message: 'timed out after 150 ms', timeout: 150 });
  await time.advance(100); // the first attempt's own timeout: retried at once
  assert.equal(counter.calls, 2);
  await time.advance(50); // the second has only the 50 ms left of the deadline
  await timedOut;
  assert.deepEqual(retried, [1]);
  assert.deepEqual(gaveUp, ['deadline']);
  assert.equal(breaker.snapshot().failures, 2);
});

test("a caller's abort is not the dependency's failure: the probe is released once the call settles", async (t) => {
  const time = fakeTime(t);
  const breaker = new CircuitBreaker({ consecutiveFailures: 1, openFor: 1000, clock: time.clock });
  breaker.tryAcquire().record('failure');
  await time.advance(1000); // the next call is the half-open breaker's one probe
  const policy = new Policy({ breaker, attemptTimeout: 5000, timeout: 10_000, clock: time.clock });
  const controller = new AbortController();
  let finish;
  const result = policy.execute(() => new Promise((resolve) => (finish = resolve)), { signal: controller.signal });
  await settle();
  assert.equal(breaker.snapshot().probesInFlight, 1);
  controller.abort(new Error('stop'));
  await assert.rejects(result, /stop/);
  assert.equal(breaker.snapshot().probesInFlight, 1, 'the call still runs: its probe slot stays held');
  finish('late');
  await settle();
  await time.advance(10_000); // no timer of the abandoned attempt fires later
  const { state, probesInFlight, calls, failures } = breaker.snapshot();
  assert.deepEqual({ state, probesInFlight, calls, failures }, { state: 'half_open', probesInFlight: 0, calls: 1, failures: 1 });
});

test("a policy's timeout leaves it as a plain error: an enclosing retry judges it with its own retryIf", async (t) => {
  const time = fakeTime(t);
  const inner = new Policy({ attemptTimeout: 100, clock: time.clock });
  const retry = new Retry({ backoff: { schedule: 'constant', delay: 0, maxAttempts: 3 }, retryIf: (error) => error.code !== 'ERR_TIMEOUT' });
  const outer = new Policy({ retry });
  const counter = { calls: 0 };
  const result = outer.execute(() => inner.execute(hanging(counter)));
  const timedOut = assert.rejects(result, { code: 'ERR_TIMEOUT' });
  await time.advance(100);
  await timedOut;
  assert.equal(counter.calls, 1);
});

test('attemptTimeout is checked', () => {
  assert.throws(() => new Policy({ attemptTimeout: 0 }), {
    name: 'RangeError',
    code: 'ERR_OUT_OF_RANGE',
    message: /^option `attemptTimeout` must be a duration of at least 1 ns.*, got 0$/,
  });
  assert.throws(() => new Policy({ attemptTimeout: 0n }), { name: 'RangeError', message: /`attemptTimeout`.*got 0n$/ });
  assert.throws(() => new Policy({ attemptTimeout: Infinity }), { name: 'RangeError', message: /`attemptTimeout`/ });
  assert.throws(() => new Policy({ attemptTimeout: '1s' }), { name: 'TypeError', message: /`attemptTimeout`/ });
  assert.throws(() => new Policy({ perAttemptTimeout: 5 }), { name: 'TypeError', message: /did you mean `attemptTimeout`/ });
  assert.equal(new Policy({ attemptTimeout: 250_000_000n }).attemptTimeout, 250);
});
