'use strict';
// Four processes (two on ioredis, two on node-redis) take a quota of 10 000 units over four
// buckets, one unit per request id, a random share of first attempts abandoned mid-call and
// retried with the same id. Exactly 10 000 ids are served, each once, every bucket ends at
// zero, and no count read on the side while they ran was ever below zero.
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { fork } = require('node:child_process');
const { once } = require('node:events');
const { FleetQuota } = require('stanchion/redis');
const { CLIENTS, standaloneUrl, uniquePrefix } = require('./redis-servers');

const WORKERS = ['ioredis 6', 'node-redis 6', 'ioredis 6', 'node-redis 6'];
const STOCK = 10_000;
const BUCKETS = 4;

test('four processes retrying with their ids take a quota of 10 000 exactly, never below zero', async (t) => {
  const helper = await CLIENTS['ioredis 6'].standalone(standaloneUrl());
  t.after(() => CLIENTS['ioredis 6'].close(helper));
  const shared = { url: standaloneUrl(), prefix: uniquePrefix('quota-load'), quotaName: 'hot', buckets: BUCKETS };
  const quota = new FleetQuota({ client: helper, buckets: BUCKETS, prefix: shared.prefix, timeout: 10_000 });
  assert.equal(await quota.restock('hot', STOCK), STOCK);

  const workers = WORKERS.map((name, worker) => fork(path.join(__dirname, 'redis-quota-load-worker.js'), [JSON.stringify({ ...shared, name, worker })]));
  t.after(() => workers.forEach((w) => w.exitCode === null && w.kill()));
  const message = (worker) => once(worker, 'message').then(([m]) => m);
  assert.deepEqual(await Promise.all(workers.map(message)), WORKERS.map(() => 'ready'));
  const done = workers.map(message);
  for (const worker of workers) worker.send('go');

  // The raw counts, read on the side until every worker reports: a count below zero would
  // read "-1", and a count that is no count would fail the script's own check.
  const keys = Array.from({ length: BUCKETS }, (_, b) => quota.redisKey('hot', b));
  let finished = false;
  const reports = Promise.all(done).finally(() => {
    finished = true;
  });
  let reads = 0;
  const odd = [];
  while (!finished) {
    for (const value of await helper.mget(keys)) {
      reads++;
      if (!/^[0-9]+$/.test(value ?? '0')) odd.push(value);
    }
  }
  const results = await reports;

  const served = results.flatMap((r) => r.served);
  const cut = results.reduce((sum, r) => sum + r.cut, 0);
  const replays = results.reduce((sum, r) => sum + r.replays, 0);
  t.diagnostic(`${served.length} ids served, ${cut} first attempts cut off, ${replays} replays, ${reads} reads of the counts on the side`);
  assert.deepEqual(results.flatMap((r) => r.errors), [], 'no call failed');
  assert.deepEqual(odd, [], 'no count was ever below zero');
  assert.equal(new Set(served).size, served.length, 'no id served twice');
  assert.equal(served.length, STOCK, 'every unit granted to exactly one id');
  assert.equal(await quota.remaining('hot'), 0);
  assert.ok(cut > 0 && replays > 0, 'attempts were cut off and retried');
});
