'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { Backoff, Retry, RetryBudget, RetryBudgetExhaustedError, CircuitOpenError } = require('..');
const { fakeTime, settle } = require('./fake-time');

test('backoff: schedules give the core delays in ms; null means stop', () => {
  const exponential = new Backoff({ schedule: 'exponential', initial: 100, factor: 2, maxAttempts: 4 });
  assert.deepEqual([0, 1, 2, 3].map((n) => exponential.delay(n)), [100, 200, 400, null]);
  assert.deepEqual(exponential.delays(), [100, 200, 400]);
  const linear = new Backoff({ schedule: 'linear', initial: 10, step: 5, maxAttempts: null, maxDelay: 20 });
  assert.deepEqual(linear.delays(0, 4), [10, 15, 20, 20]);
  const full = new Backoff({ schedule: 'constant', delay: 1000, jitter: 'full' });
  const d = full.delay(0, 42);
  assert.ok(d >= 0 && d <= 1000);
  assert.equal(full.delay(0, 42), d, 'the same seed gives the same wait');
});

test('backoff: invalid options name the option', () => {
  assert.throws(() => new Backoff({ schedule: 'exponential', initial: 1, factor: 0.5 }), { name: 'RangeError', message: /`factor`/ });
  assert.throws(() => new Backoff({ schedule: 'fibonacci' }), { name: 'TypeError', message: /`schedule`/ });
  assert.throws(() => new Backoff({ schedule: 'constant' }), { name: 'TypeError', message: /`delay`/ });
  assert.throws(() => new Backoff({ schedule: 'constant', delay: 1, maxAttempts: 0 }), { name: 'RangeError', message: /`maxAttempts`/ });
  assert.throws(() => new Backoff({ schedule: 'constant', delay: 1, jitter: { proportional: 2 } }), { message: /`jitter.proportional`/ });
});

test('retry: retries until success, waiting as the backoff says', async (t) => {
  const time = fakeTime(t);
  const retry = new Retry({ backoff: { schedule: 'constant', delay: 50, maxAttempts: 3 }, clock: time.clock });
  const waits = [];
  retry.on('retry', ({ attempt, delay }) => waits.push([attempt, delay]));
  let calls = 0;
  const result = retry.execute((signal, attempt) => {
    calls++;
    if (attempt < 2) throw new Error(`fail ${attempt}`);
    return 'ok';
  });
  await settle();
  assert.equal(calls, 1);
  await time.advance(50);
  assert.equal(calls, 2);
  await time.advance(50);
  assert.equal(await result, 'ok');
  assert.deepEqual(waits, [[1, 50], [2, 50]]);
});

test('retry: rejects with the last error after maxAttempts', async (t) => {
  const time = fakeTime(t);
  const retry = new Retry({ backoff: { schedule: 'constant', delay: 10, maxAttempts: 2 }, clock: time.clock });
  const gaveUp = [];
  retry.on('giveUp', ({ reason }) => gaveUp.push(reason));
  let n = 0;
  const result = retry.execute(async () => {
    throw new Error(`attempt ${++n}`);
  });
  const failed = assert.rejects(result, /attempt 2/);
  await time.advance(10);
  await failed;
  assert.deepEqual(gaveUp, ['max_attempts']);
});

test('retry: refusals are not retried; retryIf decides the rest', async () => {
  const retry = new Retry({ backoff: { schedule: 'constant', delay: 0, maxAttempts: 5 } });
  let n = 0;
  const open = Object.assign(new CircuitOpenError('open', 'ERR_CIRCUIT_OPEN', 'breaker_open', 10));
  await assert.rejects(retry.execute(() => (n++, Promise.reject(open))), CircuitOpenError);
  assert.equal(n, 1);
  const picky = new Retry({ backoff: { schedule: 'constant', delay: 0 }, retryIf: (e) => e.message !== 'fatal' });
  n = 0;
  await assert.rejects(picky.execute(() => (n++, Promise.reject(new Error('fatal')))), /fatal/);
  assert.equal(n, 1);
});

test('retry: a budget refuses retries beyond its share', async (t) => {
  const time = fakeTime(t);
  const budget = new RetryBudget({ ratio: 0, minRetriesPerSec: 1, clock: time.clock });
  const retry = new Retry({ backoff: { schedule: 'constant', delay: 0, maxAttempts: 10 }, budget, clock: time.clock });
  let n = 0;
  const refused = await retry
    .execute(() => {
      n++;
      throw new Error('down');
    })
    .catch((e) => e);
  assert.ok(refused instanceof RetryBudgetExhaustedError);
  assert.equal(refused.code, 'ERR_RETRY_BUDGET_EXHAUSTED');
  assert.equal(refused.cause.message, 'down');
  assert.equal(n, 2, 'the floor allowed one retry');
  assert.equal(budget.snapshot().retriesRefused, 1);
});

test('retry: an abort cancels the wait between attempts', async (t) => {
  const time = fakeTime(t);
  const retry = new Retry({ backoff: { schedule: 'constant', delay: 60_000 }, clock: time.clock });
  const controller = new AbortController();
  let n = 0;
  const result = retry.execute(() => {
    n++;
    throw new Error('x');
  }, { signal: controller.signal });
  await settle();
  controller.abort();
  await assert.rejects(result, { name: 'AbortError' });
  await time.advance(60_000);
  assert.equal(n, 1);
});

test('retry budget: deposits, floor and snapshot', (t) => {
  const time = fakeTime(t);
  const budget = new RetryBudget({ ratio: 0.5, minRetriesPerSec: 0, clock: time.clock });
  assert.equal(budget.tryRetry().reason, 'retry_budget_exhausted');
  budget.deposit();
  budget.deposit();
  assert.deepEqual(budget.tryRetry(), { ok: true });
  assert.deepEqual(budget.snapshot(), { balance: 0, floorTokens: 0, retriesAvailable: 0, retriesAllowed: 1, retriesRefused: 1 });
  assert.throws(() => new RetryBudget({ ratio: 2000 }), { name: 'RangeError', message: /`ratio`/ });
  assert.throws(() => new RetryBudget({}), { name: 'TypeError', message: /`ratio`/ });
});

test('retry: maxElapsed counts from the first call and stops rather than clips', async (t) => {
  const time = fakeTime(t);
  const retry = new Retry({ backoff: { schedule: 'constant', delay: 100, maxAttempts: null, maxElapsed: 250 }, clock: time.clock });
  const reasons = [];
  retry.on('giveUp', ({ reason }) => reasons.push(reason));
  let calls = 0;
  const result = retry.execute(() => {
    calls++;
    throw new Error('down');
  });
  const failed = assert.rejects(result, /down/);
  await time.advance(100);
  await time.advance(100);
  await failed;
  assert.equal(calls, 3, 'a third wait would end at 300 ms, past 250');
  assert.deepEqual(reasons, ['max_elapsed']);
});
