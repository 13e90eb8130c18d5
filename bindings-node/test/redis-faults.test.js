'use strict';
// When Redis is slow or down: every call ends by its timeout, each onUnavailable policy
// answers, three failures open the connection's breaker, no call reaches Redis while it is
// open, and once Redis is back a probe goes through and closes it. Faults come from a TCP
// proxy that stops answering or resets connections, and from killing a server of the test
// script's (`STANCHION_REDIS_VICTIM_*`), which is then started again on its port. Nothing
// here asserts how long anything took: a call that never ended would fail the test by its
// timeout.
const test = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const { setTimeout: sleep } = require('node:timers/promises');
const { FleetLimiter, FleetUnavailableError } = require('stanchion/redis');
const { CircuitOpenError, TimeoutError } = require('stanchion');
const { CLIENTS, standaloneUrl, uniquePrefix, countCalls, until, Proxy, env, hostPort } = require('./redis-servers');

/** Four limiters on one client (so one breaker), one per policy, with short timeouts. */
function limiters(client, prefix) {
  const common = { client, capacity: 2, refillEvery: 1_000, timeout: 100, prefix };
  return {
    raise: new FleetLimiter({ ...common }),
    allow: new FleetLimiter({ ...common, onUnavailable: 'allow' }),
    deny: new FleetLimiter({ ...common, onUnavailable: 'deny' }),
    // Half of a burst of 2 at 1/s: 1 token, refilled every 2 s.
    local: new FleetLimiter({ ...common, onUnavailable: 'local', localShare: 0.5 }),
    // Patient, for the calls that must reach Redis while it is up.
    patient: new FleetLimiter({ ...common, timeout: 10_000 }),
  };
}

/**
 * Redis is unreachable: three calls fail by the policies of their limiters, the third opens the
 * breaker, and every call after it is answered without a call to Redis. `failure` checks the
 * error a call failed with.
 */
async function outage(l, count, failure) {
  const breaker = l.raise.breaker;
  const unavailable = [];
  l.raise.on('unavailable', (error) => unavailable.push(error));

  const raised = await l.raise.tryAcquire('k').catch((e) => e);
  assert.ok(raised instanceof FleetUnavailableError, `raise: got ${raised}`);
  assert.equal(raised.code, 'ERR_FLEET_UNAVAILABLE');
  assert.equal(raised.retryAfter, null);
  failure(raised.cause);
  assert.equal(unavailable[0], raised, "the `unavailable` event carries the error");

  assert.deepEqual(await l.allow.tryAcquire('k', 2), { ok: true, allowed: true, remaining: 0, retryAfter: null, resetAfter: 0, fallback: true });
  assert.equal(breaker.state, 'closed', 'two failures do not open it');
  const denied = await l.deny.tryAcquire('k');
  assert.deepEqual(denied, { ok: false, allowed: false, reason: 'rate_limited', code: 'ERR_RATE_LIMITED', remaining: 0, retryAfter: null, resetAfter: 0, fallback: true });
  assert.equal(breaker.state, 'open', 'the third failure in a row opens it');

  const before = count.calls;
  assert.deepEqual(await l.local.tryAcquire('k'), { ok: true, allowed: true, remaining: 0, retryAfter: null, resetAfter: 0, fallback: true });
  const local = await l.local.tryAcquire('k');
  assert.equal(local.ok, false);
  assert.equal(local.fallback, true);
  assert.ok(local.retryAfter > 0 && local.retryAfter <= 2_000, `the local stand-in refills 1 per 2 s: retryAfter ${local.retryAfter}`);
  const error = await l.local.execute('k', () => 'ran').catch((e) => e);
  assert.equal(error.code, 'ERR_RATE_LIMITED');
  assert.equal(error.fallback, true);
  assert.equal(await l.allow.execute('k', () => 'ran'), 'ran');
  assert.equal((await l.allow.peek('k')).fallback, true);
  assert.equal((await l.deny.peek('k')).ok, false);
  // A peek asks the local stand-in whether it holds the tokens, taking none (the core's
  // fleet::fallback_peek): its one token is spent, and two are more than it ever holds.
  const refused = { ok: false, allowed: false, remaining: 0, retryAfter: null, resetAfter: 0, fallback: true };
  assert.deepEqual(await l.local.peek('k'), { ...refused, reason: 'rate_limited', code: 'ERR_RATE_LIMITED' });
  assert.deepEqual(await l.local.peek('k', 2), { ...refused, reason: 'insufficient_capacity', code: 'ERR_INSUFFICIENT_CAPACITY' });
  await assert.rejects(l.deny.execute('k', () => 'ran'), { code: 'ERR_RATE_LIMITED', retryAfter: null, fallback: true });
  const open = await l.raise.tryAcquire('k').catch((e) => e);
  assert.ok(open instanceof FleetUnavailableError);
  assert.ok(open.cause instanceof CircuitOpenError && open.cause.code === 'ERR_CIRCUIT_OPEN', `cause ${open.cause}`);
  failure(open.cause.cause);
  assert.ok(open.retryAfter > 0 && open.retryAfter <= 1_000, `a probe goes in ${open.retryAfter} ms`);
  for (let i = 0; i < 100; i++) await l.allow.tryAcquire(`k${i}`);
  assert.equal(count.calls, before, 'no call reached Redis while the breaker was open');
  return open.retryAfter;
}

