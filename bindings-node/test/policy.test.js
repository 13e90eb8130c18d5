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
