'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { RateLimiter, KeyedRateLimiter, RateLimitedError } = require('..');
const { fakeTime, settle } = require('./fake-time');

test('a new bucket is full; a refusal says when to come back', async (t) => {
  const time = fakeTime(t);
  const limiter = new RateLimiter({ capacity: 2, refillEvery: 500, clock: time.clock });
  assert.equal(limiter.available(), 2);
  assert.deepEqual(limiter.tryAcquire(), { ok: true });
  assert.deepEqual(limiter.tryAcquire(), { ok: true });
  const refusal = limiter.tryAcquire();
  assert.deepEqual(refusal, { ok: false, reason: 'rate_limited', code: 'ERR_RATE_LIMITED', retryAfter: 500 });
  await time.advance(refusal.retryAfter);
  assert.equal(limiter.tryAcquire().ok, true);
});

test('more than the capacity can never pass', () => {
  const limiter = new RateLimiter({ capacity: 3 });
  assert.deepEqual(limiter.tryAcquire(4), { ok: false, reason: 'insufficient_capacity', code: 'ERR_INSUFFICIENT_CAPACITY', retryAfter: null });
});

test('acquire waits on a timer until the reservation is due', async (t) => {
  const time = fakeTime(t);
  const limiter = new RateLimiter({ capacity: 1, refillEvery: 1000, clock: time.clock });
  await limiter.acquire();
  let done = false;
  const waiting = limiter.acquire().then(() => (done = true));
  await time.advance(999);
  assert.equal(done, false);
  await time.advance(1);
  await waiting;
  assert.equal(done, true);
});

test('acquire refuses a wait longer than maxWait and takes nothing', async (t) => {
  const time = fakeTime(t);
  const limiter = new RateLimiter({ capacity: 1, refillEvery: 1000, clock: time.clock });
  await limiter.acquire();
  const refused = await limiter.acquire({ maxWait: 100 }).catch((e) => e);
  assert.ok(refused instanceof RateLimitedError);
  assert.equal(refused.retryAfter, 900);
  assert.equal(limiter.reserve(1).readyAt, time.now + 1000);
});

test('an abort ends the wait at once', async (t) => {
  const time = fakeTime(t);
  const limiter = new RateLimiter({ capacity: 1, refillEvery: 60_000, clock: time.clock });
  limiter.tryAcquire();
  const controller = new AbortController();
  const waiting = limiter.acquire({ signal: controller.signal });
  controller.abort();
  await assert.rejects(waiting, { name: 'AbortError' });
  await assert.rejects(limiter.acquire({ signal: AbortSignal.abort() }), { name: 'AbortError' });
  await settle();
});

test('execute runs the function once a token is there', async () => {
  const limiter = new RateLimiter({ capacity: 1, refillEvery: 60_000 });
  assert.equal(await limiter.execute(() => 'ran'), 'ran');
  await assert.rejects(limiter.execute(() => 'not run', { maxWait: 0 }), { code: 'ERR_RATE_LIMITED' });
});

test('snapshot is a plain object', (t) => {
  const time = fakeTime(t);
  const limiter = new RateLimiter({ capacity: 2, refillEvery: 100, clock: time.clock });
  assert.deepEqual(limiter.snapshot(), { available: 2, capacity: 2, nextTokenAt: null, fullAt: time.now });
  limiter.tryAcquire();
  assert.deepEqual(limiter.snapshot(), { available: 1, capacity: 2, nextTokenAt: time.now + 100, fullAt: time.now + 100 });
});

test('invalid limiter options name the option', () => {
  assert.throws(() => new RateLimiter({ capacity: 0 }), { name: 'RangeError', message: /`capacity`/ });
  assert.throws(() => new RateLimiter({}), { name: 'TypeError', message: /`capacity`/ });
  assert.throws(() => new RateLimiter({ capacity: 1, refillEvery: -1 }), { name: 'RangeError', message: /`refillEvery`/ });
  assert.throws(() => new RateLimiter({ capacity: 1, refillAmount: 0 }), { name: 'RangeError', message: /`refillAmount`/ });
  assert.throws(() => new RateLimiter({ capacity: 1 }).tryAcquire(1.5), { name: 'RangeError', message: /`n`/ });
});

test('keyed: keys have their own buckets; strings, numbers and bigints are keys', (t) => {
  const time = fakeTime(t);
  const limiter = new KeyedRateLimiter({ capacity: 1, refillEvery: 1000, clock: time.clock });
  assert.equal(limiter.maxKeys, 1024);
  assert.equal(limiter.tryAcquire('alice').ok, true);
  assert.equal(limiter.tryAcquire('alice').reason, 'rate_limited');
  assert.equal(limiter.tryAcquire('bob').ok, true);
  assert.equal(limiter.tryAcquire(7).ok, true);
  assert.equal(limiter.tryAcquire(7n).reason, 'rate_limited', 'the number 7 and the bigint 7 are one key');
  assert.equal(limiter.activeKeys(), 3);
  assert.equal(limiter.available('carol'), 1);
});

test('keyed: a full table refuses new keys, or admits them with whenFull: admit', () => {
  const reject = new KeyedRateLimiter({ capacity: 1, refillEvery: 1000, maxKeys: 1, clock: () => 0 });
  reject.tryAcquire('a');
  assert.equal(reject.tryAcquire('b').code, 'ERR_KEY_TABLE_FULL');
  const admit = new KeyedRateLimiter({ capacity: 1, refillEvery: 1000, maxKeys: 1, whenFull: 'admit', clock: () => 0 });
  admit.tryAcquire('a');
  assert.equal(admit.tryAcquire('b').ok, true);
});

test('keyed: maxKeys is the exact table size, one the addon offers', () => {
  assert.equal(new KeyedRateLimiter({ capacity: 1 }).maxKeys, 1024);
  for (const size of [1, 3, 5, 7, 16, 32, 1024, 65536]) assert.equal(new KeyedRateLimiter({ capacity: 1, maxKeys: size }).maxKeys, size);
  const sizes = 'an integer from 1 to 16, or a power of two from 32 to 65536';
  assert.throws(() => new KeyedRateLimiter({ capacity: 1, maxKeys: 1000 }), { name: 'RangeError', message: `option \`maxKeys\` must be ${sizes}, got 1000` });
  assert.throws(() => new KeyedRateLimiter({ capacity: 1, maxKeys: 65537 }), { name: 'RangeError', message: /`maxKeys`/ });
  assert.throws(() => new KeyedRateLimiter({ capacity: 1, whenFull: 'drop' }), { name: 'TypeError', message: /`whenFull`/ });
  assert.throws(() => new KeyedRateLimiter({ capacity: 1 }).tryAcquire({}), { name: 'TypeError', message: /`key`/ });
  assert.throws(() => new KeyedRateLimiter({ capacity: 1 }).tryAcquire(-1), { name: 'RangeError', message: /`key`/ });
});

test('keyed: acquire waits per key', async (t) => {
  const time = fakeTime(t);
  const limiter = new KeyedRateLimiter({ capacity: 1, refillEvery: 200, clock: time.clock });
  await limiter.acquire('k');
  let done = false;
  const waiting = limiter.acquire('k').then(() => (done = true));
  await limiter.acquire('other');
  await time.advance(199);
  assert.equal(done, false);
  await time.advance(1);
  await waiting;
});
