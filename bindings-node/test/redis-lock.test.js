'use strict';
// The fleet lock against the live standalone server: one holder at a time, fences that grow,
// release and extend by token, the errors, waiting, the keeper (work longer than the lease,
// a renewal in flight at the release, none after it), a holder stopped past its lease
// (SIGSTOP) or killed (SIGKILL), and eight processes incrementing one counter under the lock.
// Nothing asserts how long anything took: the tests wait for expiries, and a call that never
// ended would fail by the test's timeout.
const test = require('node:test');
const assert = require('node:assert/strict');
const { inspect } = require('node:util');
const { setTimeout: sleep } = require('node:timers/promises');
const { FleetLock, FleetSemaphore, LockError, StanchionError } = require('stanchion/redis');
const { CLIENTS, standaloneUrl, clusterUrls, uniquePrefix, until } = require('./redis-servers');
const { spyOps, serverMillis, untilServer, worker, readmeOptions, typedOptions } = require('./redis-lease-helpers');
const { NAMES } = require('../lib/options');
const { runScript } = require('./scripts');

const BOTH = ['ioredis 6', 'node-redis 6'];

async function connect(t, name, url = standaloneUrl()) {
  const clients = CLIENTS[name];
  const client = await clients.standalone(url);
  t.after(() => clients.close(client));
  return client;
}

/** An ioredis client for reading and writing keys behind the lock's back. */
const helperOf = (t) => connect(t, 'ioredis 6');

for (const name of BOTH) {
  test(`one holder at a time; fences grow; release and extend only with the token (${name})`, async (t) => {
    const client = await connect(t, name);
    const helper = await helperOf(t);
    const lock = new FleetLock({ client, ttl: 2_000, prefix: uniquePrefix('lock') });
    const keys = lock.redisKeys('job');

    const first = await lock.acquire('job', { keep: false });
    assert.equal(await helper.get(keys.lock), first.token);
    assert.match(first.token, /^[0-9a-f]{32}$/);
    assert.ok(Number.isSafeInteger(first.fence) && first.fence > 0, `fence ${first.fence}`);
    assert.equal(first.ttl, 2_000);
    assert.equal(first.validity, 2_000);
    assert.equal(first.held, true);
    assert.equal(first.keeper, null);
    assert.equal(String(await helper.get(keys.fence)), String(first.fence));

    const held = await lock.acquire('job').catch((e) => e);
    assert.ok(held instanceof LockError && held instanceof StanchionError, `got ${held}`);
    assert.equal(held.code, 'ERR_LOCK_HELD');
    assert.equal(held.reason, 'lock_held');
    assert.ok(held.retryAfter > 0 && held.retryAfter <= 2_000, `retryAfter ${held.retryAfter}`);
    assert.match(held.message, /^the lock "job" is held by another holder for up to \d+ ms$/);
    assert.equal(await helper.get(keys.lock), first.token, 'a refused acquire changes nothing');

    // extend sets the remaining time; it never adds to it.
    assert.equal(await first.extend(10_000), true);
    const long = await helper.pttl(keys.lock);
    assert.ok(long > 2_000 && long <= 10_000, `PTTL ${long}`);
    assert.equal(await first.extend(500), true);
    assert.ok((await helper.pttl(keys.lock)) <= 500);
    assert.equal(await first.renew(), true);
    assert.ok((await helper.pttl(keys.lock)) > 500);

    assert.equal(await first.release(), true);
    assert.equal(first.held, false);
    assert.equal(await helper.get(keys.lock), null);
    assert.equal(await first.release(), true, 'a second call answers as the first');

    const second = await lock.acquire('job');
    assert.ok(second.fence > first.fence, `${second.fence} > ${first.fence}`);
    assert.notEqual(second.token, first.token);
    assert.equal(second.keeper, 'keeping');
    // The first holder's token no longer holds anything: extending it fails and loses it.
    const stale = await lock.acquire('other', { keep: false });
    await stale.release();
    assert.equal(await stale.extend(), false);
    assert.equal(stale.signal.aborted, true);
    assert.equal(stale.signal.reason.code, 'ERR_LEASE_LOST');
    assert.equal(stale.signal.reason.lost, 'gone');
    assert.equal(await second.release(), true);
    assert.equal(second.keeper, 'stopped');
    assert.equal(await helper.exists(keys.lock), 0);
    assert.equal(String(await helper.get(keys.fence)), String(second.fence), 'the fence key stays');
  });
}

