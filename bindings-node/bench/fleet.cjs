// Per-call cost of stanchion/redis's FleetLimiter, awaited call after call: a decision by
// Redis (one EVALSHA) with each client, and the answer while the connection's breaker is open
// (no call made), by 'allow' and by 'raise'. The median of 5 rounds; nothing is asserted.
// The clients are the package's devDependencies; the server is any Redis 7:
//
//   STANCHION_REDIS_URL=redis://127.0.0.1:6379/ node bench/fleet.cjs
const { FleetLimiter } = require('../lib/redis');
const IORedis = require('ioredis');
const { createClient } = require('redis');

async function median(fn, calls) {
  const rounds = [];
  for (let r = 0; r < 5; r++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < calls; i++) await fn();
    rounds.push(Number(process.hrtime.bigint() - start) / calls);
  }
  return rounds.sort((a, b) => a - b)[2];
}

(async () => {
  const url = process.env.STANCHION_REDIS_URL ?? 'redis://127.0.0.1:6379/';
  const io = new IORedis(url);
  const nr = createClient({ url });
  await nr.connect();
  for (const [name, client] of [['ioredis', io], ['node-redis', nr]]) {
    // A rate no call refuses: every call is a grant and a write.
    const limiter = new FleetLimiter({ client, capacity: 1_000_000, refillAmount: 1_000_000, refillEvery: 1_000, prefix: `bench:${process.pid}:` });
    console.log(`decided by Redis (${name}): ${((await median(() => limiter.tryAcquire('k'), 5_000)) / 1_000).toFixed(1)} µs`);
  }
  const down = new IORedis({ lazyConnect: true });
  const allow = new FleetLimiter({ client: down, capacity: 1, onUnavailable: 'allow' });
  const raise = new FleetLimiter({ client: down, capacity: 1 });
  allow.breaker.forceOpen();
  console.log(`breaker open, 'allow': ${((await median(() => allow.tryAcquire('k'), 100_000)) / 1_000).toFixed(2)} µs`);
  console.log(`breaker open, 'raise': ${((await median(() => raise.tryAcquire('k').catch(() => {}), 100_000)) / 1_000).toFixed(2)} µs`);
  io.disconnect();
  await nr.close();
  down.disconnect();
})();
