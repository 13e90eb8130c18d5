'use strict';
// The fleet bulkhead against the live standalone server, with both clients: at most `limit`
// leases, the refusal, a release that frees the slot at once, expired leases reclaimed by the
// next acquire, a keeper holding a slot past its lease time, `using`, six processes racing for
// three slots, and bad input. (The conformance scenarios run in redis-conformance.test.js.)
const test = require('node:test');
const assert = require('node:assert/strict');
const { inspect } = require('node:util');
const { FleetSemaphore, FleetLock, FleetError, FleetUnavailableError, BulkheadFullError, StanchionError, DEFAULT_LEASE } = require('stanchion/redis');
const { CLIENTS, standaloneUrl, uniquePrefix } = require('./redis-servers');
const { serverMillis, untilServer, worker, readmeOptions, typedOptions } = require('./redis-lease-helpers');
const { NAMES } = require('../lib/options');

async function connect(t, name) {
  const clients = CLIENTS[name];
  const client = await clients.standalone(standaloneUrl());
  t.after(() => clients.close(client));
  return client;
}

for (const name of ['ioredis 6', 'node-redis 6']) {
  test(`at most limit leases; a full semaphore refuses; a release frees the slot at once (${name})`, async (t) => {
    const client = await connect(t, name);
    const helper = await connect(t, 'ioredis 6');
    const semaphore = new FleetSemaphore({ client, limit: 2, ttl: 5_000, prefix: uniquePrefix('semaphore') });
    const key = semaphore.redisKey('exports');
    assert.equal(semaphore.limit, 2);
    assert.equal(semaphore.ttl, 5_000);

    const a = await semaphore.acquire('exports', { keep: false });
    const b = await semaphore.acquire('exports', { keep: false });
    assert.deepEqual([a.holders, b.holders], [1, 2]);
    assert.match(a.token, /^[0-9a-f]{32}$/);
    assert.notEqual(a.token, b.token);
    assert.deepEqual((await helper.zrange(key, 0, -1)).sort(), [a.token, b.token].sort());

    const full = await semaphore.acquire('exports').catch((e) => e);
    assert.ok(full instanceof BulkheadFullError && full instanceof StanchionError, `got ${full}`);
    assert.equal(full.code, 'ERR_BULKHEAD_FULL');
    assert.equal(full.reason, 'bulkhead_full');
    assert.equal(full.retryAfter, null);
    assert.equal(full.holders, 2);
    assert.ok(full.nextExpiryIn > 0 && full.nextExpiryIn <= 5_000, `nextExpiryIn ${full.nextExpiryIn}`);
    assert.equal(full.message, 'the fleet semaphore "exports" is full: 2 of 2 leases held');
    assert.equal(await helper.zcard(key), 2, 'a refusal adds nothing');
    // Another name is another semaphore.
    const other = await semaphore.acquire('imports', { keep: false });
    assert.equal(other.holders, 1);
    await other.release();

    assert.equal(await a.release(), true);
    assert.equal(await helper.zcard(key), 1);
    const c = await semaphore.acquire('exports', { keep: false });
    assert.equal(c.holders, 2, 'the released slot is free at once');
    assert.equal(await a.release(), true, 'a second call answers as the first');
    const state = await semaphore.holders('exports');
    assert.equal(state.holders, 2);
    assert.ok(state.nextExpiryIn > 0 && state.nextExpiryIn <= 5_000, `nextExpiryIn ${state.nextExpiryIn}`);
    assert.equal(await b.renew(), true);
    assert.equal(await b.release(), true);
    assert.equal(await c.release(), true);
    assert.deepEqual(await semaphore.holders('exports'), { holders: 0, nextExpiryIn: null });
    assert.equal(await helper.exists(key), 0, 'the last release removes the key');
  });
}