test('using: the value when held throughout, released after; an error of the work is passed on, released too', async (t) => {
  const client = await connect(t, 'node-redis 6');
  const helper = await helperOf(t);
  const lock = new FleetLock({ client, ttl: 1_000, prefix: uniquePrefix('using') });
  const keys = lock.redisKeys('job');
  const seen = [];
  const value = await lock.using('job', async (signal, lease) => {
    seen.push(signal instanceof AbortSignal, signal.aborted, lease.fence > 0, await helper.get(keys.lock) === lease.token);
    return 'done';
  });
  assert.equal(value, 'done');
  assert.deepEqual(seen, [true, false, true, true]);
  assert.equal(await helper.exists(keys.lock), 0);

  await assert.rejects(
    lock.using('job', () => {
      throw new Error('work failed');
    }),
    { message: 'work failed' },
  );
  assert.equal(await helper.exists(keys.lock), 0, 'released after a failure');

  // Held by another: the work never runs.
  const other = await lock.acquire('job', { keep: false });
  let ran = false;
  await assert.rejects(
    lock.using('job', () => {
      ran = true;
    }),
    { code: 'ERR_LOCK_HELD' },
  );
  assert.equal(ran, false);
  await other.release();

  // The caller's signal: an abort rejects at once, the work's signal aborts, and the lock is
  // released once the work settles, not before.
  const controller = new AbortController();
  let finish;
  const working = new Promise((resolve) => {
    finish = resolve;
  });
  let workSignal;
  const pending = lock.using(
    'job',
    async (signal) => {
      workSignal = signal;
      controller.abort(new Error('caller gave up'));
      await working;
    },
    { signal: controller.signal },
  );
  await assert.rejects(pending, { message: 'caller gave up' });
  assert.equal(workSignal.aborted, true);
  assert.notEqual(await helper.get(keys.lock), null, 'still held while the work runs');
  finish();
  await until(async () => (await helper.exists(keys.lock)) === 0);
});

test('waiting: until the holder releases, a bounded number of attempts, ERR_LOCK_WAIT_TIMEOUT, an abort', async (t) => {
  const client = await connect(t, 'ioredis 6');
  const helper = await helperOf(t);
  const prefix = uniquePrefix('wait');
  const lock = new FleetLock({ client, ttl: 10_000, prefix });
  const keys = lock.redisKeys('job');
  const spy = spyOps(client, 'ioredis');

  const holder = await lock.acquire('job', { keep: false });
  const waiting = lock.acquire('job', { wait: 10_000 });
  await sleep(500);
  setImmediate(() => holder.release());
  const taken = await waiting;
  assert.ok(taken.fence > holder.fence);
  await taken.release();
  const attempts = spy.ops.filter((op) => op === 'acquire').length - 1;
  // The backoff grows from 10 ms to 200 ms: a loop that did not wait would make thousands.
  t.diagnostic(`${attempts} attempts while waiting about 500 ms`);
  assert.ok(attempts >= 2 && attempts < 100, `${attempts} attempts`);

  const blocker = await lock.acquire('job', { keep: false });
  const timedOut = await lock.acquire('job', { wait: 150 }).catch((e) => e);
  assert.ok(timedOut instanceof LockError, `got ${timedOut}`);
  assert.equal(timedOut.code, 'ERR_LOCK_WAIT_TIMEOUT');
  assert.equal(timedOut.reason, 'lock_wait_timeout');
  assert.equal(timedOut.retryAfter, null);
  assert.ok(timedOut.waited >= 0);
  assert.match(timedOut.message, /^the lock "job" was still held by another holder after waiting [\d.]+ ms$/);
  // The lock's own `wait` is the default of each acquire.
  const patient = new FleetLock({ client, ttl: 10_000, prefix, wait: 100 });
  await assert.rejects(patient.acquire('job'), { code: 'ERR_LOCK_WAIT_TIMEOUT' });
  await assert.rejects(patient.acquire('job', { wait: 0 }), { code: 'ERR_LOCK_HELD' });

  const controller = new AbortController();
  const aborted = lock.acquire('job', { wait: Infinity, signal: controller.signal });
  setTimeout(() => controller.abort(new Error('stop waiting')), 50);
  await assert.rejects(aborted, { message: 'stop waiting' });
  assert.equal(await helper.get(keys.lock), blocker.token);
  await blocker.release();

  // A lease that lapses is waited out too: its holder never releases.
  const lapsing = new FleetLock({ client, ttl: 300, prefix });
  const lapsed = await lapsing.acquire('lapse', { keep: false });
  const next = await lapsing.acquire('lapse', { wait: 5_000 });
  assert.ok(next.fence > lapsed.fence);
  assert.equal(await lapsed.release(), false, "the lapsed holder's release deletes nothing");
  assert.equal(await helper.get(lapsing.redisKeys('lapse').lock), next.token);
  await next.release();
});

