'use strict';
// Thousands of concurrent promises through the guards: every permit and probe slot comes back,
// and no more calls run at once than the cap allows, whatever aborts, times out or throws.
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { Worker } = require('node:worker_threads');
const { Bulkhead, CircuitBreaker, Policy } = require('..');
const { stress } = require('./stress-run');
const { runScript } = require('./scripts');

const entry = path.join(__dirname, '..');

const CALLS = 5000;

test('thousands of concurrent calls through a queued bulkhead end with zero permits held', async () => {
  const bulkhead = new Bulkhead({ maxConcurrent: 16, maxWaiting: 4096 });
  let running = 0;
  let most = 0;
  const call = async (i) => {
    running++;
    most = Math.max(most, running);
    await new Promise((resolve) => setImmediate(resolve));
    running--;
    if (i % 7 === 0) throw new Error('odd failure');
    return i;
  };
  const results = await Promise.allSettled(Array.from({ length: CALLS }, (_, i) => bulkhead.execute(() => call(i))));
  const refused = results.filter((r) => r.status === 'rejected' && r.reason.code === 'ERR_BULKHEAD_QUEUE_FULL').length;
  const failed = results.filter((r) => r.status === 'rejected' && r.reason.message === 'odd failure').length;
  const fulfilled = results.filter((r) => r.status === 'fulfilled').length;
  assert.equal(fulfilled + failed + refused, CALLS);
  assert.equal(refused, CALLS - 16 - 4096, 'only calls past the cap and the queue are refused');
  assert.ok(most <= 16, `at most 16 ran at once, saw ${most}`);
  assert.deepEqual(bulkhead.snapshot(), { inFlight: 0, peak: 16, waiting: 0, rejected: refused, maxConcurrent: 16 });
});

test('thousands of aborted waiters leave the queue empty and the permits free', async () => {
  const bulkhead = new Bulkhead({ maxConcurrent: 4, maxWaiting: 4096 });
  // A count no abort can reach: aborted calls must leave the breaker untouched.
  const breaker = new CircuitBreaker({ failureCount: 1_000_000 });
  const policy = new Policy({ bulkhead, breaker });
  const controllers = Array.from({ length: 4000 }, () => new AbortController());
  // Each call stops when its signal aborts (a permit is held until its call settles).
  const stopsOnAbort = (signal) => new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
  const calls = controllers.map((c) => policy.execute(stopsOnAbort, { signal: c.signal }));
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(bulkhead.snapshot().inFlight, 4);
  assert.equal(bulkhead.snapshot().waiting, 3996);
  // Abort in a scrambled order, so waiters and holders leave interleaved.
  for (let i = 0; i < controllers.length; i++) controllers[(i * 7919) % controllers.length].abort();
  const results = await Promise.allSettled(calls);
  assert.ok(results.every((r) => r.status === 'rejected' && r.reason.name === 'AbortError'));
  assert.deepEqual(bulkhead.snapshot(), { inFlight: 0, peak: 4, waiting: 0, rejected: 0, maxConcurrent: 4 });
  assert.equal(breaker.snapshot().probesInFlight, 0);
  assert.equal(breaker.snapshot().calls, 0);
});

test('a half-open breaker under a stampede admits one probe and frees it', async () => {
  let now = 0;
  const breaker = new CircuitBreaker({ failureCount: 1, openFor: 10, clock: () => now });
  await assert.rejects(breaker.execute(() => Promise.reject(new Error('down'))));
  now = 10;
  let release;
  const gate = new Promise((resolve) => (release = resolve));
  const results = Promise.allSettled(Array.from({ length: 3000 }, () => breaker.execute(() => gate)));
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(breaker.snapshot().probesInFlight, 1);
  release('up');
  const settled = await results;
  assert.equal(settled.filter((r) => r.status === 'fulfilled').length, 1);
  assert.equal(settled.filter((r) => r.reason?.code === 'ERR_CIRCUIT_HALF_OPEN_FULL').length, 2999);
  assert.equal(breaker.state, 'closed');
  assert.equal(breaker.snapshot().probesInFlight, 0);
});

// test/stress-run.js: random aborts (while waiting and while running), timeouts, exceptions,
// functions that ignore their signal, permits held by hand; in-flight work sampled at every
// start and every millisecond, never above the cap; everything released at the end.
test('random aborts, timeouts and exceptions never run more calls than the cap, and release everything', async () => {
  for (const seed of [1, 2, 3]) {
    const counts = await stress({ entry, seed });
    assert.equal(counts.most, 8, `seed ${seed}: the cap was reached`);
    assert.ok(counts.ranOn > 20 && counts.aborted > 50 && counts.timedOut > 5 && counts.thrown > 20, `seed ${seed}: every case happened: ${JSON.stringify(counts)}`);
  }
});

test('the same in four worker threads at once, each with its own instances', async () => {
  const runs = [11, 12, 13, 14].map(
    (seed) =>
      new Promise((resolve, reject) => {
        const worker = new Worker(path.join(__dirname, 'stress-run.js'), { workerData: { entry, seed } });
        worker.once('message', resolve);
        worker.once('error', reject);
      }),
  );
  for (const { counts, error } of await Promise.all(runs)) {
    assert.equal(error, undefined, error);
    assert.equal(counts.most, 8);
  }
});

test('the same with permits dropped without a release: collected, they give their slots back', async () => {
  const code = `require(${JSON.stringify(path.join(__dirname, 'stress-run.js'))});`;
  const script = `const { stress } = ${code.slice(0, -1)};
stress({ entry: ${JSON.stringify(entry)}, seed: 21, gc: globalThis.gc }).then(
  (counts) => console.log(JSON.stringify(counts)),
  (error) => { console.error(error.stack); process.exit(1); },
);
`;
  const result = await runScript(script, { flags: ['--expose-gc'], timeout: 60_000 });
  assert.equal(result.status, 0, result.stderr);
  const counts = JSON.parse(result.stdout);
  assert.ok(counts.dropped > 10, `permits were dropped: ${result.stdout}`);
});
