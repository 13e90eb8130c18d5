'use strict';
// The addon loads in several threads at once; each thread's instances are its own.
const test = require('node:test');
const assert = require('node:assert/strict');
const { Worker } = require('node:worker_threads');
const path = require('node:path');
const { CircuitBreaker } = require('..');

const body = `
const { parentPort, workerData } = require('node:worker_threads');
const { CircuitBreaker, RateLimiter, Bulkhead, KeyedRateLimiter, AdaptiveLimiter } = require(workerData.entry);
(async () => {
  const breaker = new CircuitBreaker({ consecutiveFailures: 3 });
  let ok = 0;
  for (let i = 0; i < 2000; i++) ok += await breaker.execute(() => 1);
  for (let i = 0; i < 3; i++) await breaker.execute(() => { throw new Error('x'); }).catch(() => {});
  const limiter = new RateLimiter({ capacity: 100, refillEvery: 60000 });
  let admitted = 0;
  for (let i = 0; i < 150; i++) if (limiter.tryAcquire().ok) admitted++;
  const keyed = new KeyedRateLimiter({ capacity: 1, maxKeys: 65536 });
  const bulkhead = new Bulkhead({ maxConcurrent: 2, maxWaiting: 10 });
  await Promise.all(Array.from({ length: 10 }, () => bulkhead.execute(async () => 1)));
  // Many calls at once through an adaptive limiter of this thread: never more running than its
  // limit at admission allowed, none left at the end.
  const adaptive = new AdaptiveLimiter({ initialLimit: 4, maxLimit: 8, minSamples: 1, window: 0, maxWaiting: 1000 });
  let highest = adaptive.limit;
  adaptive.on('limitChange', ({ to }) => (highest = Math.max(highest, to)));
  let running = 0;
  let over = 0;
  await Promise.allSettled(Array.from({ length: 1000 }, (_, i) => adaptive.execute(async () => {
    if (++running > highest) over++;
    await null;
    running--;
    if (i % 5 === 0) throw Object.assign(new Error('slow'), { name: 'TimeoutError' });
  })));
  const a = adaptive.snapshot();
  parentPort.postMessage({ ok, state: breaker.state, admitted, key: keyed.tryAcquire('k').ok, inFlight: bulkhead.snapshot().inFlight, adaptive: { over, inFlight: a.inFlight, waiting: a.waiting, peakWithin: a.peak <= highest, windows: a.windows } });
})();
`;

test('workers each get working, independent instances', async () => {
  const entry = path.join(__dirname, '..');
  const runs = Array.from({ length: 4 }, () => new Promise((resolve, reject) => {
    const worker = new Worker(body, { eval: true, workerData: { entry } });
    worker.once('message', resolve);
    worker.once('error', reject);
  }));
  const main = new CircuitBreaker();
  assert.equal(await main.execute(() => 'main'), 'main');
  for (const result of await Promise.all(runs)) {
    assert.deepEqual(result, { ok: 2000, state: 'open', admitted: 100, key: true, inFlight: 0, adaptive: { over: 0, inFlight: 0, waiting: 0, peakWithin: true, windows: 1000 } });
  }
  assert.equal(main.state, 'closed');
});

test('a second copy of the JS layer in one thread shares the register file', async () => {
  const entry = require.resolve('..');
  const first = new CircuitBreaker({ consecutiveFailures: 1 });
  for (const key of Object.keys(require.cache)) if (key.includes(`${path.sep}lib${path.sep}`)) delete require.cache[key];
  const again = require(entry);
  assert.notEqual(again.CircuitBreaker, CircuitBreaker, 'a fresh copy of the JS layer');
  const second = new again.CircuitBreaker({ consecutiveFailures: 1 });
  await assert.rejects(first.execute(() => Promise.reject(new Error('x'))));
  assert.equal(first.state, 'open');
  assert.equal(second.state, 'closed');
  assert.equal(await second.execute(() => 'fine'), 'fine');
  assert.equal(first.tryAcquire().reason, 'breaker_open');
});
