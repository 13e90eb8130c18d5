'use strict';
// FleetQuota and its local batches against the live standalone server with every client:
// takes, restocks, request ids charged once, a retry after an abandoned call, the sweep's
// calls, error replies, local batches (the Redis calls they save, takes that wait for one
// refill, give-backs, a pool collected with units in it), and bad input, refused before any
// call with messages that name the option.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const IORedis = require('ioredis');
const { FleetQuota, QuotaPool, SoldOutError, FleetError, FleetUnavailableError, StanchionError } = require('stanchion/redis');
const main = require('stanchion');
const { CLIENTS, standaloneUrl, uniquePrefix, countCalls } = require('./redis-servers');
const { replyError, stub, unstub } = require('./redis-replies');
const { fleetUnavailableReplies } = require('../lib/native');
const { NAMES } = require('../lib/options');
const { runScript } = require('./scripts');

// Where Redis is meant to decide, a loaded machine must not turn a slow answer into a timeout.
const PATIENT = 10_000;

/** 64-bit FNV-1a of a string's UTF-8 bytes, computed here on its own to check the quota's. */
function fnv1a(text) {
  let hash = 0xcbf29ce484222325n;
  for (const byte of Buffer.from(text, 'utf8')) hash = ((hash ^ BigInt(byte)) * 0x100000001b3n) & 0xffffffffffffffffn;
  return hash;
}

