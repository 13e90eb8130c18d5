'use strict';
// Defaults and ranges are the core's: the addon reports the core's own values (`coreDefaults`,
// read from the core's config constructors and constants), and each is checked here against
// what this package does when an option is left out, and against the range it accepts.
const test = require('node:test');
const assert = require('node:assert/strict');
const s = require('..');
const { coreDefaults, keyedSizes, bulkheadTables } = require('../lib/native');

const core = coreDefaults();
const ms = (ns) => Number(ns) / 1e6;

test('the bulkhead: maxWaiting left out is the core default, bounded by the waiter table; its range is the core\'s', async () => {
  // The core's config sets no limit of its own (u32::MAX): as many as the waiter table holds.
  assert.equal(core.bulkheadMaxWaiting, 2 ** 32 - 1);
  const tables = bulkheadTables();
  assert.equal(tables.sizes.at(-1), core.bulkheadMaxWaiters, "the largest table is the core's MAX_WAITERS");
  // The core's default Bulkhead type has no waiter table at all; the binding's default table
  // is its own choice (stated in src/bulkhead.rs), and the default limit is the core's within it.
  assert.equal(core.bulkheadDefaultWaiting, 0);
  const capacity = Math.min(core.bulkheadMaxWaiting, tables.defaultTable);
  const bulkhead = new s.Bulkhead({ maxConcurrent: 1 });
  const held = bulkhead.tryAcquire();
  const waiters = Array.from({ length: capacity }, () => bulkhead.acquire());
  await assert.rejects(bulkhead.acquire(), { code: 'ERR_BULKHEAD_QUEUE_FULL' });
  assert.equal(bulkhead.snapshot().waiting, capacity);
  held.release();
  for (const waiter of waiters) (await waiter).release();

  // Every value from 0 to MAX_WAITERS, and no other.
  for (const maxWaiting of [0, 1, 16, 17, 1024, 4097, core.bulkheadMaxWaiters]) new s.Bulkhead({ maxConcurrent: 1, maxWaiting });
  assert.throws(() => new s.Bulkhead({ maxConcurrent: 1, maxWaiting: core.bulkheadMaxWaiters + 1 }), { name: 'RangeError', message: new RegExp(`from 0 to ${core.bulkheadMaxWaiters},`) });
  const full = new s.Bulkhead({ maxConcurrent: 1, maxWaiting: 17 });
  full.tryAcquire();
  const controller = new AbortController();
  const queued = Array.from({ length: 17 }, () => full.acquire({ signal: controller.signal }).catch(() => {}));
  await assert.rejects(full.acquire(), { code: 'ERR_BULKHEAD_QUEUE_FULL' }, 'maxWaiting is exact, not the table size (256)');
  assert.equal(full.snapshot().waiting, 17);
  controller.abort();
  await Promise.all(queued);

  // maxConcurrent and lanes: the core's limits.
  new s.Bulkhead({ maxConcurrent: core.bulkheadMaxConcurrent, maxWaiting: 0 });
  assert.throws(() => new s.Bulkhead({ maxConcurrent: core.bulkheadMaxConcurrent + 1 }), { name: 'RangeError', message: new RegExp(`to ${core.bulkheadMaxConcurrent},`) });
  const lanes = Array.from({ length: core.bulkheadMaxLanes }, () => 2);
  new s.Bulkhead({ maxConcurrent: 2, lanes });
  assert.throws(() => new s.Bulkhead({ maxConcurrent: 2, lanes: [...lanes, 2] }), { name: 'RangeError', option: 'lanes' });
});

test('the keyed limiter: every size the core lets every key use is offered exactly', () => {
  const sizes = keyedSizes();
  assert.equal(core.keyedMaxProbe, 8);
  for (let slots = 1; slots <= core.keyedMaxProbe; slots++) {
    assert.ok(sizes.includes(slots), `size ${slots}`);
    // A table of exactly `slots`: that many keys fit, the next one finds it full.
    let now = 0;
    const limiter = new s.KeyedRateLimiter({ capacity: 1, refillEvery: 1000, maxKeys: slots, clock: () => now });
    assert.equal(limiter.maxKeys, slots);
    for (let key = 0; key < slots; key++) assert.equal(limiter.tryAcquire(key).ok, true, `key ${key} of ${slots}`);
    assert.equal(limiter.tryAcquire(slots).reason, 'table_full', `a table of ${slots} holds ${slots} keys`);
    now = 1000;
  }
  for (const size of sizes) assert.equal(new s.KeyedRateLimiter({ capacity: 1, maxKeys: size }).maxKeys, size);
  assert.throws(() => new s.KeyedRateLimiter({ capacity: 1, maxKeys: 17 }), { name: 'RangeError', option: 'maxKeys' });
  assert.equal(new s.KeyedRateLimiter({ capacity: 1 }).maxKeys, 1024, "the binding's default (the core has none)");
});

