'use strict';
// The lock when servers fail: `waitReplicas` with the standalone server's replica attached,
// detached (REPLICAOF NO ONE) and attached again; RedLock on five independent servers, each
// behind a proxy that can stop answering; and a lock holder whose connection gets slower than
// its lease or is reset while it renews. In every case the holder is told, and nothing is
// acquired that a quorum or the replicas did not grant. Nothing asserts how long anything
// took.
const test = require('node:test');
const assert = require('node:assert/strict');
const { FleetLock, Redlock, FleetUnavailableError, LockError } = require('stanchion/redis');
const { CLIENTS, standaloneUrl, uniquePrefix, until, Proxy, hostPort } = require('./redis-servers');
const { replicaUrl, redlockUrls, LagProxy } = require('./redis-lease-helpers');

async function connect(t, name, url = standaloneUrl()) {
  const clients = CLIENTS[name];
  const client = await clients.standalone(url);
  t.after(() => clients.close(client));
  return client;
}

const replication = async (client) => Object.fromEntries((await client.info('replication')).split('\r\n').map((line) => line.split(':')));

test('waitReplicas: acquired once the replica has the lease; refused and released while it is detached; acquired again once it is back', async (t) => {
  const { port } = hostPort(standaloneUrl());
  const primary = await CLIENTS['ioredis 6'].standalone(standaloneUrl());
  const replica = await CLIENTS['ioredis 6'].standalone(replicaUrl());
  const attach = () => replica.call('REPLICAOF', '127.0.0.1', String(port));
  const attached = () => until(async () => (await replication(replica)).master_link_status === 'up' && (await replication(primary)).connected_slaves === '1');
  // Whatever happens, the replica is attached again before the test ends.
  t.after(async () => {
    try {
      await attach();
      await attached();
    } finally {
      primary.disconnect();
      replica.disconnect();
    }
  });
  await attached();
  const prefix = uniquePrefix('replicas');
  for (const name of ['ioredis 6', 'node-redis 6']) {
    const client = await connect(t, name);
    const lock = new FleetLock({ client, ttl: 5_000, waitReplicas: [1, 5_000], prefix });
    const lease = await lock.acquire(name, { keep: false });
    // WAIT counted the replica's acknowledgement: it has the lease.
    assert.equal(await replica.get(lock.redisKeys(name).lock), lease.token);
    assert.equal(await lease.release(), true);
  }

  await replica.call('REPLICAOF', 'NO', 'ONE');
  await until(async () => (await replication(primary)).connected_slaves === '0');
  for (const name of ['ioredis 6', 'node-redis 6']) {
    const client = await connect(t, name);
    const lock = new FleetLock({ client, ttl: 5_000, waitReplicas: [1, 100], prefix });
    const refused = await lock.acquire(name).catch((e) => e);
    assert.ok(refused instanceof LockError, `${name}: got ${refused}`);
    assert.equal(refused.code, 'ERR_LOCK_REPLICAS');
    assert.equal(refused.reason, 'lock_replicas');
    assert.deepEqual([refused.acknowledged, refused.wanted], [0, 1]);
    assert.equal(refused.message, `0 of 1 replicas acknowledged the lease on "${name}" within 100 ms; it was released`);
    assert.equal(await primary.exists(lock.redisKeys(name).lock), 0, `${name}: the lease was released`);
  }

  await attach();
  await attached();
  const lock = new FleetLock({ client: primary, ttl: 5_000, waitReplicas: [1, 5_000], prefix });
  const again = await lock.acquire('again', { keep: false });
  assert.equal(await replica.get(lock.redisKeys('again').lock), again.token);
  await again.release();
});

/** Five RedLock servers behind proxies, clients of both kinds through them, and direct helpers. */
async function servers(t) {
  const urls = redlockUrls();
  assert.equal(urls.length, 5);
  const proxies = await Promise.all(urls.map((url) => new Proxy(url).start()));
  t.after(() => Promise.all(proxies.map((proxy) => proxy.close())));
  const clients = [];
  for (const [i, proxy] of proxies.entries()) clients.push(await connect(t, i % 2 === 0 ? 'ioredis 6' : 'node-redis 6', proxy.url));
  const direct = await Promise.all(urls.map((url) => connect(t, 'ioredis 6', url)));
  return { proxies, clients, direct };
}

const holding = (direct, key) => Promise.all(direct.map((helper) => helper.get(key)));