for (const name of ['ioredis 6', 'node-redis 6']) {
  test(`an error reply that waiting will not change reaches the caller of a lease as a FleetError, a breaker success (${name})`, async (t) => {
    const client = await connect(t, name);
    const helper = await connect(t, 'ioredis 6');
    const prefix = uniquePrefix('lease-reply');
    const semaphore = new FleetSemaphore({ client, limit: 2, ttl: 5_000, prefix });
    const lock = new FleetLock({ client, ttl: 5_000, prefix });
    // Keys holding another type: the semaphore's sorted-set and the fence's GET answer WRONGTYPE.
    await helper.set(semaphore.redisKey('string'), 'not a sorted set');
    await helper.hset(lock.redisKeys('hash').fence, 'field', 'value');
    const before = semaphore.breaker.snapshot();
    for (const [what, call] of [
      ['semaphore', () => semaphore.acquire('string', { keep: false })],
      ['lock', () => lock.acquire('hash', { keep: false })],
    ]) {
      const error = await call().catch((e) => e);
      assert.ok(error instanceof FleetError && error instanceof StanchionError, `${what}: got ${error}`);
      assert.ok(!(error instanceof FleetUnavailableError), `${what}: not unavailability`);
      assert.equal(error.code, 'ERR_FLEET');
      assert.match(error.cause.message, /^WRONGTYPE /);
      assert.match(error.message, new RegExp(`^Redis answered the ${what} with an error: WRONGTYPE `));
    }
    assert.equal(semaphore.breaker.state, 'closed');
    const after = semaphore.breaker.snapshot();
    assert.equal(after.failures - before.failures, 0, 'no breaker failure');
    assert.equal(after.successes - before.successes, 2, 'each error reply is a breaker success');
  });
}

test('expired leases are reclaimed by the next acquire; their holders can neither renew nor release them', async (t) => {
  const client = await connect(t, 'node-redis 6');
  const helper = await connect(t, 'ioredis 6');
  const prefix = uniquePrefix('expiry');
  const semaphore = new FleetSemaphore({ client, limit: 2, ttl: 300, prefix });
  // A long lease on the same semaphore keeps its key from expiring with the short ones.
  const long = await new FleetSemaphore({ client, limit: 2, ttl: 60_000, prefix }).acquire('jobs', { keep: false });
  const key = semaphore.redisKey('jobs');
  const a = await semaphore.acquire('jobs', { keep: false });
  await assert.rejects(semaphore.acquire('jobs'), { code: 'ERR_BULKHEAD_FULL' });
  // Until a's expiry has passed on the server's clock.
  await untilServer(helper, Number(await helper.zscore(key, a.token)));
  assert.equal(await helper.zcard(key), 2, 'nothing removes it before the next call');
  const c = await semaphore.acquire('jobs', { keep: false });
  assert.equal(c.holders, 2, 'the expired lease was reclaimed');
  assert.deepEqual((await helper.zrange(key, 0, -1)).sort(), [long.token, c.token].sort());
  assert.equal(await a.renew(), false);
  assert.equal(a.signal.aborted, true);
  assert.equal(a.signal.reason.code, 'ERR_LEASE_LOST');
  assert.equal(await a.release(), false);
  assert.deepEqual((await helper.zrange(key, 0, -1)).sort(), [long.token, c.token].sort(), "an expired holder's release removes nothing");
  await c.release();
  await long.release();
});

