'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { CircuitBreaker, CircuitOpenError, StanchionError } = require('..');
const { fakeTime, settle } = require('./fake-time');

const boom = () => {
  throw new Error('boom');
};

test('trips after consecutive failures, refuses with retryAfter, and a probe closes it', async (t) => {
  const time = fakeTime(t);
  const breaker = new CircuitBreaker({ consecutiveFailures: 2, openFor: 5000, clock: time.clock });
  const changes = [];
  breaker.on('stateChange', (change) => changes.push(`${change.from}->${change.to}`));
  await assert.rejects(breaker.execute(boom), /boom/);
  await assert.rejects(breaker.execute(async () => Promise.reject(new Error('async boom'))), /async boom/);
  assert.equal(breaker.state, 'open');
  await time.advance(1500);
  const refused = await breaker.execute(() => 'never').catch((e) => e);
  assert.ok(refused instanceof CircuitOpenError);
  assert.ok(refused instanceof StanchionError);
  assert.equal(refused.code, 'ERR_CIRCUIT_OPEN');
  assert.equal(refused.reason, 'breaker_open');
  assert.equal(refused.retryAfter, 3500);
  await time.advance(3500);
  assert.equal(await breaker.execute(async () => 'probe'), 'probe');
  assert.deepEqual(changes, ['closed->open', 'open->half_open', 'half_open->closed']);
});

test('sync and async functions both resolve through execute', async () => {
  const breaker = new CircuitBreaker();
  assert.equal(await breaker.execute(() => 7), 7);
  assert.equal(await breaker.execute(async () => 8), 8);
  assert.equal(breaker.snapshot().successes, 2);
});

test('a foreign thenable is adopted: its value and its error are recorded', async () => {
  const breaker = new CircuitBreaker({ consecutiveFailures: 1 });
  const resolving = { then: (resolve) => resolve(9) };
  const promise = breaker.execute(() => resolving);
  assert.ok(promise instanceof Promise);
  assert.equal(await promise, 9);
  assert.equal(breaker.snapshot().successes, 1);
  const rejecting = { then: (_resolve, reject) => reject(new Error('thenable boom')) };
  await assert.rejects(breaker.execute(() => rejecting), /thenable boom/);
  assert.equal(breaker.state, 'open');
});

test('classify decides what counts as a failure', async () => {
  const breaker = new CircuitBreaker({
    consecutiveFailures: 1,
    classify: (error) => (error.message === 'not found' ? 'ignored' : 'failure'),
  });
  await assert.rejects(breaker.execute(() => Promise.reject(new Error('not found'))));
  assert.equal(breaker.state, 'closed');
  await assert.rejects(breaker.execute(boom));
  assert.equal(breaker.state, 'open');
});

test('reject events carry the refusal', async () => {
  const breaker = new CircuitBreaker();
  const rejections = [];
  breaker.on('reject', (r) => rejections.push(r.code));
  breaker.forceOpen();
  await assert.rejects(breaker.execute(() => 1), { code: 'ERR_CIRCUIT_FORCED_OPEN', retryAfter: null });
  const refusal = breaker.tryAcquire();
  assert.deepEqual(refusal, { ok: false, reason: 'forced_open', code: 'ERR_CIRCUIT_FORCED_OPEN', retryAfter: null });
  assert.deepEqual(rejections, ['ERR_CIRCUIT_FORCED_OPEN', 'ERR_CIRCUIT_FORCED_OPEN']);
});

test('tryAcquire permits record once; a released probe frees its slot', async (t) => {
  const time = fakeTime(t);
  const breaker = new CircuitBreaker({ failureCount: 1, openFor: 100, clock: time.clock });
  const first = breaker.tryAcquire();
  first.record('failure');
  first.record('success'); // no-op: already recorded
  assert.equal(breaker.snapshot().failures, 1);
  await time.advance(100);
  const probe = breaker.tryAcquire();
  assert.equal(probe.ok, true);
  assert.equal(breaker.tryAcquire().reason, 'half_open_full');
  probe.release();
  assert.equal(breaker.snapshot().probesInFlight, 0);
  const next = breaker.tryAcquire();
  assert.equal(next.ok, true);
  next.record('success');
  assert.equal(breaker.state, 'closed');
});