for (const name of BOTH) {
  test(`a release waits for the renewal in flight, and no renewal follows it (${name})`, async (t) => {
    const client = await connect(t, name);
    const helper = await helperOf(t);
    const spy = spyOps(client, CLIENTS[name].kind);
    // Renewed every 100 ms.
    const lock = new FleetLock({ client, ttl: 300, prefix: uniquePrefix('inflight') });
    const lease = await lock.acquire('job');
    spy.hold('extend');
    await until(() => spy.held === 1);
    const releasing = lease.release();
    let released;
    releasing.then((value) => {
      released = value;
    });
    // The release waits for the renewal: nothing is sent while it is held back.
    await sleep(50);
    assert.equal(released, undefined, 'the release waits for the renewal in flight');
    assert.equal(spy.ops.at(-1), 'acquire');
    spy.open();
    assert.equal(await releasing, true);
    assert.deepEqual(spy.ops, ['acquire', 'extend', 'release']);
    assert.equal(await helper.exists(lock.redisKeys('job').lock), 0);
    // Five renewal periods later, still nothing.
    await sleep(500);
    assert.deepEqual(spy.ops, ['acquire', 'extend', 'release'], 'no renewal after the release');
    assert.equal(lease.keeper, 'stopped');
  });
}

test('watchdog: work lasting 5× the lease keeps the lock; a contender is refused meanwhile; nothing is renewed after', async (t) => {
  const client = await connect(t, 'ioredis 6');
  const helper = await helperOf(t);
  const spy = spyOps(client, 'ioredis');
  const ttl = 200;
  const prefix = uniquePrefix('watchdog');
  const lock = new FleetLock({ client, ttl, prefix });
  const contender = new FleetLock({ client: helper, ttl, prefix });
  const keys = lock.redisKeys('job');
  const started = await serverMillis(helper);
  const refusals = [];
  const fence = await lock.using('job', async (signal, lease) => {
    // Until 5 lease times have passed on the server's clock.
    while ((await serverMillis(helper)) < started + 5 * ttl) {
      refusals.push((await contender.acquire('job').catch((e) => e)).code);
      assert.equal(signal.aborted, false);
      await sleep(ttl / 2);
    }
    assert.equal(await helper.get(keys.lock), lease.token);
    return lease.fence;
  });
  assert.ok(fence > 0);
  assert.ok(refusals.length >= 5 && refusals.every((code) => code === 'ERR_LOCK_HELD'), refusals.join());
  // A lease outlasting five of its times was renewed at least four times.
  const renewals = spy.ops.filter((op) => op === 'extend').length;
  assert.ok(renewals >= 4, `${renewals} renewals over 5 lease times`);
  const after = spy.ops.length;
  await sleep(3 * ttl);
  assert.equal(spy.ops.length, after, 'no call after the release');
  assert.equal(spy.ops.at(-1), 'release');
});

test('a holder stopped past its lease (SIGSTOP) loses it: a larger fence for the next, its signal aborts, its late release and write are refused', async (t) => {
  const helper = await helperOf(t);
  const prefix = uniquePrefix('sigstop');
  const ttl = 300;
  const holder = worker(t, { kind: 'hold', client: 'node-redis 6', url: standaloneUrl(), prefix, name: 'job', ttl });
  const { held: staleFence, token } = await holder.next();
  assert.ok(staleFence > 0);
  const lock = new FleetLock({ client: helper, ttl: 5_000, prefix });
  const keys = lock.redisKeys('job');
  assert.equal(await helper.get(keys.lock), token);

  holder.child.kill('SIGSTOP');
  // Paused, it renews nothing: the lease runs out on the server's clock.
  await until(async () => (await helper.exists(keys.lock)) === 0);
  const next = await lock.acquire('job', { keep: false });
  assert.ok(next.fence > staleFence, `${next.fence} > ${staleFence}`);
  const resource = `${prefix}resource`;
  await helper.set(resource, next.fence);

  holder.child.kill('SIGCONT');
  // Its keeper's next renewal finds the token gone and tells it at once.
  assert.deepEqual(await holder.next(), { lost: 'gone', code: 'ERR_LEASE_LOST', aborted: true, reason: 'ERR_LEASE_LOST' });
  holder.send({ write: resource });
  assert.deepEqual(await holder.next(), { written: 0 }, 'the resource refuses the stale fence');
  holder.send('release');
  assert.deepEqual(await holder.next(), { released: false });
  assert.equal(await helper.get(keys.lock), next.token, "the late release deleted nothing");
  assert.equal(Number(await helper.get(resource)), next.fence);
  holder.send('exit');
  await holder.exited();
  await next.release();
});

