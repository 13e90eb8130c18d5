'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { Bulkhead, BulkheadFullError } = require('..');
const { settle } = require('./fake-time');

test('caps concurrent calls; tryAcquire returns a refusal instead of throwing', () => {
  const bulkhead = new Bulkhead({ maxConcurrent: 2 });
  const a = bulkhead.tryAcquire();
  const b = bulkhead.tryAcquire();
  assert.equal(a.ok && b.ok, true);
  assert.deepEqual(bulkhead.tryAcquire(), { ok: false, reason: 'bulkhead_full', code: 'ERR_BULKHEAD_FULL', retryAfter: null });
  assert.equal(a.release(), true);
  assert.equal(a.release(), false, 'a second release is a no-op');
  assert.deepEqual(bulkhead.snapshot(), { inFlight: 1, peak: 2, waiting: 0, rejected: 1, maxConcurrent: 2 });
  b.release();
});

test('without a queue, execute rejects at once when full', async () => {
  const bulkhead = new Bulkhead({ maxConcurrent: 1, maxWaiting: 0 });
  let release;
  const running = bulkhead.execute(() => new Promise((resolve) => (release = resolve)));
  const refused = await bulkhead.execute(() => 'no').catch((e) => e);
  assert.ok(refused instanceof BulkheadFullError);
  release('done');
  assert.equal(await running, 'done');
  assert.equal(bulkhead.snapshot().inFlight, 0);
});

test('waiters queue in order and each release hands the permit over', async () => {
  const bulkhead = new Bulkhead({ maxConcurrent: 1, maxWaiting: 2 });
  const held = bulkhead.tryAcquire();
  const order = [];
  const first = bulkhead.acquire().then((p) => (order.push('first'), p));
  const second = bulkhead.acquire().then((p) => (order.push('second'), p));
  await assert.rejects(bulkhead.acquire(), { code: 'ERR_BULKHEAD_QUEUE_FULL' });
  assert.equal(bulkhead.snapshot().waiting, 2);
  held.release();
  const p1 = await first;
  assert.deepEqual(order, ['first']);
  assert.equal(bulkhead.tryAcquire().ok, false, 'no newcomer takes a permit from a waiter');
  p1.release();
  (await second).release();
  assert.deepEqual(order, ['first', 'second']);
  assert.deepEqual(bulkhead.snapshot(), { inFlight: 0, peak: 1, waiting: 0, rejected: 2, maxConcurrent: 1 });
});

test('lanes keep room for higher priority', () => {
  const bulkhead = new Bulkhead({ maxConcurrent: 2, lanes: [2, 1] });
  const low = bulkhead.tryAcquire(1);
  assert.equal(low.lane, 1);
  assert.equal(bulkhead.tryAcquire(1).ok, false);
  const high = bulkhead.tryAcquire(0);
  assert.equal(high.lane, 0);
  low.release();
  high.release();
});

test('an aborted wait leaves the queue clean and passes nothing to the wrong caller', async () => {
  const bulkhead = new Bulkhead({ maxConcurrent: 1, maxWaiting: 4 });
  const held = bulkhead.tryAcquire();
  const controller = new AbortController();
  const aborted = bulkhead.acquire({ signal: controller.signal });
  const next = bulkhead.acquire();
  controller.abort(new Error('gave up'));
  await assert.rejects(aborted, /gave up/);
  assert.equal(bulkhead.snapshot().waiting, 1);
  held.release();
  (await next).release();
  assert.equal(bulkhead.snapshot().inFlight, 0);
});

test('aborting a running execute rejects at once, and its permit is held until the function settles', async () => {
  const bulkhead = new Bulkhead({ maxConcurrent: 1, maxWaiting: 0 });
  const controller = new AbortController();
  let finish;
  let running = 0;
  const first = bulkhead.execute(async () => {
    running++;
    // This function ignores the abort and goes on.
    await new Promise((resolve) => (finish = resolve));
    running--;
  }, { signal: controller.signal });
  await settle();
  assert.equal(bulkhead.snapshot().inFlight, 1);
  controller.abort();
  await assert.rejects(first, { name: 'AbortError' });
  assert.equal(running, 1, 'the function still runs');
  assert.equal(bulkhead.snapshot().inFlight, 1, 'so its slot is still taken');
  await assert.rejects(bulkhead.execute(() => 'second'), BulkheadFullError);
  finish();
  await settle();
  assert.equal(running, 0);
  assert.equal(bulkhead.snapshot().inFlight, 0, 'released once it settled');
  assert.equal(await bulkhead.execute(() => 'third'), 'third');
});

test('by default callers wait in the queue, as many as its table holds (the core default)', async () => {
  const bulkhead = new Bulkhead({ maxConcurrent: 1 });
  const held = bulkhead.tryAcquire();
  const waiters = Array.from({ length: 1024 }, () => bulkhead.acquire());
  await assert.rejects(bulkhead.acquire(), { code: 'ERR_BULKHEAD_QUEUE_FULL' });
  assert.equal(bulkhead.snapshot().waiting, 1024);
  held.release();
  for (const waiter of waiters) (await waiter).release();
  assert.deepEqual(bulkhead.snapshot(), { inFlight: 0, peak: 1, waiting: 0, rejected: 1, maxConcurrent: 1 });
});

test('invalid bulkhead options name the option', () => {
  assert.throws(() => new Bulkhead({ maxConcurrent: 0 }), { name: 'RangeError', message: /`maxConcurrent`/ });
  assert.throws(() => new Bulkhead({ maxConcurrent: 1, maxWaiting: 65536 }), { name: 'RangeError', message: /`maxWaiting` must be an integer from 0 to 65535/ });
  assert.throws(() => new Bulkhead({ maxConcurrent: 2, lanes: [1, 2] }), { name: 'RangeError', message: /`lanes`/ });
  assert.throws(() => new Bulkhead({ maxConcurrent: 2, lanes: 'x' }), { name: 'TypeError', message: /`lanes`/ });
  assert.throws(() => new Bulkhead({ maxConcurrent: 1 }).tryAcquire(-1), { name: 'RangeError', message: /`lane`/ });
});
