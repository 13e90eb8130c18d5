'use strict';
// Permits handed to the caller cannot leak: one that is garbage-collected while held gives its
// slot back, as the core's permit does when dropped. Run in a child process started with
// --expose-gc, so that the test can collect.
const test = require('node:test');
const assert = require('node:assert/strict');
const { runScript } = require('./scripts');

const script = `
const assert = require('node:assert/strict');
const { Bulkhead, CircuitBreaker } = require('stanchion');

const tick = () => new Promise((resolve) => setImmediate(resolve));
async function collect(done) {
  for (let i = 0; i < 50 && !done(); i++) {
    globalThis.gc();
    await tick();
  }
}

(async () => {
  // Bulkhead permits from tryAcquire and from acquire, dropped while held.
  const bulkhead = new Bulkhead({ maxConcurrent: 4, maxWaiting: 4 });
  (() => bulkhead.tryAcquire())();
  await (async () => {
    await bulkhead.acquire();
  })();
  // A released permit's slot is reused; collecting the old permit must not release it again.
  const kept = bulkhead.tryAcquire();
  const reused = (() => {
    const first = bulkhead.tryAcquire();
    first.release();
    return bulkhead.tryAcquire();
  })();
  assert.equal(bulkhead.snapshot().inFlight, 4, "two dropped, kept, reused");
  // A waiter served from a dropped permit's slot.
  let served;
  const waiting = bulkhead.acquire().then((permit) => (served = permit));
  await collect(() => served !== undefined && bulkhead.snapshot().inFlight === 3);
  await waiting;
  assert.ok(served.ok, 'the queued caller got a slot a collected permit gave back');
  assert.equal(bulkhead.snapshot().inFlight, 3, 'kept, reused and served: the two dropped ones came back');
  for (const permit of [kept, reused, served]) assert.equal(permit.release(), true);
  assert.equal(bulkhead.snapshot().inFlight, 0);

  // A breaker probe dropped while held: its probe slot comes back, and it records nothing.
  let now = 0;
  const breaker = new CircuitBreaker({ failureCount: 1, openFor: 10, clock: () => now });
  breaker.tryAcquire().record('failure');
  now = 10;
  (() => assert.equal(breaker.tryAcquire().ok, true))();
  assert.equal(breaker.snapshot().probesInFlight, 1);
  assert.equal(breaker.tryAcquire().reason, 'half_open_full');
  await collect(() => breaker.snapshot().probesInFlight === 0);
  assert.equal(breaker.snapshot().probesInFlight, 0, 'the probe slot came back');
  assert.equal(breaker.snapshot().calls, 1, 'the dropped probe recorded nothing');
  assert.equal(breaker.state, 'half_open');
  console.log('ok');
})().catch((error) => {
  console.error(error.stack);
  process.exit(1);
});
`;

test('a permit collected while held gives its slot back (bulkhead and breaker)', async () => {
  const result = await runScript(script, { flags: ['--expose-gc'], timeout: 60_000 });
  assert.equal(result.stderr, '');
  assert.equal(result.status, 0);
  assert.equal(result.stdout, 'ok\n');
});