test('RedLock on five servers: acquired with two silenced, refused with three, released everywhere', async (t) => {
  const { proxies, clients, direct } = await servers(t);
  const redlock = new Redlock({ clients, ttl: 3_000, timeout: 150, prefix: uniquePrefix('redlock') });
  assert.equal(redlock.quorum, 3);
  const { lock: key, fence: fenceKey } = redlock.redisKeys('job');

  const all = await redlock.acquire('job', { keep: false });
  assert.deepEqual(await holding(direct, key), Array(5).fill(all.token));
  const fences = (await holding(direct, fenceKey)).map(Number);
  assert.equal(all.fence, Math.max(...fences), 'the fence is the largest of the servers');
  assert.ok(all.validity > 0 && all.validity < 3_000, `validity ${all.validity}`);
  assert.equal(await all.release(), true);
  assert.deepEqual(await holding(direct, key), Array(5).fill(null));

  proxies[0].set('blackhole');
  proxies[1].set('blackhole');
  const three = await redlock.acquire('job', { keep: false });
  assert.deepEqual(await holding(direct, key), [null, null, three.token, three.token, three.token]);
  assert.ok(three.fence > all.fence);
  assert.equal(await three.release(), true, 'released on the three that answer: a quorum');
  assert.deepEqual(await holding(direct, key), Array(5).fill(null));

  proxies[2].set('blackhole');
  const refused = await redlock.acquire('job').catch((e) => e);
  assert.ok(refused instanceof FleetUnavailableError, `got ${refused}`);
  assert.equal(refused.code, 'ERR_FLEET_UNAVAILABLE');
  assert.match(refused.message, /^3 of 5 RedLock servers did not decide, so no quorum of 3 could form: Redis did not decide: /);
  assert.deepEqual(await holding(direct, key), Array(5).fill(null), 'the two that granted it released it');

  for (const proxy of proxies) proxy.set('forward');
});

test('RedLock: held by another on a quorum, waited out; no validity left is no quorum; renewal needs a quorum', async (t) => {
  const { proxies, clients, direct } = await servers(t);
  const prefix = uniquePrefix('redlock-quorum');
  const redlock = new Redlock({ clients, ttl: 2_000, timeout: 150, prefix });
  const other = new Redlock({ clients: direct, ttl: 2_000, prefix });
  const { lock: key } = redlock.redisKeys('job');

  const theirs = await other.acquire('job', { keep: false });
  const held = await redlock.acquire('job').catch((e) => e);
  assert.ok(held instanceof LockError, `got ${held}`);
  assert.equal(held.code, 'ERR_LOCK_HELD');
  assert.ok(held.retryAfter > 0 && held.retryAfter <= 2_000);
  assert.equal(held.message, `the lock "job" is held by another holder on 5 of 5 servers, for up to ${held.retryAfter} ms`);
  assert.deepEqual(await holding(direct, key), Array(5).fill(theirs.token));
  setTimeout(() => theirs.release(), 100);
  const ours = await redlock.acquire('job', { wait: 5_000 });
  assert.ok(ours.fence > theirs.fence);

  // The keeper renews on every server; with the lease gone from three, a renewal misses the
  // quorum and the holder is told it is gone.
  await Promise.all(direct.slice(0, 3).map((helper) => helper.del(key)));
  const gone = await ours.lost;
  assert.equal(gone.lost, 'gone');
  assert.equal(ours.signal.aborted, true);
  assert.equal(await ours.release(), false, 'two servers are not a quorum');
  assert.deepEqual(await holding(direct, key), Array(5).fill(null), 'released everywhere anyway');

  // Three servers silenced while it is held: the renewal fails, and the holder is told.
  const kept = await redlock.acquire('kept');
  for (const proxy of proxies.slice(0, 3)) proxy.set('blackhole');
  const failed = await kept.lost;
  assert.equal(failed.lost, 'failed');
  assert.ok(failed.cause instanceof FleetUnavailableError, `cause ${failed.cause}`);
  for (const proxy of proxies) proxy.set('forward');

  // A lease of 2 ms cannot outlast its own acquisition and the drift allowance.
  const brief = new Redlock({ clients: direct, ttl: 2, prefix });
  const none = await brief.acquire('brief').catch((e) => e);
  assert.equal(none.code, 'ERR_LOCK_NO_QUORUM');
  assert.deepEqual([none.granted, none.needed], [5, 3]);
  assert.match(none.message, /^5 of 5 servers granted the lock "brief" in time to leave it valid \(the acquisition took [\d.]+ ms of a 2 ms lease\), 3 are needed; it was released everywhere$/);
  assert.deepEqual(await holding(direct, brief.redisKeys('brief').lock), Array(5).fill(null));
});

