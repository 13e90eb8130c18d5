'use strict';
// Four processes (two on ioredis, two on node-redis) take tokens from one key as fast as they
// can for about a second. The fleet limit holds across them: the grants never exceed the burst
// plus the rate times the span of server time the run took, and no call fails.
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { fork } = require('node:child_process');
const { once } = require('node:events');
const { CLIENTS, standaloneUrl, uniquePrefix } = require('./redis-servers');

const WORKERS = ['ioredis 6', 'node-redis 6', 'ioredis 6', 'node-redis 6'];

/** The server's clock in nanoseconds (TIME: seconds and microseconds). */
async function serverTime(helper) {
  const [seconds, micros] = await helper.call('TIME');
  return BigInt(seconds) * 1_000_000_000n + BigInt(micros) * 1_000n;
}

test('four processes on one key never get more than the burst plus the rate over the run', async (t) => {
  const helper = await CLIENTS['ioredis 6'].standalone(standaloneUrl());
  t.after(() => CLIENTS['ioredis 6'].close(helper));
  const config = { capacity: 50, refillAmount: 200, refillEvery: 1_000 };
  const shared = { url: standaloneUrl(), prefix: uniquePrefix('load'), key: 'hot', duration: 1_000, ...config };

  const workers = WORKERS.map((name) => fork(path.join(__dirname, 'redis-load-worker.js'), [JSON.stringify({ ...shared, name })]));
  t.after(() => workers.forEach((worker) => worker.exitCode === null && worker.kill()));
  const message = (worker) => once(worker, 'message').then(([m]) => m);
  assert.deepEqual(await Promise.all(workers.map(message)), WORKERS.map(() => 'ready'));
  const start = await serverTime(helper);
  const done = workers.map(message);
  for (const worker of workers) worker.send('go');
  const results = await Promise.all(done);
  await Promise.all(workers.map((worker) => (worker.exitCode === null ? once(worker, 'exit') : undefined)));
  const end = await serverTime(helper);

  const grants = results.reduce((sum, r) => sum + r.grants, 0);
  const refusals = results.reduce((sum, r) => sum + r.refusals, 0);
  const span = end - start;
  // Every grant was decided by the server's TIME within [start, end].
  const bound = BigInt(config.capacity) + (span * BigInt(config.refillAmount)) / (BigInt(config.refillEvery) * 1_000_000n);
  t.diagnostic(`${grants} grants, ${refusals} refusals in ${Number(span) / 1e6} ms of server time; bound ${bound}`);
  assert.deepEqual(results.flatMap((r) => r.errors), [], 'no call failed');
  assert.ok(BigInt(grants) <= bound, `${grants} grants > ${bound}`);
  assert.ok(grants >= config.capacity, `the burst was granted (${grants} grants)`);
  assert.ok(refusals > 0, 'the processes asked for more than the limit');
});
