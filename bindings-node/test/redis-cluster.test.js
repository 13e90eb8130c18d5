'use strict';
// FleetLimiter on a three-primary Redis Cluster with both cluster clients: every call is one
// key's slot (`prefix{key}:limiter`), so none is refused with CROSSSLOT, keys spread over the
// primaries, and a script missing on a node is loaded on the node that runs it.
const test = require('node:test');
const assert = require('node:assert/strict');
const { FleetLimiter } = require('stanchion/redis');
const { CLIENTS, clusterUrls, uniquePrefix, countCalls } = require('./redis-servers');

const KEYS = Array.from({ length: 40 }, (_, i) => `tenant-${i}`);

for (const [name, clients] of Object.entries(CLIENTS)) {
  test(`every call works on a cluster, without CROSSSLOT (${name})`, async (t) => {
    const client = await clients.cluster(clusterUrls());
    const helper = await CLIENTS['ioredis 6'].cluster(clusterUrls());
    t.after(() => {
      clients.close(client);
      helper.disconnect();
    });
    const limiter = new FleetLimiter({ client, capacity: 3, refillEvery: 60_000, prefix: uniquePrefix('cluster'), timeout: 10_000 });
    const unavailable = [];
    limiter.on('unavailable', (error) => unavailable.push(error));
    // No node has the script: each first call on a node is NOSCRIPT, then EVAL on that node.
    await Promise.all(helper.nodes('master').map((node) => node.script('FLUSH')));
    const count = countCalls(client, clients.kind);

    for (const key of KEYS) {
      assert.equal((await limiter.tryAcquire(key, 2)).remaining, 1, key);
      assert.equal((await limiter.peek(key)).remaining, 1, key);
      assert.equal(await limiter.execute(key, () => key), key);
      const refused = await limiter.tryAcquire(key);
      assert.equal(refused.code, 'ERR_RATE_LIMITED', key);
      assert.equal((await limiter.tryAcquire(key, 4)).code, 'ERR_INSUFFICIENT_CAPACITY', key);
    }
    assert.deepEqual(unavailable, [], 'every call was decided by Redis');
    assert.equal(count.evalsha, KEYS.length * 5);
    assert.ok(count.eval >= 1 && count.eval <= 3, `the script was loaded once per primary at most (${count.eval} EVALs)`);

    // Each key lives on the primary that owns its slot, and expires when full again.
    const owners = new Set();
    for (const key of KEYS) {
      const redisKey = limiter.redisKey(key);
      assert.equal(await helper.exists(redisKey), 1, redisKey);
      assert.ok((await helper.pttl(redisKey)) > 0, `${redisKey} has an expiry`);
      const slot = await helper.cluster('KEYSLOT', redisKey);
      assert.equal(slot, await helper.cluster('KEYSLOT', `{${key}}`), 'the key is its own hash tag');
      owners.add(helper.slots[slot][0]);
    }
    assert.equal(owners.size, 3, 'the keys spread over the three primaries');
  });
}