test('the breaker, backoff, budget and token bucket left to their defaults are the core\'s', async () => {
  let now = 0;
  const clock = () => now;
  // BreakerConfig::new(): failure_count failures in the window trip it, open for open_for, then
  // half_open_probes probes.
  const breaker = new s.CircuitBreaker({ clock });
  for (let i = 0; i < core.breakerFailureCount; i++) {
    assert.equal(breaker.state, 'closed');
    breaker.tryAcquire().record('failure');
  }
  assert.equal(breaker.state, 'open');
  assert.equal(breaker.snapshot().openUntil, ms(core.breakerOpenFor));
  assert.equal(core.breakerHalfOpenProbes, 1);
  now = ms(core.breakerOpenFor);
  assert.equal(breaker.tryAcquire().ok, true);
  assert.equal(breaker.tryAcquire().reason, 'half_open_full');

  // BackoffConfig: max_attempts.
  assert.equal(new s.Backoff({ schedule: 'constant', delay: 1 }).delays(0).length, core.backoffMaxAttempts - 1);

  // RetryBudgetConfig::new(ratio): the floor and the balance's cap.
  const budget = new s.RetryBudget({ ratio: 1000, clock });
  assert.equal(budget.snapshot().floorTokens, core.budgetMinRetriesPerSec);
  budget.deposit();
  assert.equal(budget.snapshot().balance, core.budgetMaxBalance * 1e6);

  // TokenBucketConfig::new(capacity): refill_amount tokens every refill_every.
  const bucket = new s.RateLimiter({ capacity: 1, clock });
  assert.equal(bucket.tryAcquire().ok, true);
  assert.equal(bucket.tryAcquire().retryAfter, ms(core.bucketRefillEvery) / core.bucketRefillAmount);
});

test('the stop reasons are named as the core names them', () => {
  const { retryStopReasons } = require('../lib/native');
  assert.deepEqual(retryStopReasons(), ['not_retryable', 'max_attempts', 'max_elapsed', 'deadline', 'budget_exhausted', 'refused']);
});

test('the adaptive limiter: options left out are the core defaults, its ranges the core\'s', async () => {
  const l = new s.AdaptiveLimiter();
  assert.equal(l.limit, core.adaptiveInitialLimit);
  assert.deepEqual(l.snapshot(), { limit: core.adaptiveInitialLimit, inFlight: 0, waiting: 0, peak: 0, rejected: 0, baseline: null, lastUpdate: null, windows: 0 });
  // min_samples: a window closes on the core's count of samples, not before.
  let now = 0;
  const counted = new s.AdaptiveLimiter({ window: 0, clock: () => now });
  for (let i = 1; i < core.adaptiveMinSamples; i++) counted.tryAcquire().record('success');
  assert.equal(counted.snapshot().windows, 0);
  counted.tryAcquire().record('success');
  assert.equal(counted.snapshot().windows, 1);
  // window: a window closes once the core's default length has passed, not before.
  const timed = new s.AdaptiveLimiter({ minSamples: 1, clock: () => now });
  timed.tryAcquire().record('success');
  now = ms(core.adaptiveWindow) - 1e-6;
  timed.tryAcquire().record('success');
  assert.equal(timed.snapshot().windows, 0);
  now = ms(core.adaptiveWindow);
  timed.tryAcquire().record('success');
  assert.equal(timed.snapshot().windows, 1);
  // The limits' ranges, at their edges.
  new s.AdaptiveLimiter({ minLimit: 1, initialLimit: core.adaptiveLimitCap, maxLimit: core.adaptiveLimitCap });
  assert.throws(() => new s.AdaptiveLimiter({ maxLimit: core.adaptiveLimitCap + 1 }), { name: 'RangeError', option: 'maxLimit' });
  assert.throws(() => new s.AdaptiveLimiter({ initialLimit: core.adaptiveMaxLimit + 1 }), { name: 'RangeError', option: 'initialLimit' });
  assert.throws(() => new s.AdaptiveLimiter({ initialLimit: core.adaptiveMinLimit - 1 }), { name: 'RangeError', option: 'initialLimit' });
  // maxWaiting left out: as many as the bulkhead's default waiter table holds.
  const one = new s.AdaptiveLimiter({ initialLimit: 1 });
  const held = one.tryAcquire();
  const controller = new AbortController();
  const waiters = Array.from({ length: bulkheadTables().defaultTable }, () => one.acquire({ signal: controller.signal }).catch(() => {}));
  await assert.rejects(one.acquire(), { code: 'ERR_BULKHEAD_QUEUE_FULL' });
  controller.abort();
  await Promise.all(waiters);
  held.release();
  assert.deepEqual([one.snapshot().inFlight, one.snapshot().waiting], [0, 0]);
});