test('SIGKILL of the holder frees the lock within one lease time', async (t) => {
  const helper = await helperOf(t);
  const prefix = uniquePrefix('sigkill');
  const ttl = 400;
  const holder = worker(t, { kind: 'hold', client: 'ioredis 6', url: standaloneUrl(), prefix, name: 'job', ttl });
  const { held: fence } = await holder.next();
  const lock = new FleetLock({ client: helper, ttl, prefix });
  const keys = lock.redisKeys('job');
  // The keeper renews it: a lease time later it is still there.
  await untilServer(helper, (await serverMillis(helper)) + ttl);
  assert.notEqual(await helper.get(keys.lock), null);
  holder.child.kill('SIGKILL');
  await holder.exited();
  const left = await helper.pttl(keys.lock);
  assert.ok(left > 0 && left <= ttl, `the lease left after the kill: ${left} ms of ${ttl}`);
  await until(async () => (await helper.exists(keys.lock)) === 0);
  const next = await lock.acquire('job', { keep: false });
  assert.ok(next.fence > fence);
  await next.release();
});

test('eight processes increment a counter under the lock: the exact count, no two critical sections overlap, fences in order', async (t) => {
  const helper = await helperOf(t);
  const prefix = uniquePrefix('counter');
  const counter = `${prefix}counter`;
  const iterations = 250;
  const names = ['ioredis 6', 'node-redis 6', 'ioredis 5', 'node-redis 4', 'ioredis 6', 'node-redis 6', 'ioredis 6', 'node-redis 6'];
  const workers = names.map((client) => worker(t, { kind: 'counter', client, url: standaloneUrl(), prefix, name: 'counter', counter, ttl: 500, iterations }));
  assert.deepEqual(await Promise.all(workers.map((w) => w.next())), names.map(() => 'ready'));
  for (const w of workers) w.send('go');
  const results = await Promise.all(workers.map((w) => w.next()));
  assert.deepEqual(results.flatMap((r) => r.errors), [], 'no critical section failed');
  assert.equal(Number(await helper.get(counter)), names.length * iterations, 'no increment was lost');

  const log = results.flatMap((r, process) => r.log.map(([fence, start, end]) => ({ process, fence, start: BigInt(start), end: BigInt(end) })));
  assert.equal(log.length, names.length * iterations);
  log.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  let overlaps = 0;
  let disordered = 0;
  for (let i = 1; i < log.length; i++) {
    if (log[i].start <= log[i - 1].end) overlaps++;
    if (log[i].fence <= log[i - 1].fence) disordered++;
  }
  const switches = log.filter((entry, i) => i > 0 && entry.process !== log[i - 1].process).length;
  t.diagnostic(`${log.length} critical sections, ${switches} hand-overs between processes`);
  assert.equal(overlaps, 0, 'critical sections overlapped');
  assert.equal(disordered, 0, 'fences did not grow in the order of the critical sections');
  assert.ok(switches > 0, 'the lock passed between processes');
});

