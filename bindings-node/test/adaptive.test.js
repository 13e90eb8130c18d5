'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { AdaptiveLimiter, AdaptivePermit, BulkheadFullError, TimeoutError } = require('..');
const { settle } = require('./fake-time');

/** A clock the test sets, in ms. */
function manual(start = 1000) {
  const time = { now: start };
  time.clock = () => time.now;
  return time;
}

/** Every report closes a window of its own: each outcome shows at once in `windows` and `limit`. */
function limiter(options = {}) {
  const time = manual();
  const changes = [];
  const l = new AdaptiveLimiter({ minSamples: 1, window: 0, clock: time.clock, ...options });
  l.on('limitChange', (change) => changes.push(change));
  return { l, time, changes };
}

test('admits up to the limit and refuses past it, without throwing from tryAcquire', () => {
  const { l } = limiter({ initialLimit: 2 });
  const refusals = [];
  l.on('reject', (refusal) => refusals.push(refusal));
  const a = l.tryAcquire();
  const b = l.tryAcquire();
  assert.ok(a instanceof AdaptivePermit && b instanceof AdaptivePermit);
  assert.deepEqual([a.inFlight, b.inFlight], [1, 2], 'the calls in flight at admission, itself included');
  const refused = l.tryAcquire();
  assert.deepEqual(refused, { ok: false, reason: 'bulkhead_full', code: 'ERR_BULKHEAD_FULL', retryAfter: null });
  assert.deepEqual(refusals, [refused]);
  assert.equal(a.release(), true);
  assert.equal(l.tryAcquire().ok, true, 'a permit given back makes room');
  assert.deepEqual(l.snapshot(), { limit: 2, inFlight: 2, waiting: 0, peak: 2, rejected: 1, baseline: null, lastUpdate: null, windows: 0 });
});

test('without a queue, execute rejects at once with a BulkheadFullError', async () => {
  const { l } = limiter({ initialLimit: 1, maxWaiting: 0 });
  let finish;
  const running = l.execute(() => new Promise((resolve) => (finish = resolve)));
  const refused = await l.execute(() => 'no').catch((e) => e);
  assert.ok(refused instanceof BulkheadFullError);
  assert.equal(refused.code, 'ERR_BULKHEAD_QUEUE_FULL', 'the core\'s acquire: no room to wait');
  finish('done');
  assert.equal(await running, 'done');
  assert.equal(l.snapshot().inFlight, 0);
});

test('waiters are served first in, first out; a full queue refuses; no newcomer takes a waiter\'s permit', async () => {
  const { l } = limiter({ initialLimit: 1, maxWaiting: 2 });
  const held = l.tryAcquire();
  const order = [];
  const first = l.acquire().then((p) => (order.push('first'), p));
  const second = l.acquire().then((p) => (order.push('second'), p));
  await assert.rejects(l.acquire(), { code: 'ERR_BULKHEAD_QUEUE_FULL' });
  assert.equal(l.snapshot().waiting, 2);
  held.release();
  const p1 = await first;
  assert.deepEqual(order, ['first']);
  assert.equal(l.tryAcquire().ok, false);
  p1.release();
  (await second).release();
  assert.deepEqual(order, ['first', 'second']);
  assert.deepEqual(l.snapshot(), { limit: 1, inFlight: 0, waiting: 0, peak: 1, rejected: 2, baseline: null, lastUpdate: null, windows: 0 });
});

test('a queued permit\'s latency runs from when it was granted, not from when it queued', async () => {
  // AIMD counts a window whose mean latency is above its timeout (20 ms here) as a drop.
  const { l, time, changes } = limiter({ initialLimit: 1, maxLimit: 5, algorithm: { name: 'aimd', timeout: 20 } });
  const held = l.tryAcquire();
  const queued = l.execute(async () => {
    time.now += 10;
    return 'served';
  });
  time.now += 500;
  held.release(); // no sample: the queued call is granted now
  assert.equal(await queued, 'served');
  assert.deepEqual(changes, [{ from: 1, to: 2 }], '10 ms from the grant: a sample under the timeout, so +1');
});