test('the keeper holds a slot past its lease time until the release; a lost slot aborts the signal', async (t) => {
  const client = await connect(t, 'ioredis 6');
  const helper = await connect(t, 'ioredis 6');
  const ttl = 200;
  const semaphore = new FleetSemaphore({ client, limit: 1, ttl, prefix: uniquePrefix('keeper') });
  const key = semaphore.redisKey('jobs');
  const lease = await semaphore.acquire('jobs');
  assert.equal(lease.keeper, 'keeping');
  await untilServer(helper, (await serverMillis(helper)) + 4 * ttl);
  assert.deepEqual(await helper.zrange(key, 0, -1), [lease.token], 'renewed: still held after 4 lease times');
  await assert.rejects(semaphore.acquire('jobs'), { code: 'ERR_BULKHEAD_FULL' });
  assert.equal(lease.held, true);
  assert.equal(await lease.release(), true);
  assert.equal(lease.keeper, 'stopped');

  // A slot taken from under its holder: the next renewal finds it gone and tells at once.
  const second = await semaphore.acquire('jobs');
  const events = [];
  second.on('lost', (error) => events.push(error));
  await helper.zrem(key, second.token);
  const lost = await second.lost;
  assert.equal(lost.code, 'ERR_LEASE_LOST');
  assert.equal(lost.lost, 'gone');
  assert.equal(lost.message, 'the fleet semaphore lease on "jobs" is no longer held: it expired or was taken over');
  assert.deepEqual(events, [lost]);
  assert.equal(second.signal.reason, lost);
  assert.equal(second.held, false);
  assert.equal(second.keeper, 'lost');
  assert.equal(await second.release(), false);
});

test('using and execute: the value, the slot released after; a full semaphore never runs the work', async (t) => {
  const client = await connect(t, 'node-redis 4');
  const helper = await connect(t, 'ioredis 6');
  const semaphore = new FleetSemaphore({ client, limit: 1, prefix: uniquePrefix('using') });
  assert.equal(semaphore.ttl, DEFAULT_LEASE);
  const key = semaphore.redisKey('exports');
  const inside = await semaphore.using('exports', async (signal, lease) => [signal.aborted, lease.holders, await helper.zcard(key)]);
  assert.deepEqual(inside, [false, 1, 1]);
  assert.equal(await helper.exists(key), 0);
  const blocker = await semaphore.acquire('exports', { keep: false });
  let ran = 0;
  await assert.rejects(
    semaphore.execute('exports', () => ran++),
    { code: 'ERR_BULKHEAD_FULL' },
  );
  assert.equal(ran, 0);
  await blocker.release();
  assert.equal(await semaphore.execute('exports', () => 'sync value'), 'sync value');

  // The slot vanishes while the work runs: the work's signal aborts, and `using` rejects even
  // though the work resolved.
  const lossy = new FleetSemaphore({ client, limit: 1, ttl: 150, prefix: uniquePrefix('using-lost') });
  const error = await lossy
    .using('exports', async (signal, lease) => {
      await helper.zrem(lossy.redisKey('exports'), lease.token);
      await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
      return 'finished anyway';
    })
    .catch((e) => e);
  assert.equal(error.code, 'ERR_LEASE_LOST');
  assert.equal(error.lost, 'gone');
});

test('six processes racing for three slots never hold more than three at once', async (t) => {
  const prefix = uniquePrefix('race');
  const names = ['ioredis 6', 'node-redis 6', 'ioredis 5', 'node-redis 4', 'ioredis 6', 'node-redis 6'];
  const workers = names.map((client) => worker(t, { kind: 'semaphore', client, url: standaloneUrl(), prefix, name: 'slots', limit: 3, ttl: 2_000, iterations: 40 }));
  assert.deepEqual(await Promise.all(workers.map((w) => w.next())), names.map(() => 'ready'));
  for (const w of workers) w.send('go');
  const results = await Promise.all(workers.map((w) => w.next()));
  assert.deepEqual(results.flatMap((r) => r.errors), []);
  const log = results.flatMap((r) => r.log.map(([start, end, holders, counted]) => ({ start: BigInt(start), end: BigInt(end), holders, counted })));
  assert.equal(log.length, names.length * 40);
  assert.ok(log.every((entry) => entry.holders >= 1 && entry.holders <= 3), 'the server never counted more than 3 at an acquire');
  assert.ok(log.every((entry) => entry.counted >= 1 && entry.counted <= 3), 'nor while a slot was held');
  // The most slots held at once, by the processes' own clock (shared by the machine).
  const edges = log.flatMap((e) => [[e.start, 1], [e.end, -1]]).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] - b[1]));
  let held = 0;
  let most = 0;
  for (const [, step] of edges) most = Math.max(most, (held += step));
  t.diagnostic(`at most ${most} slots held at once by the processes' clock`);
  assert.ok(most <= 3, `${most} slots held at once`);
  assert.ok(most >= 2, 'the processes did share the semaphore');
});