for (const [name, clients] of Object.entries(CLIENTS)) {
  test(`a lock and a semaphore on a cluster: each name on its own slot, no CROSSSLOT, WAIT on the name's primary (${name})`, async (t) => {
    const client = await clients.cluster(clusterUrls());
    const helper = await CLIENTS['ioredis 6'].cluster(clusterUrls());
    t.after(() => {
      clients.close(client);
      helper.disconnect();
    });
    // No node has the scripts: each first call on a node is NOSCRIPT, then EVAL on that node.
    await Promise.all(helper.nodes('master').map((node) => node.script('FLUSH')));
    const prefix = uniquePrefix('cluster');
    const lock = new FleetLock({ client, ttl: 5_000, prefix, timeout: 10_000 });
    const semaphore = new FleetSemaphore({ client, limit: 1, ttl: 5_000, prefix, timeout: 10_000 });
    const owners = new Set();
    for (let i = 0; i < 12; i++) {
      const job = `job-${i}`;
      const lease = await lock.acquire(job, { keep: false });
      const keys = lock.redisKeys(job);
      assert.equal(await helper.get(keys.lock), lease.token, job);
      assert.equal(Number(await helper.get(keys.fence)), lease.fence, job);
      await assert.rejects(lock.acquire(job), { code: 'ERR_LOCK_HELD' });
      assert.equal(await lease.extend(), true);
      assert.equal(await lease.release(), true);
      const slot = await semaphore.acquire(job, { keep: false });
      await assert.rejects(semaphore.acquire(job), { code: 'ERR_BULKHEAD_FULL' });
      assert.equal(await slot.renew(), true);
      assert.equal(await slot.release(), true);
      owners.add(helper.slots[await helper.cluster('KEYSLOT', keys.lock)][0]);
    }
    assert.equal(owners.size, 3, 'the names spread over the three primaries');
    // The primaries have no replicas: WAIT, sent to the name's primary, counts none.
    const waiting = new FleetLock({ client, ttl: 5_000, prefix, timeout: 10_000, waitReplicas: [1, 20] });
    for (const job of ['job-0', 'job-1', 'job-2', 'job-3']) {
      const refused = await waiting.acquire(job).catch((e) => e);
      assert.equal(refused.code, 'ERR_LOCK_REPLICAS', `${job}: ${refused}`);
      assert.equal(refused.acknowledged, 0);
      assert.equal(await helper.exists(waiting.redisKeys(job).lock), 0, `${job}: released`);
    }
  });
}

test('bad input: each error names the option and says what it must be', async (t) => {
  const client = await connect(t, 'ioredis 6');
  const make = (options) => () => new FleetLock({ client, ...options });
  const cases = [
    [{ ttl: 1.5 }, RangeError, 'option `ttl` must be a duration of 1 ms to 2^40 ms, in whole milliseconds (milliseconds as a number, or nanoseconds as a bigint), got 1.5'],
    [{ ttl: 0 }, RangeError, /^option `ttl` must be a duration of 1 ms to 2\^40 ms, in whole milliseconds .*, got 0$/],
    [{ ttl: 2 ** 40 + 1 }, RangeError, /got 1099511627777$/],
    [{ ttl: '30s' }, TypeError, /^option `ttl` must be a duration of 1 ms .*, got "30s"$/],
    [{ wait: -1 }, RangeError, 'option `wait` must be a duration ≥ 0 (milliseconds as a number, or nanoseconds as a bigint), or Infinity to wait as long as it takes, got -1'],
    [{ waitReplicas: 1 }, TypeError, 'option `waitReplicas` must be [replicas, timeout]: an integer from 1 to 4294967295 and a duration of 1 ms to 2^40 ms, in whole milliseconds, got 1'],
    [{ waitReplicas: [0, 100] }, RangeError, 'option `waitReplicas[0]` must be an integer from 1 to 4294967295, got 0'],
    [{ waitReplicas: [1, 0.5] }, RangeError, 'option `waitReplicas[1]` must be a duration of 1 ms to 2^40 ms, in whole milliseconds, got 0.5'],
    [{ prefix: 'a{b}:' }, RangeError, 'option `prefix` must be a string of at most 256 bytes, without `{` or `}`, got "a{b}:"'],
    [{ timeout: 0 }, RangeError, 'option `timeout` must be a duration of 1 ns to 1 hour (milliseconds as a number, or nanoseconds as a bigint), got 0'],
    [{ retryCount: 3 }, TypeError, "unknown option `retryCount`; did you mean `wait` (the waits between attempts are the core's backoff)?"],
    [{ tll: 100 }, TypeError, 'unknown option `tll`; did you mean `ttl`?'],
    [{ client: {} }, TypeError, /^option `client` must be an ioredis client/],
  ];
  for (const [options, Kind, message] of cases) {
    assert.throws(make(options), (error) => {
      assert.ok(error instanceof Kind, `${inspect(options)}: ${error}`);
      if (typeof message === 'string') assert.equal(error.message, message);
      else assert.match(error.message, message);
      return true;
    });
  }
  assert.throws(() => new FleetLock({ ttl: 100 }), { name: 'TypeError', message: /^option `client` is required: it must be an ioredis client/ });
  const lock = new FleetLock({ client, prefix: uniquePrefix('bad') });
  assert.equal(lock.ttl, 30_000, 'the core default');
  assert.equal(new FleetLock({ client, ttl: 1_500_000_000n }).ttl, 1_500);
  await assert.rejects(lock.acquire(''), { name: 'RangeError', message: 'argument `name` must be a string of 1 to 1024 bytes (UTF-8), without `{` or `}`, got ""' });
  await assert.rejects(lock.acquire('a}b'), { message: /^argument `name` must be .*, got "a}b"$/ });
  await assert.rejects(lock.acquire(42), { name: 'TypeError', message: /^argument `name` must be a string .*, got 42$/ });
  await assert.rejects(lock.acquire('x'.repeat(1025)), { message: /got "x{32}…" \(1025 bytes\)$/ });
  await assert.rejects(lock.acquire('job', { patience: 5 }), { name: 'TypeError', message: /^unknown option `patience`/ });
  await assert.rejects(lock.acquire('job', { keep: 'yes' }), { name: 'TypeError', message: /^option `keep` must be a boolean, got "yes"$/ });
  await assert.rejects(lock.acquire('job', { wait: NaN }), { name: 'RangeError', message: /^option `wait` must be/ });
  await assert.rejects(lock.using('job', 'not a function'), { name: 'TypeError', message: 'argument `fn` must be a function, got "not a function"' });
  const lease = await lock.acquire('job', { keep: false });
  await assert.rejects(lease.extend(2.5), { name: 'RangeError', message: /^option `ttl` must be a duration of 1 ms to 2\^40 ms, in whole milliseconds/ });
  assert.equal(await lease.release(), true);
});