test('an aborted wait leaves the queue clean and the next waiter is served', async () => {
  const { l } = limiter({ initialLimit: 1, maxWaiting: 4 });
  const held = l.tryAcquire();
  const controller = new AbortController();
  let called = false;
  const aborted = l.execute(() => (called = true), { signal: controller.signal });
  const next = l.acquire();
  assert.equal(l.snapshot().waiting, 2);
  controller.abort(new Error('gave up'));
  await assert.rejects(aborted, /gave up/);
  assert.equal(l.snapshot().waiting, 1);
  held.release();
  const permit = await next;
  assert.equal(permit.inFlight, 1);
  permit.release();
  assert.equal(called, false);
  assert.deepEqual(l.snapshot(), { limit: 1, inFlight: 0, waiting: 0, peak: 1, rejected: 0, baseline: null, lastUpdate: null, windows: 0 });
  await assert.rejects(l.execute(() => 1, { signal: AbortSignal.abort() }), { name: 'AbortError' });
});

test('how execute ended is its outcome: resolved and rejected are samples, a timeout is a drop', async () => {
  // One call in flight of 2: AIMD adds 1 after a sample (1 × 2 is not below 2) and cuts to
  // ⌊L × 0.9⌋ after a drop. L returns to 2 after each case by a drop from 3 (⌊2.7⌋).
  const { l, changes } = limiter({ initialLimit: 2 });
  const cases = [
    [() => 'value', { from: 2, to: 3 }],
    [() => Promise.reject(new Error('500')), { from: 2, to: 3 }],
    [() => {
      throw new Error('sync');
    }, { from: 2, to: 3 }],
    [() => Promise.reject(new TimeoutError(50)), { from: 2, to: 1 }],
    [() => Promise.reject(AbortSignal.timeout(0).reason ?? Object.assign(new Error('t'), { name: 'TimeoutError' })), { from: 2, to: 1 }],
    [() => Promise.reject(Object.assign(new Error('aborted'), { name: 'AbortError', cause: new TimeoutError(5) })), { from: 2, to: 1 }],
  ];
  for (const [fn, change] of cases) {
    changes.length = 0;
    await l.execute(fn).catch(() => {});
    assert.deepEqual(changes, [change], fn.toString());
    // Back to 2: one drop from 3, or one sample from 1.
    const permit = l.tryAcquire();
    permit.record(change.to === 3 ? 'dropped' : 'success');
    assert.equal(l.limit, 2);
  }
  assert.equal(l.snapshot().windows, 12);
});

test('the caller\'s abort of a running call gives its permit back when it settles, with no sample', async () => {
  const { l, changes } = limiter({ initialLimit: 1, maxWaiting: 0 });
  const controller = new AbortController();
  let finish;
  let seen;
  const running = l.execute((signal) => {
    seen = signal;
    return new Promise((resolve) => (finish = resolve));
  }, { signal: controller.signal });
  assert.equal(seen, controller.signal, 'the function gets the signal');
  controller.abort();
  await assert.rejects(running, { name: 'AbortError' });
  assert.equal(l.snapshot().inFlight, 1, 'the function still runs, so its permit is held');
  await assert.rejects(l.execute(() => 'second'), BulkheadFullError);
  finish();
  await settle();
  assert.deepEqual(l.snapshot(), { limit: 1, inFlight: 0, waiting: 0, peak: 1, rejected: 1, baseline: null, lastUpdate: null, windows: 0 });
  assert.deepEqual(changes, []);
});