for (const [name, clients] of Object.entries(CLIENTS)) {
  test(`takes, restocks and request ids (${name})`, async (t) => {
    const client = await clients.standalone(standaloneUrl());
    t.after(() => clients.close(client));
    const quota = new FleetQuota({ client, prefix: uniquePrefix('quota'), timeout: PATIENT });
    const count = countCalls(client, clients.kind);

    assert.equal(await quota.remaining('seats'), 0, 'a quota never restocked holds nothing');
    assert.equal(await quota.restock('seats', 5), 5);
    assert.deepEqual(await quota.take('seats'), { bucket: 0, remaining: 4, replayed: false });
    assert.deepEqual(await quota.take('seats', 3), { bucket: 0, remaining: 1, replayed: false });
    const soldOut = await quota.take('seats', { n: 2 }).catch((e) => e);
    assert.ok(soldOut instanceof SoldOutError && soldOut instanceof StanchionError, `got ${soldOut}`);
    assert.equal(main.SoldOutError, SoldOutError);
    assert.deepEqual(
      { code: soldOut.code, reason: soldOut.reason, requested: soldOut.requested, remaining: soldOut.remaining, retryAfter: soldOut.retryAfter },
      { code: 'ERR_SOLD_OUT', reason: 'sold_out', requested: 2, remaining: 1, retryAfter: null },
    );
    assert.equal(soldOut.message, 'sold out (2 asked, 1 left)');
    assert.equal(await quota.remaining('seats'), 1, 'a refused take takes nothing');

    // A request id is charged once: the retry answers the first outcome and takes nothing.
    await quota.restock('seats', 9);
    const first = await quota.take('seats', { n: 2, requestId: 'order-1' });
    assert.deepEqual(first, { bucket: 0, remaining: 8, replayed: false });
    await quota.take('seats', 1);
    assert.deepEqual(await quota.take('seats', { n: 2, requestId: 'order-1' }), { bucket: 0, remaining: 7, replayed: true });
    assert.equal(await quota.remaining('seats'), 7);
    const reused = await quota.take('seats', { n: 3, requestId: 'order-1' }).catch((e) => e);
    assert.ok(reused instanceof RangeError, `got ${reused}`);
    assert.equal(reused.option, 'requestId');
    assert.equal(reused.message, "option `requestId` must be an id not used within `idMemory` for a take of another `n` (this take's is 3), got \"order-1\"");
    // A refusal is remembered too: a restock does not change the answer to the same id.
    await assert.rejects(quota.take('seats', { n: 8, requestId: 'order-2' }), SoldOutError);
    await quota.restock('seats', 10);
    await assert.rejects(quota.take('seats', { n: 8, requestId: 'order-2' }), { code: 'ERR_SOLD_OUT', requested: 8, remaining: 17 });
    assert.deepEqual(await quota.take('seats', { n: 8, requestId: 'order-3' }), { bucket: 0, remaining: 9, replayed: false });
    // One EVALSHA per bucket visited, one bucket here (and an EVAL if the script was not loaded).
    assert.equal(count.evalsha, 16);
    assert.ok(count.eval <= 1);
  });

  test(`a bucketed quota sweeps from the id's bucket, round the ring (${name})`, async (t) => {
    const client = await clients.standalone(standaloneUrl());
    t.after(() => clients.close(client));
    const quota = new FleetQuota({ client, buckets: 8, prefix: uniquePrefix('buckets'), timeout: PATIENT });
    assert.equal(quota.startBucket('order-1'), 5, "the reference's example: FNV-1a of order-1 is 0xdee4809f34bee86d");
    for (const id of ['order-1', 'order-2', 'é', 'x'.repeat(256)]) assert.equal(quota.startBucket(id), Number(fnv1a(id) % 8n), id);
    assert.ok(quota.redisKey('sku-42', 7).endsWith(':{sku-42:7}:quota'), 'each bucket is its own hash tag');

    // Eight units, one per bucket: the id's bucket serves it, then the next one round the ring.
    assert.equal(await quota.restock('sku-42', 8), 8);
    const count = countCalls(client, clients.kind);
    assert.deepEqual(await quota.take('sku-42', { requestId: 'order-1' }), { bucket: 5, remaining: 0, replayed: false });
    let next;
    for (let i = 2; next === undefined; i++) if (quota.startBucket(`order-${i}`) === 5) next = `order-${i}`;
    assert.deepEqual(await quota.take('sku-42', { requestId: next }), { bucket: 6, remaining: 0, replayed: false });
    assert.equal(count.calls, 3, 'one call per bucket visited');
    assert.deepEqual(await quota.take('sku-42', { requestId: next }), { bucket: 6, remaining: 0, replayed: true });
    for (let b = 0; b < 8; b++) assert.equal(await quota.bucketRemaining('sku-42', b), b === 5 || b === 6 ? 0 : 1, `bucket ${b}`);
    // Sold out only once every bucket held fewer: six units left, none takes two.
    const before = count.calls;
    await assert.rejects(quota.take('sku-42', 2), { code: 'ERR_SOLD_OUT', requested: 2, remaining: 6 });
    assert.equal(count.calls - before, 8, 'a sold-out take visits every bucket');
    for (let i = 0; i < 6; i++) await quota.take('sku-42');
    await assert.rejects(quota.take('sku-42'), { code: 'ERR_SOLD_OUT', remaining: 0 });
    // A restock spreads the units: 8 × 2 and 3 more, each to a bucket of its own.
    assert.equal(await quota.restock('sku-42', 19), 19);
    const counts = [];
    for (let b = 0; b < 8; b++) counts.push(await quota.bucketRemaining('sku-42', b));
    assert.deepEqual([...counts].sort(), [2, 2, 2, 2, 2, 3, 3, 3]);
  });

  test(`a take cut off by an abort and retried with its id is charged once (${name})`, async (t) => {
    const client = await clients.standalone(standaloneUrl());
    t.after(() => clients.close(client));
    const quota = new FleetQuota({ client, buckets: 3, prefix: uniquePrefix('retry'), timeout: PATIENT });
    // 20 units a bucket: whichever buckets the ids name, each first attempt is served by its
    // own start bucket, the one call it makes before it is abandoned.
    await quota.restock('hot', 60);
    for (let i = 0; i < 10; i++) {
      const requestId = `order-${i}`;
      const controller = new AbortController();
      // The call is on its way when the caller gives up: its outcome is unknown to the caller.
      const cut = quota.take('hot', { n: 2, requestId, signal: controller.signal });
      controller.abort(new Error('gave up'));
      await assert.rejects(cut, { message: 'gave up' });
      const retry = await quota.take('hot', { n: 2, requestId });
      assert.equal(retry.replayed, true, `${requestId}: the first call was served, and the retry replays it`);
      assert.equal(retry.bucket, quota.startBucket(requestId));
    }
    assert.equal(await quota.remaining('hot'), 40, 'ten takes of two, each charged once');
    const count = countCalls(client, clients.kind);
    await assert.rejects(quota.take('hot', { signal: AbortSignal.abort(new Error('before')) }), { message: 'before' });
    assert.equal(count.calls, 0, 'an aborted signal makes no call');
  });

  test(`an error reply reaches the caller as a FleetError; one meaning the server cannot decide is unavailability (${name})`, async (t) => {
    const client = await clients.standalone(standaloneUrl());
    const helper = new IORedis(standaloneUrl());
    t.after(() => {
      clients.close(client);
      helper.disconnect();
    });
    const quota = new FleetQuota({ client, prefix: uniquePrefix('quota-reply'), timeout: PATIENT });
    const seen = [];
    quota.on('unavailable', (error) => seen.push(error));
    await helper.hset(quota.redisKey('hash'), 'field', 'value');
    await helper.set(quota.redisKey('text'), 'twelve');
    const before = quota.breaker.snapshot();
    for (const call of [() => quota.take('hash'), () => quota.restock('hash', 1), () => quota.remaining('hash'), () => quota.pool('hash').take()]) {
      const error = await call().catch((e) => e);
      assert.ok(error instanceof FleetError && !(error instanceof FleetUnavailableError), `got ${error}`);
      assert.equal(error.code, 'ERR_FLEET');
      assert.match(error.cause.message, /^WRONGTYPE /);
      assert.match(error.message, /^Redis answered the quota with an error: WRONGTYPE /);
    }
    const own = await quota.take('text').catch((e) => e);
    assert.equal(own.code, 'ERR_FLEET');
    assert.match(own.cause.message, /^ERR stanchion quota: the key does not hold a quota count/);
    assert.deepEqual(seen, []);
    assert.equal(quota.breaker.state, 'closed');
    assert.equal(quota.breaker.snapshot().failures - before.failures, 0, 'an answer is no failure of the connection');

    for (const code of fleetUnavailableReplies()) {
      const error = replyError(name, `${code} the server cannot decide now`);
      stub(client, clients.kind, () => Promise.reject(error));
      quota.breaker.reset();
      for (let i = 0; i < 3; i++) {
        const raised = await quota.take('q').catch((e) => e);
        assert.ok(raised instanceof FleetUnavailableError, `${code}: got ${raised}`);
        assert.equal(raised.cause, error);
        assert.equal(seen.at(-1), raised);
      }
      assert.equal(quota.breaker.state, 'open', `${code}: three in a row open the breaker`);
      unstub(client);
    }
    quota.breaker.reset();
  });

  test(`a pool hands out a batch with no round trip and gives back what it did not use (${name})`, async (t) => {
    const client = await clients.standalone(standaloneUrl());
    t.after(() => clients.close(client));
    const quota = new FleetQuota({ client, batch: 10, prefix: uniquePrefix('pool'), timeout: PATIENT });
    await quota.restock('credits', 25);
    const pool = quota.pool('credits');
    assert.ok(pool instanceof QuotaPool);
    assert.equal(pool.name, 'credits');
    const count = countCalls(client, clients.kind);
    await pool.take();
    assert.deepEqual([pool.local, count.calls], [9, 1], 'one call took a batch of 10 and kept 9');
    for (let i = 0; i < 9; i++) await pool.take();
    assert.deepEqual([pool.local, count.calls], [0, 1], 'nine takes from the pool, no call');
    await pool.take(12);
    assert.deepEqual([pool.local, count.calls, await quota.remaining('credits')], [0, 2, 3], 'a take above the batch takes exactly itself');
    await pool.take(2);
    assert.equal(pool.local, 1, 'a batch is what the bucket held, at least the take');
    await assert.rejects(pool.take(2), { code: 'ERR_SOLD_OUT', requested: 2, remaining: 0 });
    assert.equal(pool.local, 1, 'the unit held stays for a smaller take');
    await quota.restock('credits', 4);
    assert.equal(await pool.giveBack(), 1);
    assert.deepEqual([pool.local, await quota.remaining('credits')], [0, 5]);
    assert.equal(await pool.giveBack(), 0);
    const calls = count.calls;
    await pool.take(3);
    assert.equal(await pool.close(), 2, 'close gives the rest back');
    assert.equal(await pool.close(), 2, 'closing again answers the same');
    assert.equal(pool.closed, true);
    assert.equal(count.calls - calls, 2, 'one take, one give-back');
    assert.equal(await quota.remaining('credits'), 2);
    await assert.rejects(pool.take(), { code: 'ERR_QUOTA_POOL_CLOSED', message: 'the pool of quota "credits" is closed' });
  });

  test(`takes that find the pool dry wait for one refill; an abandoned take's batch still lands (${name})`, async (t) => {
    const client = await clients.standalone(standaloneUrl());
    t.after(() => clients.close(client));
    const quota = new FleetQuota({ client, batch: 100, buckets: 2, prefix: uniquePrefix('pool-wait'), timeout: PATIENT });
    await quota.restock('credits', 1_000);
    const pool = quota.pool('credits');
    const count = countCalls(client, clients.kind);
    await Promise.all(Array.from({ length: 50 }, () => pool.take()));
    assert.deepEqual([count.calls, pool.local], [1, 50], 'fifty takes at once: one refill');
    await Promise.all(Array.from({ length: 60 }, () => pool.take()));
    assert.deepEqual([count.calls, pool.local], [2, 90], 'the 51st take refilled; the nine after it waited for that refill');
    // A waiter asking for more than a batch brings does its own sweep after the refill lands.
    await pool.giveBack();
    await Promise.all([pool.take(1), pool.take(150)]);
    assert.equal(pool.local, 99);

    // The caller that started a refill gives up: the whole batch lands in the pool.
    await pool.giveBack();
    const controller = new AbortController();
    const abandoned = pool.take({ n: 3, signal: controller.signal });
    const waiter = pool.take({ n: 1 });
    controller.abort(new Error('gave up'));
    await assert.rejects(abandoned, { message: 'gave up' });
    await waiter;
    assert.equal(pool.local, 99, '100 units came, the waiter took one, none went to the abandoned take');
    assert.equal(await pool.close(), 99);
    assert.equal(await quota.remaining('credits'), 1_000 - (50 + 60 + 1 + 150 + 1), 'units are conserved');
  });
}

