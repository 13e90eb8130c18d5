'use strict';
// The natives behind FleetQuota, without Redis: the core's Stock (all or nothing, never below
// zero, units conserved), the ring of buckets (FNV-1a starts, uniform random starts drawn from
// a seed) and the quota's config check, field by field.
const test = require('node:test');
const assert = require('node:assert/strict');
const { NativeStock, NativeQuotaRing, quotaCheckConfig, quotaDefaults } = require('../lib/native');

const MAX = 2 ** 53 - 1;

test('Stock: a take that cannot be met takes nothing, and the count never goes below zero', () => {
  const stock = new NativeStock(3);
  assert.equal(stock.take(4), false);
  assert.equal(stock.available, 3);
  assert.equal(stock.take(2), true);
  assert.equal(stock.take(2), false, 'one left');
  assert.equal(stock.take(0), true, 'take(0) always succeeds');
  assert.equal(stock.add(4), 5);
  assert.equal(stock.drain(), 5);
  assert.equal(stock.drain(), 0);
  assert.equal(stock.available, 0);
  assert.equal(new NativeStock().available, 0);
  assert.equal(new NativeStock(MAX).take(MAX), true);
  for (const bad of [-1, 1.5, NaN, Infinity, 2 ** 53]) {
    assert.throws(() => stock.take(bad), /n must be an integer from 0 to 2\^53 - 1/, `take(${bad})`);
    assert.throws(() => stock.add(bad), /n must be an integer from 0 to 2\^53 - 1/, `add(${bad})`);
  }
  assert.throws(() => new NativeStock(-1), /units must be an integer/);
});

test('Stock: units are conserved across takes, adds and drains', () => {
  const stock = new NativeStock(1_000);
  let taken = 0;
  let added = 0;
  let drained = 0;
  for (let i = 1; i <= 5_000; i++) {
    const n = i % 7;
    if (i % 11 === 0) {
      drained += stock.drain();
    } else if (i % 3 === 0) {
      stock.add(n);
      added += n;
    } else if (stock.take(n)) {
      taken += n;
    }
  }
  assert.equal(taken + drained + stock.available, 1_000 + added);
});

test('the ring: starts by FNV-1a of the id, random starts uniform over every bucket', () => {
  const ring = new NativeQuotaRing(8, 42n);
  assert.equal(ring.start('order-1'), 5, 'FNV-1a of order-1 is 0xdee4809f34bee86d');
  assert.equal(new NativeQuotaRing(1, 0n).start('order-1'), 0);
  const counts = new Array(8).fill(0);
  for (let i = 0; i < 8_000; i++) counts[ring.random()]++;
  assert.ok(counts.every((c) => c > 800), `every bucket drawn about a thousand times: ${counts}`);
  const again = new NativeQuotaRing(8, 42n);
  const other = new NativeQuotaRing(8, 43n);
  const draws = (r) => Array.from({ length: 32 }, () => r.random());
  const fresh = new NativeQuotaRing(8, 42n);
  assert.deepEqual(draws(again), draws(fresh), 'the same seed draws the same starts');
  assert.notDeepEqual(draws(other), draws(new NativeQuotaRing(8, 42n)), 'another seed draws others');
  assert.throws(() => new NativeQuotaRing(0, 1n), /buckets/);
  assert.throws(() => new NativeQuotaRing(1025, 1n), /buckets/);
});

test("the quota's config check names the field out of range, in the reference's order", () => {
  const defaults = quotaDefaults();
  assert.deepEqual(
    { ...defaults },
    { maxBuckets: 1024, maxUnits: MAX, maxRequestIdLen: 256, idMemory: 600_000_000_000n, maxIdMemory: 2n ** 40n * 1_000_000n, batch: 100 },
  );
  const field = (buckets, memory, batch) => {
    try {
      return quotaCheckConfig(buckets, memory, batch);
    } catch (error) {
      return error.message.split('\u001f')[1];
    }
  };
  assert.equal(field(1, 600_000_000_000n, 100), 600_000, 'the id memory in whole milliseconds');
  assert.equal(field(1, 1_999_999n, 1), 1, 'rounded down');
  assert.equal(field(1024, 2n ** 40n * 1_000_000n, MAX), 2 ** 40);
  assert.equal(field(0, 1n, 0), 'buckets');
  assert.equal(field(1025, 1_000_000n, 1), 'buckets');
  assert.equal(field(1, 999_999n, 0), 'id_memory');
  assert.equal(field(1, (2n ** 40n + 1n) * 1_000_000n, 1), 'id_memory');
  for (const batch of [0, 1.5, NaN, 2 ** 53, -1]) assert.equal(field(1, 1_000_000n, batch), 'batch', `batch ${batch}`);
});
