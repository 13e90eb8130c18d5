'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const s = require('..');
const { Backoff, Retry, RetryBudget, RetryBudgetExhaustedError, CircuitOpenError, Policy } = s;
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

// ---- every decision is the core's (src/retry.rs: stanchion::retry::RetryLoop) ------------------

test('retry: a refusal is not retried, whatever retryIf says, unless retryRefusals', async (t) => {
  const time = fakeTime(t);
  const open = () => new CircuitOpenError('open', 'ERR_CIRCUIT_OPEN', 'breaker_open', 30);
  const eager = new Retry({ backoff: { schedule: 'constant', delay: 10, maxAttempts: 5 }, retryIf: () => true, clock: time.clock });
  const reasons = [];
  eager.on('giveUp', ({ reason, attempts }) => reasons.push([reason, attempts]));
  let n = 0;
  await assert.rejects(eager.execute(() => (n++, Promise.reject(open()))), CircuitOpenError);
  assert.equal(n, 1);
  assert.deepEqual(reasons, [['refused', 1]]);

  // Asked for, a refusal is retried no sooner than its retryAfter (30 ms, above the backoff's 10).
  const patient = new Retry({ backoff: { schedule: 'constant', delay: 10, maxAttempts: 3 }, retryRefusals: true, clock: time.clock });
  const waits = [];
  patient.on('retry', ({ delay }) => waits.push(delay));
  n = 0;
  const result = patient.execute(() => (++n < 3 ? Promise.reject(open()) : 'through'));
  await time.advance(30);
  await time.advance(30);
  assert.equal(await result, 'through');
  assert.deepEqual(waits, [30, 30]);
  // A refusal no wait can help ends the call even then.
  const huge = new s.RateLimiter({ capacity: 1 });
  n = 0;
  await assert.rejects(patient.execute(() => (n++, huge.execute(() => 1, { n: 2 }))), { code: 'ERR_INSUFFICIENT_CAPACITY' });
  assert.equal(n, 1);
});

test('retry: the stop reasons are the core\'s names, with the attempts made', async (t) => {
  const time = fakeTime(t);
  const budget = new RetryBudget({ ratio: 0, minRetriesPerSec: 1, clock: time.clock });
  const retry = new Retry({ backoff: { schedule: 'constant', delay: 0, maxAttempts: 10 }, budget, retryIf: (e) => e.message !== 'final', clock: time.clock });
  const stops = [];
  retry.on('giveUp', ({ reason, attempts, error }) => stops.push([reason, attempts, error.message]));
  await assert.rejects(retry.execute(() => Promise.reject(new Error('final'))), /final/);
  const exhausted = await retry.execute(() => Promise.reject(new Error('down'))).catch((e) => e);
  assert.ok(exhausted instanceof RetryBudgetExhaustedError);
  assert.equal(exhausted.cause.message, 'down');
  assert.equal(exhausted.retryAfter, 1000, "the floor's next token, as the core says");
  assert.deepEqual(stops, [['not_retryable', 1, 'final'], ['budget_exhausted', 2, 'down']]);
});

test('retry in a policy: a wait that would end exactly at the deadline is not made', async (t) => {
  // The core stops when now + wait >= deadline; the loop used to stop only past it, leaving
  // the boundary to a race between its timer and the policy's.
  const time = fakeTime(t);
  const retry = new Retry({ backoff: { schedule: 'constant', delay: 50, maxAttempts: 5 }, clock: time.clock });
  const policy = new Policy({ retry, timeout: 100, clock: time.clock });
  const stops = [];
  retry.on('giveUp', ({ reason, attempts }) => stops.push([reason, attempts]));
  let calls = 0;
  const result = policy.execute(async () => {
    calls++;
    await new Promise((resolve) => setTimeout(resolve, 50));
    throw new Error(`down ${calls}`);
  });
  const failed = assert.rejects(result, /down 1/);
  await time.advance(50);
  await failed;
  assert.equal(calls, 1, 'a retry at 50 ms would wait until 100 ms, the deadline itself');
  assert.deepEqual(stops, [['deadline', 1]]);
});

test('retry: the step API is the loop of execute, one decision at a time', () => {
  let now = 0n;
  const clock = () => now;
  const retry = new Retry({ backoff: { schedule: 'constant', delay: 100_000_000n, maxAttempts: 3 }, clock, unit: 'ns' });
  const call = retry.start({ deadline: new s.Deadline({ at: 250_000_000n, clock }) });
  assert.equal(call.stop, null);
  assert.equal(call.attempts, 1);
  now = 10_000_000n;
  const first = call.failed(new Error('down'));
  assert.deepEqual({ ...first, error: undefined }, { next: 'retry', wait: 100_000_000n, stop: null, attempts: 1, error: undefined });
  now = 110_000_000n;
  assert.deepEqual(call.resume(), { proceed: true, attempt: 2, stop: null });
  now = 150_000_000n;
  const second = call.failed(new Error('down again'));
  assert.equal(second.next, 'stop');
  assert.equal(second.stop, 'deadline', '150 ms + 100 ms reaches the deadline at 250 ms');
  assert.equal(second.error.message, 'down again');
  now = 300_000_000n;
  assert.equal(retry.start({ deadline: new s.Deadline({ at: 250_000_000n, clock }) }).stop, 'deadline');
});

test('retry: a deadline given in ns is read against a clock in ms', () => {
  let now = 1_000;
  const clock = () => now;
  const retry = new Retry({ backoff: { schedule: 'constant', delay: 10 }, clock });
  // The deadline is exact ns (2 s); the retry's clock reads 1 000 ms: the call may start.
  const call = retry.start({ deadline: new s.Deadline({ at: 2_000_000_000n, clock }) });
  assert.equal(call.stop, null);
  now = 1_995;
  assert.equal(call.failed(new Error('down')).stop, 'deadline', '1 995 ms + 10 ms passes the deadline at 2 000 ms');
  now = 2_000;
  assert.equal(retry.start({ deadline: new s.Deadline({ at: 2_000_000_000n, clock }) }).stop, 'deadline');
});