test('local batches of 100: Redis calls per 10 000 takes', async (t) => {
  const clients = CLIENTS['ioredis 6'];
  const client = await clients.standalone(standaloneUrl());
  t.after(() => clients.close(client));
  const figures = [];
  for (const buckets of [1, 4]) {
    const quota = new FleetQuota({ client, batch: 100, buckets, prefix: uniquePrefix('pool-calls'), timeout: PATIENT });
    await quota.restock('credits', 30_000);
    // Loaded once, so every call counted is one decision.
    await quota.remaining('credits');

    // One take after another: one call per batch of 100.
    let count = countCalls(client, clients.kind);
    let pool = quota.pool('credits');
    for (let i = 0; i < 10_000; i++) await pool.take();
    assert.equal(await pool.close(), 0, 'nothing left to give back');
    const sequential = count.calls;
    assert.equal(sequential, 100);

    // 16 loops at once: the ones that find the pool dry wait for one refill.
    count = countCalls(client, clients.kind);
    pool = quota.pool('credits');
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        for (let i = 0; i < 10_000 / 16; i++) await pool.take();
      }),
    );
    const returned = await pool.close();
    const concurrent = count.calls;
    assert.ok(concurrent <= 101, `${concurrent} calls`);
    assert.equal(await quota.remaining('credits'), 10_000, 'units are conserved');
    figures.push(`${buckets} bucket${buckets > 1 ? 's' : ''}: ${sequential} one at a time, ${concurrent} from 16 loops at once (${returned} units left to give back)`);
  }
  t.diagnostic(`Redis calls per 10 000 takes with local batches of 100: ${figures.join('; ')}`);
});