test('an aborted call rejects with the reason at once, and frees its probe slot when it settles', async (t) => {
  const time = fakeTime(t);
  const breaker = new CircuitBreaker({ failureCount: 1, openFor: 100, clock: time.clock });
  await assert.rejects(breaker.execute(boom));
  await time.advance(100);
  const controller = new AbortController();
  let finish;
  const hanging = breaker.execute((signal) => (assert.ok(signal), new Promise((resolve) => (finish = resolve))), { signal: controller.signal });
  assert.equal(breaker.snapshot().probesInFlight, 1);
  controller.abort(new Error('caller gave up'));
  await assert.rejects(hanging, /caller gave up/);
  assert.equal(breaker.snapshot().probesInFlight, 1, 'the probe still runs: its slot is held');
  assert.equal(breaker.tryAcquire().reason, 'half_open_full');
  finish('late');
  await settle();
  assert.equal(breaker.snapshot().probesInFlight, 0, 'freed once it settled');
  assert.equal(breaker.snapshot().calls, 1, 'the abandoned call recorded nothing');
  assert.equal(breaker.state, 'half_open');
  await assert.rejects(breaker.execute(() => 1, { signal: AbortSignal.abort() }), { name: 'AbortError' });
  await settle();
});

test('operators: forceOpen, disable, reset return the transition', () => {
  const breaker = new CircuitBreaker({ consecutiveFailures: 1 });
  assert.deepEqual(breaker.forceOpen(), { from: 'closed', to: 'forced_open' });
  assert.deepEqual(breaker.disable(), { from: 'forced_open', to: 'disabled' });
  assert.deepEqual(breaker.reset(), { from: 'disabled', to: 'closed' });
  assert.equal(breaker.reset(), null);
});

test('snapshots are plain objects with a stable shape', () => {
  const snapshot = new CircuitBreaker().snapshot();
  assert.equal(Object.getPrototypeOf(snapshot), Object.prototype);
  assert.equal(snapshot.openUntil, null);
  assert.equal(snapshot.state, 'closed');
  assert.deepEqual(JSON.parse(JSON.stringify(snapshot)), snapshot);
});

test('reconfigure keeps state and checks the new config', async () => {
  const breaker = new CircuitBreaker({ consecutiveFailures: 3 });
  await assert.rejects(breaker.execute(boom));
  breaker.reconfigure({ consecutiveFailures: 2 });
  await assert.rejects(breaker.execute(boom));
  assert.equal(breaker.state, 'open');
  assert.throws(() => breaker.reconfigure({ failureRate: 2 }), { name: 'RangeError', message: /`failureRate`/ });
  assert.equal(breaker.state, 'open');
});

test('invalid options throw TypeError or RangeError naming the camelCase option', () => {
  assert.throws(() => new CircuitBreaker({ failureCount: 0 }), { name: 'RangeError', message: /`failureCount`/ });
  assert.throws(() => new CircuitBreaker({ failureCount: '5' }), { name: 'TypeError', message: /`failureCount`/ });
  assert.throws(() => new CircuitBreaker({ halfOpenProbes: -1 }), { name: 'RangeError', message: /`halfOpenProbes`/ });
  assert.throws(() => new CircuitBreaker({ openFor: '1s' }), { name: 'TypeError', message: /`openFor`/ });
  assert.throws(() => new CircuitBreaker({ window: { count: 321 } }), { name: 'RangeError', message: /`window`/ });
  assert.throws(() => new CircuitBreaker({ slowCall: { duration: 100, rate: 0 } }), { message: /`slowCall.rate`/ });
  assert.throws(() => new CircuitBreaker({ clock: 5 }), { name: 'TypeError', message: /`clock`/ });
});

test('a bigint clock is exact nanoseconds', () => {
  let now = 10n ** 18n;
  const breaker = new CircuitBreaker({ failureCount: 1, openFor: 2n, clock: () => now });
  breaker.tryAcquire().record('failure');
  assert.equal(breaker.tryAcquire().retryAfter, 2e-6);
  now += 2n;
  assert.equal(breaker.tryAcquire().ok, true);
});