test('RedLock bad input', async (t) => {
  const client = await connect(t, 'ioredis 6');
  assert.throws(() => new Redlock({ clients: [] }), { name: 'RangeError', message: /^option `clients` must be an array of 1 to 255 Redis clients, .*, got \[\]$/ });
  assert.throws(() => new Redlock({ clients: client }), { name: 'TypeError', message: /^option `clients` must be an array of 1 to 255 Redis clients/ });
  assert.throws(() => new Redlock({ clients: [client, {}] }), { name: 'TypeError', message: /^option `clients\[1\]` must be an ioredis client/ });
  assert.throws(() => new Redlock({ clients: [client, client] }), { name: 'RangeError', message: /^option `clients\[1\]` must be a client of its own server: it is `clients\[0\]` again, got / });
  assert.throws(() => new Redlock({ clients: [client], waitReplicas: [1, 10] }), {
    name: 'TypeError',
    message: 'option `waitReplicas` does not apply to a Redlock: it spreads the lease over independent servers instead of waiting for replicas',
  });
  assert.throws(() => new Redlock({ client, clients: [client] }), { name: 'TypeError', message: 'unknown option `client`; did you mean `clients` (one per independent server)?' });
  assert.throws(() => new Redlock({ clients: [client], ttl: 0.5 }), { name: 'RangeError', message: /^option `ttl` must be a duration of 1 ms to 2\^40 ms, in whole milliseconds/ });
  assert.equal(new Redlock({ clients: [client] }).quorum, 1);
});

for (const name of ['ioredis 6', 'node-redis 6']) {
  test(`a connection slower than the lease: the holder is told the lease is gone, or that renewing failed (${name})`, async (t) => {
    const proxy = await new LagProxy(standaloneUrl()).start();
    t.after(() => proxy.close());
    const helper = await connect(t, 'ioredis 6');
    const prefix = uniquePrefix('lag');
    const other = new FleetLock({ client: helper, ttl: 5_000, prefix });
    const key = other.redisKeys('job').lock;

    // A patient client: the renewal arrives after the lease ran out, and finds it gone.
    const patient = new FleetLock({ client: await connect(t, name, proxy.url), ttl: 300, timeout: 5_000, prefix });
    const lease = await patient.acquire('job');
    proxy.lag = 500;
    await until(async () => (await helper.exists(key)) === 0);
    const next = await other.acquire('job', { keep: false });
    const gone = await lease.lost;
    assert.equal(gone.lost, 'gone');
    assert.equal(lease.signal.aborted, true);
    assert.equal(await lease.release(), false);
    assert.equal(await helper.get(key), next.token, 'the late holder deleted nothing');
    await next.release();
    proxy.lag = 0;

    // An impatient one: the renewal times out, and the holder is told at once.
    const impatient = new FleetLock({ client: await connect(t, name, proxy.url), ttl: 300, timeout: 100, prefix });
    const seen = [];
    const error = await impatient
      .using('job', async (signal) => {
        proxy.lag = 500;
        await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
        seen.push(signal.reason.code, signal.reason.lost);
        return 'finished anyway';
      })
      .catch((e) => e);
    assert.deepEqual(seen, ['ERR_LEASE_LOST', 'failed']);
    assert.equal(error.code, 'ERR_LEASE_LOST');
    assert.equal(error.lost, 'failed');
    assert.ok(error.cause instanceof FleetUnavailableError, `cause ${error.cause}`);
    assert.match(error.message, /^a renewal of the fleet lock lease on "job" failed: Redis did not decide: /);
    proxy.lag = 0;
  });

  test(`connections reset while renewing: the holder is told, and the lock frees by its lease (${name})`, async (t) => {
    const proxy = await new Proxy(standaloneUrl()).start();
    t.after(() => proxy.close());
    const helper = await connect(t, 'ioredis 6');
    const prefix = uniquePrefix('reset');
    const lock = new FleetLock({ client: await connect(t, name, proxy.url), ttl: 300, timeout: 150, prefix });
    const key = lock.redisKeys('job').lock;
    const error = await lock
      .using('job', async (signal) => {
        proxy.set('refuse');
        await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
      })
      .catch((e) => e);
    assert.equal(error.code, 'ERR_LEASE_LOST');
    assert.equal(error.lost, 'failed');
    // Nobody renews it now: it expires on its own.
    await until(async () => (await helper.exists(key)) === 0);
    proxy.set('forward');
  });
}