test('a pool collected with units in it gives them back', async () => {
  const code = `
    const IORedis = require('ioredis');
    const { FleetQuota } = require('stanchion/redis');
    (async () => {
      const client = new IORedis(process.env.STANCHION_REDIS_URL);
      const quota = new FleetQuota({ client, batch: 50, prefix: ${JSON.stringify(uniquePrefix('pool-gc'))} });
      await quota.restock('seats', 80);
      let pool = quota.pool('seats');
      await pool.take();
      const held = await quota.remaining('seats');
      pool = null;
      let remaining = held;
      while (remaining !== 79) {
        globalThis.gc();
        await new Promise((resolve) => setTimeout(resolve, 10));
        remaining = await quota.remaining('seats');
      }
      console.log(JSON.stringify([held, remaining]));
      client.disconnect();
    })();
  `;
  const result = await runScript(code, { flags: ['--expose-gc'] });
  assert.equal(result.status, 0, result.stderr);
  assert.deepEqual(JSON.parse(result.stdout), [30, 79]);
});

test('defaults are the reference\'s', () => {
  const client = new IORedis({ lazyConnect: true });
  const quota = new FleetQuota({ client });
  assert.equal(quota.buckets, 1);
  assert.equal(quota.batch, 100);
  assert.equal(quota._memory, '600000', 'request ids are remembered for 10 minutes');
  assert.equal(quota.redisKey('sku-42'), 'stanchion:{sku-42:0}:quota');
  assert.equal(quota.startBucket('order-1'), 0);
  assert.equal(new FleetQuota({ client, idMemory: 1.9 })._memory, '1', 'kept in whole milliseconds, rounded down');
  assert.equal(new FleetQuota({ client, idMemory: 2n ** 40n * 1_000_000n })._memory, String(2 ** 40));
  // Every fleet primitive on a client shares its breaker.
  assert.equal(quota.breaker, new FleetQuota({ client, prefix: 'other:' }).breaker);
  client.disconnect();
});

