'use strict';
// One process of the lease tests (redis-lock.test.js, redis-semaphore.test.js): connects with
// the client `client`, says `ready`, and on `go` does its task:
//
// - `counter`: `iterations` times, under the lock, reads a counter key and writes it back plus
//   one (a read-modify-write that loses updates unless the lock excludes), logging the fence
//   and the monotonic clock (shared by every process of the machine) when the critical section
//   starts and ends;
// - `semaphore`: `iterations` slots of a semaphore, retrying while it is full, each held for a
//   few ms, logging when it starts and ends and how many leases the server counts meanwhile;
// - `hold`: takes the lock with its keeper running and reports `held`; then reports the loss
//   the moment it happens, and on messages writes to a fenced resource (`write`), releases
//   (`release`) or exits (`exit`).
const { once } = require('node:events');
const { setTimeout: sleep } = require('node:timers/promises');
const { FleetLock, FleetSemaphore } = require('stanchion/redis');
const { CLIENTS } = require('./redis-servers');

// Sets the resource to the fence if it is larger than every fence it took before.
const FENCED_WRITE = "if tonumber(redis.call('GET', KEYS[1]) or '0') < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1]) return 1 end return 0";

async function main() {
  const task = JSON.parse(process.argv[2]);
  const clients = CLIENTS[task.client];
  const client = await clients.standalone(task.url);
  const raw = (...words) => (clients.kind === 'ioredis' ? client.call(...words) : client.sendCommand(words.map(String)));
  const now = () => process.hrtime.bigint().toString();

  if (task.kind === 'hold') {
    const lock = new FleetLock({ client, ttl: task.ttl, prefix: task.prefix });
    const lease = await lock.acquire(task.name);
    lease.on('lost', (error) => process.send({ lost: error.lost, code: error.code, aborted: lease.signal.aborted, reason: lease.signal.reason?.code }));
    process.send({ held: lease.fence, token: lease.token });
    for (;;) {
      const [message] = await once(process, 'message');
      if (message.write !== undefined) process.send({ written: await raw('EVAL', FENCED_WRITE, 1, message.write, lease.fence) });
      else if (message === 'release') process.send({ released: await lease.release() });
      else if (message === 'exit') break;
    }
    clients.close(client);
    return;
  }

  process.send('ready');
  await once(process, 'message');
  const log = [];
  const errors = [];
  if (task.kind === 'counter') {
    const lock = new FleetLock({ client, ttl: task.ttl, prefix: task.prefix, wait: Infinity });
    for (let i = 0; i < task.iterations; i++) {
      try {
        await lock.using(task.name, async (signal, lease) => {
          const start = now();
          const value = Number(await raw('GET', task.counter));
          await raw('SET', task.counter, value + 1);
          log.push([lease.fence, start, now()]);
        });
      } catch (error) {
        errors.push(String(error));
      }
    }
  } else if (task.kind === 'semaphore') {
    const semaphore = new FleetSemaphore({ client, limit: task.limit, ttl: task.ttl, prefix: task.prefix });
    const key = semaphore.redisKey(task.name);
    for (let done = 0; done < task.iterations; ) {
      try {
        await semaphore.using(task.name, async (signal, lease) => {
          const start = now();
          const counted = Number(await raw('ZCARD', key));
          await sleep(3);
          log.push([start, now(), lease.holders, counted]);
        });
        done++;
      } catch (error) {
        if (error.code === 'ERR_BULKHEAD_FULL') await sleep(1 + Math.random() * 3);
        else {
          errors.push(String(error));
          done++;
        }
      }
    }
  }
  clients.close(client);
  process.send({ log, errors });
}

main().catch((error) => {
  process.send({ log: [], errors: [String(error?.stack ?? error)] });
});