test('bad input: each error names the option and says what it must be', async (t) => {
  const client = await connect(t, 'ioredis 6');
  const cases = [
    [{}, TypeError, 'option `limit` is required: it must be an integer from 1 to 4294967295'],
    [{ limit: 0 }, RangeError, 'option `limit` must be an integer from 1 to 4294967295, got 0'],
    [{ limit: 1.5 }, RangeError, 'option `limit` must be an integer from 1 to 4294967295, got 1.5'],
    [{ limit: '3' }, TypeError, 'option `limit` must be an integer from 1 to 4294967295, got "3"'],
    [{ limit: 1, ttl: 0.5 }, RangeError, 'option `ttl` must be a duration of 1 ms to 2^40 ms, kept in whole milliseconds, rounded down (milliseconds as a number, or nanoseconds as a bigint), got 0.5'],
    [{ limit: 1, ttl: 999_999n }, RangeError, /^option `ttl` must be .*, got 999999n$/],
    [{ limit: 1, ttl: 2 ** 40 + 1 }, RangeError, /got 1099511627777$/],
    [{ limit: 1, prefix: '}' }, RangeError, 'option `prefix` must be a string of at most 256 bytes, without `{` or `}`, got "}"'],
    [{ limit: 1, timeout: 3_600_001 }, RangeError, /^option `timeout` must be a duration of 1 ns to 1 hour/],
    [{ max: 3 }, TypeError, 'unknown option `max`; did you mean `limit`?'],
    [{ limit: 1, client: 'redis://127.0.0.1' }, TypeError, /^option `client` must be an ioredis client .*, got "redis:\/\/127.0.0.1"$/],
  ];
  for (const [options, Kind, message] of cases) {
    assert.throws(
      () => new FleetSemaphore({ client, ...options }),
      (error) => {
        assert.ok(error instanceof Kind, `${inspect(options)}: ${error}`);
        if (typeof message === 'string') assert.equal(error.message, message);
        else assert.match(error.message, message);
        return true;
      },
    );
  }
  // Rounded down to whole milliseconds, as the script keeps it.
  assert.equal(new FleetSemaphore({ client, limit: 1, ttl: 2.9 }).ttl, 2);
  assert.equal(new FleetSemaphore({ client, limit: 1, ttl: 1_099_511_627_776_999_999n }).ttl, 2 ** 40);
  const semaphore = new FleetSemaphore({ client, limit: 1, prefix: uniquePrefix('bad') });
  assert.throws(() => semaphore.redisKey('a{b'), { name: 'RangeError', message: 'argument `name` must be a string of 1 to 1024 bytes (UTF-8), without `{` or `}`, got "a{b"' });
  await assert.rejects(semaphore.acquire(''), { name: 'RangeError' });
  await assert.rejects(semaphore.acquire('jobs', { wait: 100 }), { name: 'TypeError', message: 'unknown option `wait`; a fleet semaphore acquire takes `signal`, `keep`' });
  await assert.rejects(semaphore.using('jobs', null), { name: 'TypeError', message: 'argument `fn` must be a function, got null' });
  await assert.rejects(semaphore.using('jobs', () => 1, { keep: false }), { name: 'TypeError', message: /^unknown option `keep`/ });
  assert.deepEqual(await semaphore.holders('jobs'), { holders: 0, nextExpiryIn: null }, 'no bad call took a slot');
});

test("the README's FleetSemaphore table and the .d.ts list exactly the options it accepts", () => {
  const sorted = (names) => [...names].sort();
  assert.deepEqual(sorted(readmeOptions('Fleet bulkhead on Redis')), sorted(NAMES.FleetSemaphore));
  assert.deepEqual(sorted(typedOptions('FleetSemaphoreOptions')), sorted(NAMES.FleetSemaphore));
});
