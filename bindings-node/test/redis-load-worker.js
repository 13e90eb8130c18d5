'use strict';
// One process of the load test (redis-load.test.js): connects, says so, and on `go` hammers
// one key of a FleetLimiter for `duration` ms with the client `name`, awaiting each call; then
// reports its counts.
const { once } = require('node:events');
const { FleetLimiter } = require('stanchion/redis');
const { CLIENTS } = require('./redis-servers');

async function main() {
  const { name, url, prefix, key, duration, capacity, refillAmount, refillEvery } = JSON.parse(process.argv[2]);
  const clients = CLIENTS[name];
  const client = await clients.standalone(url);
  // A timeout this long is no bound on the run: any call that needed it is an error here.
  const limiter = new FleetLimiter({ client, capacity, refillAmount, refillEvery, prefix, timeout: 5_000 });
  const counts = { grants: 0, refusals: 0, errors: [] };
  process.send('ready');
  await once(process, 'message');
  const end = Date.now() + duration;
  while (Date.now() < end) {
    try {
      const answer = await limiter.tryAcquire(key);
      if (answer.fallback) counts.errors.push('Redis did not decide');
      else if (answer.ok) counts.grants++;
      else counts.refusals++;
    } catch (error) {
      counts.errors.push(String(error));
    }
  }
  clients.close(client);
  process.send(counts);
}

main().catch((error) => {
  process.send({ grants: 0, refusals: 0, errors: [String(error)] });
});