test('bad input is refused with a message naming the option', async () => {
  const client = new IORedis({ lazyConnect: true });
  const make = (options) => new FleetQuota({ client, ...options });
  const quota = make({ buckets: 4 });
  const count = countCalls(client, 'ioredis');
  const nameWords = 'a string of 1 to 1024 bytes (UTF-8), without `{` or `}`';
  const nWords = 'an integer from 1 to 9007199254740991 (2^53 - 1)';
  const idWords = 'a string of 1 to 256 bytes (UTF-8)';

  await assert.rejects(quota.take(''), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE', option: 'name', message: `option \`name\` must be ${nameWords}, got ""` });
  await assert.rejects(quota.take('a{b'), { name: 'RangeError', message: `option \`name\` must be ${nameWords}, got "a{b"` });
  await assert.rejects(quota.restock('k'.repeat(1025), 1), { name: 'RangeError', message: `option \`name\` must be ${nameWords}, got "${'k'.repeat(32)}…" (1025 bytes)` });
  await assert.rejects(quota.remaining(42), { name: 'TypeError', message: `option \`name\` must be ${nameWords}, got 42` });
  await assert.rejects(quota.take('k', 0), { name: 'RangeError', option: 'n', message: `option \`n\` must be ${nWords}, got 0` });
  await assert.rejects(quota.take('k', 1.5), { name: 'RangeError', message: `option \`n\` must be ${nWords}, got 1.5` });
  await assert.rejects(quota.take('k', 2 ** 53), { name: 'RangeError', message: `option \`n\` must be ${nWords}, got 9007199254740992` });
  await assert.rejects(quota.take('k', { n: '1' }), { name: 'TypeError', message: `option \`n\` must be ${nWords}, got "1"` });
  await assert.rejects(quota.restock('k', -1), { name: 'RangeError', option: 'n' });
  await assert.rejects(quota.restock('k'), { name: 'TypeError', message: `option \`n\` is required: it must be ${nWords}` });
  await assert.rejects(quota.take('k', { requestId: '' }), { name: 'RangeError', option: 'requestId', message: `option \`requestId\` must be ${idWords}, got ""` });
  await assert.rejects(quota.take('k', { requestId: 'é'.repeat(129) }), { name: 'RangeError', message: `option \`requestId\` must be ${idWords}, got "${'é'.repeat(32)}…" (258 bytes)` });
  assert.equal(quota.startBucket('é'.repeat(128)), Number(fnv1a('é'.repeat(128)) % 4n), 'an id of 256 bytes is accepted');
  await assert.rejects(quota.take('k', { requestId: 7 }), { name: 'TypeError', message: `option \`requestId\` must be ${idWords}, got 7` });
  await assert.rejects(quota.take('k', { id: 'order-1' }), { name: 'TypeError', message: 'unknown option `id`; did you mean `requestId`?' });
  await assert.rejects(quota.take('k', { m: 1 }), { name: 'TypeError', message: 'unknown option `m`; did you mean `n`?' });
  await assert.rejects(quota.take('k', '1'), { name: 'TypeError', message: 'option `options` must be a number (`n`) or an object { n, requestId, signal }, got "1"' });
  await assert.rejects(quota.take('k', { signal: 'now' }), { name: 'TypeError', option: 'signal' });
  await assert.rejects(quota.bucketRemaining('k', 4), { name: 'RangeError', message: "option `bucket` must be an integer from 0 to 3 (below the quota's `buckets`, 4), got 4" });
  assert.throws(() => quota.redisKey('k', -1), { name: 'RangeError', option: 'bucket' });
  assert.throws(() => quota.pool('a}b'), { name: 'RangeError', option: 'name' });
  const pool = quota.pool('k');
  await assert.rejects(pool.take(0), { name: 'RangeError', message: `option \`n\` must be ${nWords}, got 0` });
  await assert.rejects(pool.take({ requestId: 'x' }), {
    name: 'TypeError',
    message: 'unknown option `requestId`; did you mean `quota.take(name, { n, requestId })` (a pool hands out units it already holds, which no request id can charge)?',
  });
  assert.equal(count.calls, 0, 'no bad call reached Redis');

  assert.throws(() => make({ buckets: 0 }), { name: 'RangeError', option: 'buckets', message: 'option `buckets` must be an integer from 1 to 1024, got 0' });
  assert.throws(() => make({ buckets: 1025 }), { name: 'RangeError', message: 'option `buckets` must be an integer from 1 to 1024, got 1025' });
  assert.throws(() => make({ buckets: 2.5 }), { name: 'RangeError', option: 'buckets' });
  assert.throws(() => make({ buckets: '4' }), { name: 'TypeError', message: 'option `buckets` must be an integer from 1 to 1024, got "4"' });
  assert.ok(make({ buckets: 1024 }));
  const memoryWords = 'a duration of 1 ms to 2^40 ms, kept in whole milliseconds (milliseconds as a number, or nanoseconds as a bigint)';
  assert.throws(() => make({ idMemory: 0.5 }), { name: 'RangeError', option: 'idMemory', message: `option \`idMemory\` must be ${memoryWords}, got 0.5` });
  assert.throws(() => make({ idMemory: 999_999n }), { name: 'RangeError', message: `option \`idMemory\` must be ${memoryWords}, got 999999n` });
  assert.throws(() => make({ idMemory: (2n ** 40n + 1n) * 1_000_000n }), { name: 'RangeError', option: 'idMemory' });
  assert.throws(() => make({ idMemory: -1 }), { name: 'RangeError', option: 'idMemory' });
  assert.throws(() => make({ idMemory: '10m' }), { name: 'TypeError', option: 'idMemory' });
  assert.throws(() => make({ batch: 0 }), { name: 'RangeError', message: `option \`batch\` must be ${nWords}, got 0` });
  assert.throws(() => make({ batch: 2 ** 53 }), { name: 'RangeError', option: 'batch' });
  assert.throws(() => make({ batch: 1.5 }), { name: 'RangeError', option: 'batch' });
  assert.throws(() => make({ batch: null }), { name: 'TypeError', option: 'batch' });
  assert.throws(() => make({ prefix: 'a{b}:' }), { name: 'RangeError', message: 'option `prefix` must be a string of at most 256 bytes, without `{` or `}`, got "a{b}:"' });
  assert.throws(() => make({ timeout: 0 }), { name: 'RangeError', message: 'option `timeout` must be a duration of 1 ns to 1 hour (milliseconds as a number, or nanoseconds as a bigint), got 0' });
  assert.throws(() => new FleetQuota({}), { name: 'TypeError', option: 'client', message: /^option `client` is required/ });
  assert.throws(() => make({ bucket: 4 }), { name: 'TypeError', message: 'unknown option `bucket`; did you mean `buckets`?' });
  assert.throws(() => make({ onUnavailable: 'allow' }), {
    name: 'TypeError',
    message: 'unknown option `onUnavailable`; did you mean to catch FleetUnavailableError (a quota never falls back: while Redis cannot decide, every call rejects with it)?',
  });
  client.disconnect();
});

test('the ES module entry gives the same classes as the CommonJS one', async () => {
  const code = `
    import { FleetQuota, QuotaPool, SoldOutError, FleetError, FleetUnavailableError } from 'stanchion/redis';
    import * as main from 'stanchion';
    import { createRequire } from 'node:module';
    const cjs = createRequire(import.meta.url)('stanchion/redis');
    const same = FleetQuota === cjs.FleetQuota && QuotaPool === cjs.QuotaPool && SoldOutError === main.SoldOutError
      && FleetError === main.FleetError && Object.getPrototypeOf(FleetUnavailableError) === FleetError;
    console.log(same);
  `;
  const result = await runScript(code, { name: 'quota.mjs' });
  assert.equal(result.status, 0, result.stderr);
  assert.equal(result.stdout, 'true\n');
});

test("the README's FleetQuota table lists exactly the options it accepts", () => {
  const text = fs.readFileSync(path.join(__dirname, '..', 'README.md'), 'utf8');
  const start = text.indexOf('\n## Fleet quota on Redis\n');
  assert.ok(start >= 0, 'the README has the section');
  const section = text.slice(start, text.indexOf('\n## ', start + 1));
  const table = section.slice(section.indexOf('| option |'));
  const listed = [...table.matchAll(/^\| `(\w+)` \|/gm)].map((m) => m[1]);
  assert.deepEqual([...listed].sort(), [...NAMES.FleetQuota].sort());
});
