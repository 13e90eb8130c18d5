'use strict';
// FleetQuota on a three-primary Redis Cluster with every cluster client: a bucketed quota's
// buckets are keys on different slots spread over the primaries, a take with a request id
// sends its bucket's key and the id's record together (one hash tag, so never CROSSSLOT),
// and a script missing on a node is loaded on the node that runs it.
const test = require('node:test');
const assert = require('node:assert/strict');
const { FleetQuota } = require('stanchion/redis');
const { CLIENTS, clusterUrls, uniquePrefix, countCalls } = require('./redis-servers');

const BUCKETS = 16;

for (const [name, clients] of Object.entries(CLIENTS)) {
  test(`a bucketed quota spreads over slots and nodes, without CROSSSLOT (${name})`, async (t) => {
    const client = await clients.cluster(clusterUrls());
    const helper = await CLIENTS['ioredis 6'].cluster(clusterUrls());
    t.after(() => {
      clients.close(client);
      helper.disconnect();
    });
    const quota = new FleetQuota({ client, buckets: BUCKETS, batch: 10, prefix: uniquePrefix('quota-cluster'), timeout: 10_000 });
    const unavailable = [];
    quota.on('unavailable', (error) => unavailable.push(error));
    // No node has the script: each first call on a node is NOSCRIPT, then EVAL on that node.
    await Promise.all(helper.nodes('master').map((node) => node.script('FLUSH')));
    const count = countCalls(client, clients.kind);

    assert.equal(await quota.restock('sku-42', 10 * BUCKETS), 10 * BUCKETS);
    const ids = Array.from({ length: 40 }, (_, i) => `order-${i}`);
    for (const requestId of ids) {
      const taken = await quota.take('sku-42', { requestId });
      assert.equal(taken.bucket, quota.startBucket(requestId), requestId);
      assert.deepEqual(await quota.take('sku-42', { requestId }), { ...taken, replayed: true }, requestId);
    }
    for (let i = 0; i < 20; i++) await quota.take('sku-42', 2);
    const pool = quota.pool('sku-42');
    for (let i = 0; i < 25; i++) await pool.take();
    // A batch is what the bucket it found held, up to 10: what is left is fewer than one batch.
    const returned = await pool.close();
    assert.ok(returned >= 0 && returned < 10, `${returned} units given back`);
    assert.equal(await quota.remaining('sku-42'), 10 * BUCKETS - 40 - 40 - 25);
    assert.deepEqual(unavailable, [], 'every call was decided by Redis');
    assert.ok(count.eval >= 1 && count.eval <= 3, `the script was loaded once per primary at most (${count.eval} EVALs)`);

    // Each bucket is a key of its own slot; the id records share their bucket's slot.
    const slots = new Set();
    const owners = new Set();
    for (let bucket = 0; bucket < BUCKETS; bucket++) {
      const key = quota.redisKey('sku-42', bucket);
      assert.equal(await helper.exists(key), 1, key);
      const slot = await helper.cluster('KEYSLOT', key);
      assert.equal(slot, await helper.cluster('KEYSLOT', `{sku-42:${bucket}}`), 'the bucket is its own hash tag');
      slots.add(slot);
      owners.add(helper.slots[slot][0]);
    }
    for (const requestId of ids) {
      const key = quota.redisKey('sku-42', quota.startBucket(requestId));
      const record = `${key}:id:${requestId}`;
      assert.equal(await helper.exists(record), 1, record);
      assert.equal(await helper.cluster('KEYSLOT', record), await helper.cluster('KEYSLOT', key));
    }
    assert.equal(slots.size, BUCKETS, 'every bucket on a slot of its own');
    assert.equal(owners.size, 3, 'the buckets spread over the three primaries');
  });
}