/** Redis is back: once the open period is over, one probe goes through and closes the breaker. */
async function recovery(l, count, ready, retryAfter) {
  await until(ready);
  await sleep(retryAfter + 10);
  const before = count.calls;
  const probe = await l.patient.tryAcquire('after');
  assert.equal(probe.fallback, false, 'Redis decided the probe');
  assert.equal(probe.remaining, 1);
  assert.equal(l.patient.breaker.state, 'closed');
  assert.ok(count.calls > before);
  assert.equal((await l.raise.tryAcquire('after')).remaining, 0);
}

const timedOut = (error) => assert.ok(error instanceof TimeoutError && error.code === 'ERR_TIMEOUT', `expected a timeout, got ${error}`);

for (const [name, clients] of Object.entries(CLIENTS)) {
  test(`a Redis that stops answering: timeouts, each policy, the breaker, a probe (${name})`, async (t) => {
    const proxy = await new Proxy(standaloneUrl()).start();
    const client = await clients.standalone(proxy.url);
    t.after(async () => {
      clients.close(client);
      await proxy.close();
    });
    const l = limiters(client, uniquePrefix('blackhole'));
    assert.equal((await l.patient.tryAcquire('k')).fallback, false);
    const count = countCalls(client, clients.kind);

    proxy.set('blackhole');
    const retryAfter = await outage(l, count, timedOut);
    proxy.set('forward');
    await recovery(l, count, () => clients.ready(client), retryAfter);
  });
}

test('an abandoned call frees its breaker permit when its timeout ends it, recording nothing', async (t) => {
  const clients = CLIENTS['node-redis 6'];
  const proxy = await new Proxy(standaloneUrl()).start();
  const client = await clients.standalone(proxy.url);
  t.after(async () => {
    clients.close(client);
    await proxy.close();
  });
  const prefix = uniquePrefix('abort');
  const limiter = new FleetLimiter({ client, capacity: 1, timeout: 100, prefix });
  await new FleetLimiter({ client, capacity: 1, timeout: 10_000, prefix }).tryAcquire('k');
  proxy.set('blackhole');
  const controller = new AbortController();
  const pending = limiter.tryAcquire('k', { signal: controller.signal });
  controller.abort(new Error('caller gave up'));
  await assert.rejects(pending, { message: 'caller gave up' });
  // The call itself still ends by its timeout, and the breaker gets its permit back.
  await sleep(150);
  assert.deepEqual([limiter.breaker.snapshot().failures, limiter.breaker.snapshot().calls], [0, 1]);
  const error = await limiter.tryAcquire('k').catch((e) => e);
  timedOut(error.cause);
  assert.equal(limiter.breaker.snapshot().failures, 1);
});

test('connections reset: each policy answers and the breaker opens (ioredis 6, node-redis 6)', async (t) => {
  for (const name of ['ioredis 6', 'node-redis 6']) {
    const clients = CLIENTS[name];
    const proxy = await new Proxy(standaloneUrl()).start();
    const client = await clients.standalone(proxy.url);
    t.after(async () => {
      clients.close(client);
      await proxy.close();
    });
    const l = limiters(client, uniquePrefix('refuse'));
    assert.equal((await l.patient.tryAcquire('k')).fallback, false);
    const count = countCalls(client, clients.kind);
    proxy.set('refuse');
    // Both clients queue commands while they reconnect, so a reset ends in the timeout or in
    // the client's own connection error: either is a failure of the connection.
    const retryAfter = await outage(l, count, (error) => assert.ok(error instanceof Error && error.name !== 'ReplyError', `${error}`));
    proxy.set('forward');
    await recovery(l, count, () => clients.ready(client), retryAfter);
  }
});

test('the server is killed, then started again on its port', async (t) => {
  const url = env('STANCHION_REDIS_VICTIM_URL');
  const pid = Number(env('STANCHION_REDIS_VICTIM_PID'));
  const pidfile = env('STANCHION_REDIS_VICTIM_PIDFILE');
  const { port } = hostPort(url);
  const io = await CLIENTS['ioredis 6'].standalone(url);
  const nr = await CLIENTS['node-redis 6'].standalone(url);
  let restarted;
  t.after(() => {
    CLIENTS['ioredis 6'].close(io);
    CLIENTS['node-redis 6'].close(nr);
    restarted?.kill();
  });
  const both = [
    { client: io, clients: CLIENTS['ioredis 6'] },
    { client: nr, clients: CLIENTS['node-redis 6'] },
  ].map((c) => ({ ...c, l: limiters(c.client, uniquePrefix('kill')) }));
  for (const { l } of both) assert.equal((await l.patient.tryAcquire('k')).fallback, false);
  const counts = both.map(({ client, clients }) => countCalls(client, clients.kind));

  process.kill(pid, 'SIGKILL');
  await until(() => {
    try {
      process.kill(pid, 0);
      return false;
    } catch {
      return true;
    }
  });
  const connectionLost = (error) => assert.ok(error instanceof Error && error.name !== 'ReplyError', `${error}`);
  const waits = [];
  for (const [i, { l }] of both.entries()) waits.push(await outage(l, counts[i], connectionLost));

  // The script's temporary folder holds the pid file, so the script stops this server too.
  restarted = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--pidfile', pidfile], {
    stdio: 'ignore',
    cwd: require('node:path').dirname(pidfile),
  });
  await until(() => fs.existsSync(pidfile));
  for (const [i, { l, client, clients }] of both.entries()) {
    await recovery(l, counts[i], () => clients.ready(client), waits[i]);
  }
});