test('dropOn reports a downstream overload refusal as a drop; other errors stay samples', async () => {
  const overloaded = (status) => Object.assign(new Error(`HTTP ${status}`), { status });
  const { l, changes } = limiter({ initialLimit: 10, dropOn: (error) => error.status === 503 || error.status === 429 });
  await l.execute(() => Promise.reject(overloaded(503))).catch(() => {});
  assert.deepEqual(changes, [{ from: 10, to: 9 }]);
  await l.execute(() => Promise.reject(overloaded(500))).catch(() => {});
  assert.deepEqual(changes, [{ from: 10, to: 9 }], 'a 500 is a latency sample (application-limited here: no change)');
  // dropOn replaces the default: a timeout is a sample now.
  await l.execute(() => Promise.reject(new TimeoutError(5))).catch(() => {});
  assert.equal(l.snapshot().windows, 3);
  assert.equal(l.limit, 9);
  // A dropOn that throws still gives the permit back.
  const broken = limiter({ dropOn: () => {
    throw new Error('classifier bug');
  } }).l;
  await assert.rejects(broken.execute(() => Promise.reject(new Error('x'))), /classifier bug/);
  assert.equal(broken.snapshot().inFlight, 0);
});

test('limitChange carries from and to, as record returns it; a second report does nothing', () => {
  const { l, changes } = limiter({ initialLimit: 4 });
  const a = l.tryAcquire();
  const b = l.tryAcquire();
  assert.deepEqual(a.record('dropped'), { from: 4, to: 3 });
  assert.equal(a.record('dropped'), null, 'already reported');
  assert.equal(a.release(), false);
  assert.equal(a.inFlight, null);
  assert.equal(b.release(), true);
  assert.equal(b.record('success'), null, 'released: nothing to report');
  assert.deepEqual(changes, [{ from: 4, to: 3 }]);
  assert.deepEqual(l.snapshot(), { limit: 3, inFlight: 0, waiting: 0, peak: 2, rejected: 0, baseline: null, lastUpdate: 1000, windows: 1 });
});

test('a raised limit hands the room to a queued waiter at once', async () => {
  const { l } = limiter({ initialLimit: 1, maxLimit: 3 });
  const a = l.tryAcquire();
  const waiting = l.acquire();
  assert.equal(l.snapshot().waiting, 1);
  // One sample with 1 in flight of 1: +1, and the room goes to the waiter.
  assert.deepEqual(a.record('success'), { from: 1, to: 2 });
  const b = await waiting;
  assert.equal(b.inFlight, 1);
  const c = l.tryAcquire();
  assert.equal(c.inFlight, 2);
  b.release();
  c.release();
});

test('a throwing limitChange listener loses no permit and leaves the limiter working', async () => {
  const { l } = limiter({ initialLimit: 4, maxWaiting: 4 });
  l.on('limitChange', () => {
    throw new Error('listener bug');
  });
  const held = l.tryAcquire();
  const queued = [l.tryAcquire(), l.tryAcquire(), l.tryAcquire()];
  const waiter = l.acquire();
  assert.throws(() => held.record('dropped'), /listener bug/);
  assert.equal(l.limit, 3, 'the report was made');
  assert.equal(held.record('success'), null, 'and it was the permit\'s one report');
  for (const p of queued) p.release();
  (await waiter).release();
  assert.equal(l.snapshot().inFlight, 0);
  // From execute, the listener's error rejects the call, and the permit is back all the same.
  await assert.rejects(l.execute(() => Promise.reject(new TimeoutError(1))), /listener bug/);
  assert.deepEqual([l.limit, l.snapshot().inFlight], [2, 0]);
  l.removeAllListeners('limitChange');
  assert.equal(await l.execute(() => 'still works'), 'still works');
});

