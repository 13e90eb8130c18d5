'use strict';
// A quota when Redis is slow or down: it never falls back. Every call rejects with a
// FleetUnavailableError whose cause is the Redis error (a timeout, a lost connection, or the
// breaker's refusal with the failure that opened it as its own cause); three failures open
// the client's breaker, and while it is open no call reaches Redis, yet a pool keeps handing
// out the units it holds. Once Redis is back a probe closes the breaker. Faults come from a
// TCP proxy that stops answering and from a server this test starts and kills. Nothing here
// asserts how long anything took.
const test = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { once } = require('node:events');
const { setTimeout: sleep } = require('node:timers/promises');
const { FleetQuota, FleetUnavailableError } = require('stanchion/redis');
const { CircuitOpenError, TimeoutError } = require('stanchion');
const { CLIENTS, standaloneUrl, uniquePrefix, countCalls, until, Proxy } = require('./redis-servers');

/**
 * Redis cannot answer: three calls reject, the third opens the breaker, and every call after
 * it rejects without a call to Redis, while the pool serves what it holds. `failure` checks
 * the Redis error. Returns when the breaker lets a probe through, in ms.
 */
async function outage(quota, pool, count, failure) {
  const unavailable = [];
  quota.on('unavailable', (error) => unavailable.push(error));
  // Calls that change nothing of 'sku': a client may still send a timed-out call once it
  // reconnects (ioredis resends them), and the recovery counts the units of 'sku'.
  const calls = [() => quota.take('other'), () => quota.restock('other', 5), () => quota.remaining('sku')];
  for (const [i, call] of calls.entries()) {
    const error = await call().catch((e) => e);
    assert.ok(error instanceof FleetUnavailableError, `call ${i}: got ${error}`);
    assert.equal(error.code, 'ERR_FLEET_UNAVAILABLE');
    assert.equal(error.retryAfter, null);
    assert.match(error.message, /^Redis did not decide: /);
    failure(error.cause);
    assert.equal(unavailable.at(-1), error, 'the `unavailable` event carries the error');
    assert.equal(quota.breaker.state, i < 2 ? 'closed' : 'open', `after ${i + 1} failures`);
  }

  const before = count.calls;
  // The pool hands out the units it holds with no round trip, Redis or not.
  const held = pool.local;
  assert.ok(held >= 5, `the pool holds ${held} units`);
  for (let i = 0; i < held; i++) await pool.take();
  const dry = await pool.take().catch((e) => e);
  assert.ok(dry instanceof FleetUnavailableError, `a dry pool: got ${dry}`);
  const open = await quota.take('sku', { requestId: 'order-1' }).catch((e) => e);
  assert.ok(open instanceof FleetUnavailableError);
  assert.ok(open.cause instanceof CircuitOpenError && open.cause.code === 'ERR_CIRCUIT_OPEN', `cause ${open.cause}`);
  failure(open.cause.cause);
  assert.ok(open.retryAfter > 0 && open.retryAfter <= 1_000, `a probe goes in ${open.retryAfter} ms`);
  for (let i = 0; i < 100; i++) await assert.rejects(quota.take(`k${i}`), FleetUnavailableError);
  assert.equal(count.calls, before, 'no call reached Redis while the breaker was open');
  return open.retryAfter;
}

/**
 * Redis is back: once the open period is over, a probe (through a quota patient enough for a
 * loaded machine, on the same client and so the same breaker) goes through and closes it.
 */
async function recovery({ quota, patient }, count, ready, retryAfter) {
  await until(ready);
  await sleep(retryAfter + 10);
  const before = count.calls;
  assert.equal(await patient.remaining('sku'), 90, 'the units taken before the outage, and none since');
  assert.equal(quota.breaker.state, 'closed');
  assert.ok(count.calls > before);
  assert.deepEqual(await patient.take('sku', { requestId: 'order-1' }), { bucket: 0, remaining: 89, replayed: false });
}

const timedOut = (error) => assert.ok(error instanceof TimeoutError && error.code === 'ERR_TIMEOUT', `expected a timeout, got ${error}`);
// Both clients queue commands while they reconnect, so a lost server ends a call by the
// timeout or by the client's own connection error: either is a failure of the connection.
const connectionLost = (error) => assert.ok(error instanceof Error && error.name !== 'ReplyError', `${error}`);

/** A quota with a short timeout, its stock of 100, and a pool holding 8 units of a batch of 10. */
async function setUp(client, prefix) {
  const quota = new FleetQuota({ client, batch: 10, timeout: 100, prefix });
  const patient = new FleetQuota({ client, prefix, batch: 10, timeout: 10_000 });
  await patient.restock('sku', 100);
  const pool = patient.pool('sku');
  await pool.take();
  await pool.take();
  return { quota, patient, pool };
}

for (const [name, clients] of Object.entries(CLIENTS)) {
  test(`a Redis that stops answering: every call rejects with its cause, the breaker opens, a probe closes it (${name})`, async (t) => {
    const proxy = await new Proxy(standaloneUrl()).start();
    const client = await clients.standalone(proxy.url);
    t.after(async () => {
      clients.close(client);
      await proxy.close();
    });
    const quotas = await setUp(client, uniquePrefix('quota-blackhole'));
    const count = countCalls(client, clients.kind);
    proxy.set('blackhole');
    const retryAfter = await outage(quotas.quota, quotas.pool, count, timedOut);
    proxy.set('forward');
    await recovery(quotas, count, () => clients.ready(client), retryAfter);
  });
}

/** A free loopback port (taken, then given back). */
async function freePort() {
  const server = net.createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A redis-server of this test's own on `port`, saving nothing. */
async function startServer(port, dir) {
  const server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
  await until(
    () =>
      new Promise((resolve) => {
        const socket = net.connect(port, '127.0.0.1', () => {
          socket.end();
          resolve(true);
        });
        socket.on('error', () => resolve(false));
      }),
  );
  return server;
}

test('the server is killed, then started again on its port (ioredis 6, node-redis 6)', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stanchion-quota-'));
  const port = await freePort();
  let server = await startServer(port, dir);
  const url = `redis://127.0.0.1:${port}/`;
  const both = [];
  t.after(async () => {
    for (const { client, clients } of both) clients.close(client);
    if (server.exitCode === null) {
      server.kill();
      await once(server, 'exit');
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });
  for (const name of ['ioredis 6', 'node-redis 6']) {
    const clients = CLIENTS[name];
    const client = await clients.standalone(url);
    both.push({ clients, client, ...(await setUp(client, uniquePrefix('quota-kill'))), count: countCalls(client, clients.kind) });
  }

  server.kill('SIGKILL');
  await once(server, 'exit');
  const waits = [];
  for (const { quota, pool, count } of both) waits.push(await outage(quota, pool, count, connectionLost));

  // A server started again is empty: restock it as an operator would, then probe.
  server = await startServer(port, dir);
  for (const [i, { quota, patient, clients, client, count }] of both.entries()) {
    await until(() => clients.ready(client));
    await sleep(waits[i] + 10);
    const before = count.calls;
    assert.equal(await patient.restock('sku', 90), 90);
    assert.equal(quota.breaker.state, 'closed', 'the probe closed the breaker');
    assert.ok(count.calls > before);
    assert.deepEqual(await patient.take('sku', { requestId: 'order-1' }), { bucket: 0, remaining: 89, replayed: false });
  }
});
