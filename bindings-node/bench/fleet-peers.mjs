// The fleet limiter against the peer Node users reach for, rate-limiter-flexible's
// RateLimiterRedis, on one Redis server through one ioredis client. Prints a Markdown table;
// asserts nothing.
//
//   STANCHION_REDIS_URL=redis://127.0.0.1:6379/ node bench/fleet-peers.mjs [calls]
//
// Each row makes `calls` decisions on one key, awaited one at a time and then 16 in flight,
// at limits of 10, 1 000 and 100 000 per second (at 10 nearly every call is refused, at
// 100 000 every call is a grant). The floor is a bare EVALSHA of a script that returns 1.
import { createRequire } from 'node:module';
import IORedis from 'ioredis';
import { RateLimiterRedis } from 'rate-limiter-flexible';

const require = createRequire(import.meta.url);
const { FleetLimiter } = require('../lib/redis');

const url = process.env.STANCHION_REDIS_URL ?? 'redis://127.0.0.1:6379/';
const calls = Number(process.argv[2] ?? 5000);
const run = `bench:peers:${process.pid}:${Date.now()}:`;

async function measure(call, inFlight) {
  for (let i = 0; i < 200; i++) await call(); // scripts loaded, connection warm
  const times = [];
  let next = 0;
  const start = process.hrtime.bigint();
  const worker = async () => {
    while (next < calls) {
      next++;
      const before = process.hrtime.bigint();
      await call();
      times.push(Number(process.hrtime.bigint() - before));
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  const elapsed = Number(process.hrtime.bigint() - start);
  times.sort((a, b) => a - b);
  const at = (q) => times[Math.min(times.length - 1, Math.floor(times.length * q))] / 1000;
  return `${Math.round(times.length / (elapsed / 1e9)).toLocaleString('en')} | ${at(0.5).toFixed(0)} µs | ${at(0.99).toFixed(0)} µs`;
}

const client = new IORedis(url);
client.defineCommand('floor', { numberOfKeys: 1, lua: 'return 1' });
console.log('| decision | limit/s | in flight | decisions/s | p50 | p99 |');
console.log('| --- | --- | --- | --- | --- | --- |');
for (const inFlight of [1, 16]) {
  console.log(`| bare EVALSHA (floor) | | ${inFlight} | ${await measure(() => client.floor(`${run}floor`), inFlight)} |`);
  for (const limit of [10, 1_000, 100_000]) {
    const ours = new FleetLimiter({ client, capacity: limit, refillAmount: limit, refillEvery: 1_000, prefix: `${run}${inFlight}:${limit}:` });
    const theirs = new RateLimiterRedis({ storeClient: client, points: limit, duration: 1, keyPrefix: `${run}rlf:${inFlight}:${limit}` });
    const shown = limit.toLocaleString('en');
    console.log(`| stanchion FleetLimiter.tryAcquire | ${shown} | ${inFlight} | ${await measure(() => ours.tryAcquire('k'), inFlight)} |`);
    console.log(`| rate-limiter-flexible RateLimiterRedis.consume | ${shown} | ${inFlight} | ${await measure(() => theirs.consume('k').catch(() => {}), inFlight)} |`);
  }
}
client.disconnect();