test('bad options name the option and the core\'s range; a bad argument leaves the permit usable', () => {
  assert.throws(() => new AdaptiveLimiter({ initialLimit: 0 }), { name: 'RangeError', message: /^option `initialLimit` must be an integer from `minLimit` \(1\) to `maxLimit` \(1000\), got 0$/ });
  assert.throws(() => new AdaptiveLimiter({ algorithm: { name: 'gradient2', smoothing: 1.5 } }), { name: 'RangeError', option: 'algorithm.smoothing', message: /must be a number in \(0, 1\], got 1.5$/ });
  assert.throws(() => new AdaptiveLimiter({ maxWaiting: 65536 }), { name: 'RangeError', message: /`maxWaiting` must be an integer from 0 to 65535/ });
  assert.throws(() => new AdaptiveLimiter({ dropOn: true }), { name: 'TypeError', message: /`dropOn` must be a function/ });
  const l = new AdaptiveLimiter({ initialLimit: 1 });
  const permit = l.tryAcquire();
  assert.throws(() => permit.record('timeout'), { name: 'TypeError', message: /`outcome` must be 'success', 'failure', 'ignored' or 'dropped', got "timeout"/ });
  assert.equal(l.snapshot().inFlight, 1, 'the permit is still held');
  assert.equal(permit.record('success'), null);
  assert.equal(l.snapshot().inFlight, 0);
  assert.throws(() => l.execute(() => 1, { lane: 1 }), { name: 'TypeError', message: /unknown option `lane`/ });
});

test('the algorithm and its parameters reach the core; times come back in the instance\'s unit', () => {
  let now = 5_000_000_000n;
  const vegas = new AdaptiveLimiter({ algorithm: { name: 'vegas', alpha: 2 }, initialLimit: 10, minSamples: 1, window: 0n, clock: () => now, unit: 'ns' });
  const permit = vegas.tryAcquire();
  now += 7_000_000n;
  permit.record('success');
  assert.deepEqual(vegas.snapshot(), { limit: 10, inFlight: 0, waiting: 0, peak: 1, rejected: 0, baseline: 7_000_000n, lastUpdate: 5_007_000_000n, windows: 1 });
  // The same in ms, from a number clock.
  const time = manual(2);
  const ms = new AdaptiveLimiter({ algorithm: 'gradient2', minSamples: 1, window: 0, clock: time.clock });
  const p = ms.tryAcquire();
  time.now = 2.5;
  p.record('failure');
  assert.deepEqual([ms.snapshot().baseline, ms.snapshot().lastUpdate], [0.5, 2.5]);
  // Windows of several samples: nothing closes before min_samples and the window's length.
  const slow = limiter({ minSamples: 2, window: 100 });
  slow.l.tryAcquire().record('dropped');
  slow.time.now += 100;
  assert.deepEqual(slow.l.tryAcquire().record('success'), { from: 20, to: 18 });
});

test('many concurrent calls never run more than the limit allowed, and end with none in flight', async () => {
  const { l, time, changes } = limiter({ initialLimit: 8, minLimit: 2, maxLimit: 16, maxWaiting: 4096 });
  let running = 0;
  let mostRunning = 0;
  let highestLimit = l.limit;
  l.on('limitChange', ({ to }) => (highestLimit = Math.max(highestLimit, to)));
  const calls = Array.from({ length: 2000 }, (_, i) => l.execute(async () => {
    running++;
    mostRunning = Math.max(mostRunning, running);
    // Every permit out has its call running or about to: the JS count never passes the core's.
    assert.ok(running <= l.snapshot().inFlight, `${running} running, ${l.snapshot().inFlight} permits out`);
    for (let k = i % 3; k > 0; k--) await null;
    time.now += 1;
    running--;
    if (i % 7 === 0) throw new TimeoutError(1);
    return i;
  }));
  const settled = await Promise.allSettled(calls);
  assert.equal(settled.filter((r) => r.status === 'fulfilled').length, 2000 - Math.ceil(2000 / 7));
  assert.ok(changes.some((c) => c.to < c.from) && changes.some((c) => c.to > c.from), 'the limit went down and up');
  const snapshot = l.snapshot();
  assert.ok(snapshot.peak <= highestLimit, `peak ${snapshot.peak} above the highest limit ${highestLimit}`);
  assert.ok(mostRunning <= highestLimit);
  assert.deepEqual([snapshot.inFlight, snapshot.waiting, snapshot.rejected, running], [0, 0, 0, 0]);
  assert.equal(snapshot.windows, 2000);
});