test("a held lease's keeper does not keep the process alive; a lock wait does until it ends", async () => {
  // Clients that answer at once, without a server: only timers can hold the process.
  const fake = (answers) => `
    const answers = ${JSON.stringify(answers)};
    let call = 0;
    const reply = () => Promise.resolve(answers[Math.min(call++, answers.length - 1)]);
    const client = { evalsha: reply, eval: reply, defineCommand() {} };
  `;
  // An hour's lease, renewed every 20 minutes: a keeper timer that held the process would hold
  // it that long.
  const held = await runScript(`
    ${fake([[1, 1700000000000001, 3600000]])}
    const { FleetLock } = require('stanchion/redis');
    new FleetLock({ client, ttl: 3_600_000 }).acquire('job').then((lease) => console.log('held', lease.fence, lease.keeper));
  `);
  assert.equal(held.killed, false, 'the process did not exit on its own');
  assert.equal(held.status, 0, held.stderr);
  assert.equal(held.stdout, 'held 1700000000000001 keeping\n');

  const waited = await runScript(`
    ${fake([[0, 40], [0, 40], [1, 1700000000000002, 1000]])}
    const { FleetLock } = require('stanchion/redis');
    new FleetLock({ client, ttl: 1_000, wait: 60_000 }).acquire('job', { keep: false }).then((lease) => console.log('after', call, 'calls', lease.fence));
  `);
  assert.equal(waited.killed, false);
  assert.equal(waited.status, 0, waited.stderr);
  assert.equal(waited.stdout, 'after 3 calls 1700000000000002\n');

  const semaphore = await runScript(`
    ${fake([[1, 1, 3600000], [1, 0, null]])}
    const { FleetSemaphore } = require('stanchion/redis');
    new FleetSemaphore({ client, limit: 1, ttl: 3_600_000 }).acquire('job')
      .then((lease) => lease.release().then((released) => console.log('released', released, lease.keeper)));
  `);
  assert.equal(semaphore.killed, false);
  assert.equal(semaphore.status, 0, semaphore.stderr);
  assert.equal(semaphore.stdout, 'released true stopped\n');
});

test("the README's FleetLock table and the .d.ts list exactly the options FleetLock and Redlock accept", () => {
  const sorted = (names) => [...names].sort();
  assert.deepEqual(sorted(readmeOptions('Locks on Redis')), sorted(NAMES.FleetLock));
  assert.deepEqual(sorted(typedOptions('FleetLockOptions')), sorted(NAMES.FleetLock));
  // A Redlock takes `clients` for `client`, and no `waitReplicas`, as the README says.
  const redlock = NAMES.FleetLock.filter((name) => name !== 'client' && name !== 'waitReplicas').concat('clients');
  assert.deepEqual(sorted(NAMES.Redlock), sorted(redlock));
  assert.deepEqual(sorted(typedOptions('RedlockOptions')), sorted(redlock));
});
