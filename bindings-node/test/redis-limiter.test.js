'use strict';
// FleetLimiter against the live standalone server with every client: its answers, execute,
// events, EVALSHA and NOSCRIPT, error replies, aborts; and bad input, which is refused
// before any call, with messages that name the option.
const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const IORedis = require('ioredis');
const { setTimeout: sleep } = require('node:timers/promises');
const { FleetLimiter, FleetError, FleetUnavailableError, RateLimitedError, StanchionError, DEFAULT_PREFIX, DEFAULT_TIMEOUT } = require('stanchion/redis');
const main = require('stanchion');
const { CLIENTS, standaloneUrl, uniquePrefix, countCalls } = require('./redis-servers');
const { replyError, stub, unstub } = require('./redis-replies');
const { fleetUnavailableReplies } = require('../lib/native');
const { NAMES } = require('../lib/options');

// Where Redis is meant to decide, a loaded machine must not turn a slow answer into a timeout.
const PATIENT = 10_000;
const GCRA = fs.readFileSync(path.join(__dirname, '..', '..', 'redis', 'scripts', 'gcra.lua'));

for (const [name, clients] of Object.entries(CLIENTS)) {
  test(`answers, execute and events (${name})`, async (t) => {
    const client = await clients.standalone(standaloneUrl());
    t.after(() => clients.close(client));
    const limiter = new FleetLimiter({ client, capacity: 3, refillAmount: 1, refillEvery: 60_000, prefix: uniquePrefix('answers'), timeout: PATIENT });
    const rejected = [];
    limiter.on('reject', (refusal) => rejected.push(refusal));

    const first = await limiter.tryAcquire('tenant-7');
    assert.deepEqual(first, { ok: true, allowed: true, remaining: 2, retryAfter: null, resetAfter: 60_000, fallback: false });
    assert.equal((await limiter.tryAcquire('tenant-7', 2)).remaining, 0);
    const refused = await limiter.tryAcquire('tenant-7', { n: 1 });
    assert.equal(refused.ok, false);
    assert.equal(refused.allowed, false);
    assert.equal(refused.code, 'ERR_RATE_LIMITED');
    assert.equal(refused.reason, 'rate_limited');
    assert.ok(refused.retryAfter > 0 && refused.retryAfter <= 60_000, `retryAfter ${refused.retryAfter}`);
    assert.equal(refused.fallback, false);
    assert.equal(rejected.at(-1), refused);

    const peeked = await limiter.peek('tenant-7', 0);
    assert.equal(peeked.ok, true, 'n = 0 always passes');
    const tooMany = await limiter.tryAcquire('other', 4);
    assert.equal(tooMany.code, 'ERR_INSUFFICIENT_CAPACITY');
    assert.equal(tooMany.retryAfter, null);
    assert.equal(tooMany.remaining, 3, 'a refusal takes nothing');

    let ran = 0;
    const error = await limiter.execute('tenant-7', () => ran++).catch((e) => e);
    assert.ok(error instanceof RateLimitedError && error instanceof StanchionError);
    assert.equal(error.code, 'ERR_RATE_LIMITED');
    assert.ok(error.retryAfter > 0);
    assert.equal(error.remaining, 0);
    assert.equal(error.fallback, false);
    assert.equal(rejected.at(-1), error);
    assert.equal(ran, 0, 'a refused call never runs');
    const signal = new AbortController().signal;
    assert.equal(await limiter.execute('fresh', (s) => (s === signal ? 'ran with the signal' : s), { signal }), 'ran with the signal');
    assert.equal((await limiter.peek('fresh', 3)).ok, false, 'execute took a token');
  });

  test(`EVALSHA by the file's SHA-1, NOSCRIPT loads it (${name})`, async (t) => {
    const client = await clients.standalone(standaloneUrl());
    const helper = new IORedis(standaloneUrl());
    t.after(() => {
      clients.close(client);
      helper.disconnect();
    });
    const sha = crypto.createHash('sha1').update(GCRA).digest('hex');
    assert.equal(await helper.script('LOAD', GCRA), sha, "the server's hash of the shipped file");
    const limiter = new FleetLimiter({ client, capacity: 5, prefix: uniquePrefix('noscript'), timeout: PATIENT });
    const count = countCalls(client, clients.kind);
    await helper.script('FLUSH');
    assert.equal((await limiter.tryAcquire('k')).remaining, 4);
    assert.deepEqual({ evalsha: count.evalsha, eval: count.eval }, { evalsha: 1, eval: 1 }, 'NOSCRIPT, then EVAL loads and runs it');
    assert.deepEqual(await helper.script('EXISTS', sha), [1]);
    assert.equal((await limiter.tryAcquire('k')).remaining, 3);
    assert.deepEqual({ evalsha: count.evalsha, eval: count.eval }, { evalsha: 2, eval: 1 }, 'one EVALSHA per decision');
  });

  test(`an error reply that waiting will not change reaches the caller: FleetError, no fallback, no breaker failure (${name})`, async (t) => {
    const client = await clients.standalone(standaloneUrl());
    const helper = new IORedis(standaloneUrl());
    t.after(() => {
      clients.close(client);
      helper.disconnect();
    });
    const prefix = uniquePrefix('reply');
    const limiter = new FleetLimiter({ client, capacity: 5, prefix, timeout: PATIENT });
    // Every policy gets the same error: onUnavailable answers only for a server that cannot decide.
    const allow = new FleetLimiter({ client, capacity: 5, prefix, onUnavailable: 'allow', timeout: PATIENT });
    const local = new FleetLimiter({ client, capacity: 5, prefix, onUnavailable: 'local', localShare: 0.5, timeout: PATIENT });
    const seen = [];
    for (const l of [limiter, allow, local]) l.on('unavailable', (error) => seen.push(error));
    const before = limiter.breaker.snapshot();
    // A key holding another type: the script's GET answers WRONGTYPE.
    await helper.hset(limiter.redisKey('hash'), 'field', 'value');
    // A key holding a string that is no limiter state: the script's own error.
    await helper.set(limiter.redisKey('string'), 'not a limiter state');
    for (const l of [limiter, allow, local]) {
      for (const method of ['tryAcquire', 'peek', 'execute']) {
        const call = (key) => (method === 'execute' ? l.execute(key, () => 'ran') : l[method](key));
        const wrongType = await call('hash').catch((e) => e);
        assert.ok(wrongType instanceof FleetError && wrongType instanceof StanchionError, `${method}: got ${wrongType}`);
        assert.ok(!(wrongType instanceof FleetUnavailableError), `${method}: not unavailability`);
        assert.equal(wrongType.code, 'ERR_FLEET');
        assert.equal(wrongType.reason, 'fleet_error');
        assert.equal(wrongType.retryAfter, null);
        assert.match(wrongType.cause.message, /^WRONGTYPE /);
        assert.match(wrongType.message, /^Redis answered the limiter with an error: WRONGTYPE /);
        const own = await call('string').catch((e) => e);
        assert.equal(own.code, 'ERR_FLEET', `${method}: got ${own}`);
        assert.match(own.cause.message, /^ERR stanchion gcra: the key does not hold a limiter state/);
      }
    }
    assert.deepEqual(seen, [], 'no `unavailable` event: Redis decided');
    assert.equal(limiter.breaker.state, 'closed');
    const after = limiter.breaker.snapshot();
    assert.equal(after.failures - before.failures, 0, 'no breaker failure');
    assert.equal(after.successes - before.successes, 18, 'each error reply is a breaker success');
  });

  test(`an error reply that means the server cannot decide now is unavailability: onUnavailable answers, the breaker counts it (${name})`, async (t) => {
    const client = await clients.standalone(standaloneUrl());
    t.after(() => clients.close(client));
    const prefix = uniquePrefix('loading');
    const raise = new FleetLimiter({ client, capacity: 5, prefix, timeout: PATIENT });
    const allow = new FleetLimiter({ client, capacity: 5, prefix, onUnavailable: 'allow', timeout: PATIENT });
    assert.equal((await raise.tryAcquire('k')).fallback, false);
    // The server's own error classes, as each client makes them from a reply it parsed.
    assert.deepEqual(fleetUnavailableReplies(), ['LOADING', 'BUSY', 'READONLY', 'MASTERDOWN', 'CLUSTERDOWN', 'TRYAGAIN', 'OOM', 'MISCONF', 'NOREPLICAS']);
    const replies = fleetUnavailableReplies().map((code) => replyError(name, `${code} the server cannot decide now`));
    const reject = (error) => () => Promise.reject(error);
    const seen = [];
    raise.on('unavailable', (error) => seen.push(error));
    for (const [i, error] of replies.entries()) {
      stub(client, clients.kind, reject(error));
      raise.breaker.reset();
      const raised = await raise.tryAcquire('k').catch((e) => e);
      assert.ok(raised instanceof FleetUnavailableError, `${error.message}: got ${raised}`);
      assert.equal(raised.cause, error);
      assert.equal(seen.at(-1), raised);
      assert.deepEqual(await allow.tryAcquire('k'), { ok: true, allowed: true, remaining: 0, retryAfter: null, resetAfter: 0, fallback: true });
      await allow.tryAcquire('k');
      assert.equal(raise.breaker.state, 'open', `${error.message}: three in a row open the breaker`);
      assert.equal(seen.length, i + 1);
    }
    unstub(client);
  });

  test(`an aborted signal makes no call (${name})`, async (t) => {
    const client = await clients.standalone(standaloneUrl());
    t.after(() => clients.close(client));
    const limiter = new FleetLimiter({ client, capacity: 1, prefix: uniquePrefix('abort') });
    const count = countCalls(client, clients.kind);
    const reason = new Error('gone');
    await assert.rejects(limiter.tryAcquire('k', { signal: AbortSignal.abort(reason) }), (e) => e === reason);
    await assert.rejects(limiter.execute('k', () => 1, { signal: AbortSignal.abort() }), { name: 'AbortError' });
    assert.equal(count.calls, 0);
  });
}

test('one breaker per client object, configured as the core configures the connection breaker', async (t) => {
  const client = new IORedis(standaloneUrl(), { lazyConnect: true });
  const other = new IORedis(standaloneUrl(), { lazyConnect: true });
  t.after(() => {
    client.disconnect();
    other.disconnect();
  });
  const a = new FleetLimiter({ client, capacity: 1 });
  const b = new FleetLimiter({ client, capacity: 2, prefix: 'b:' });
  const c = new FleetLimiter({ client: other, capacity: 1 });
  assert.equal(a.breaker, b.breaker);
  assert.notEqual(a.breaker, c.breaker);
  // fleet::connection_breaker_for(250 ms): three failures in a row open it for 1 s,
  // shortened by up to 20 % jitter; one probe at a time.
  for (let i = 0; i < 2; i++) a.breaker.tryAcquire().record('failure');
  assert.equal(a.breaker.state, 'closed');
  a.breaker.tryAcquire().record('failure');
  assert.equal(a.breaker.state, 'open');
  const refusal = a.breaker.tryAcquire();
  assert.equal(refusal.code, 'ERR_CIRCUIT_OPEN');
  assert.ok(refusal.retryAfter > 500 && refusal.retryAfter <= 1000, `open for ${refusal.retryAfter} ms`);
  assert.equal(c.breaker.state, 'closed');
});

test("a probe must report within twice the longest timeout of the client's primitives", async (t) => {
  const client = new IORedis(standaloneUrl(), { lazyConnect: true });
  t.after(() => client.disconnect());
  const quick = new FleetLimiter({ client, capacity: 1, timeout: 100 });
  const probeLease = async () => {
    quick.breaker.reset();
    for (let i = 0; i < 3; i++) quick.breaker.tryAcquire().record('failure');
    await sleep(quick.breaker.tryAcquire().retryAfter + 5);
    const probe = quick.breaker.tryAcquire();
    assert.equal(quick.breaker.state, 'half_open');
    // The one probe slot is taken until the probe reports or its lease runs out.
    const full = quick.breaker.tryAcquire();
    probe.release();
    assert.equal(full.code, 'ERR_CIRCUIT_HALF_OPEN_FULL');
    return full.retryAfter;
  };
  const alone = await probeLease();
  assert.ok(alone > 100 && alone <= 200, `the probe lease is twice 100 ms: ${alone} ms`);
  // A primitive with a longer timeout on the same client lengthens the lease of every probe.
  const patient = new FleetLimiter({ client, capacity: 1, timeout: 5_000 });
  assert.equal(patient.breaker, quick.breaker);
  new FleetLimiter({ client, capacity: 1, timeout: 50 });
  const shared = await probeLease();
  assert.ok(shared > 5_000 && shared <= 10_000, `the probe lease is twice 5000 ms: ${shared} ms`);
});

test('defaults are the core\'s', () => {
  const client = new IORedis({ lazyConnect: true });
  const limiter = new FleetLimiter({ client, capacity: 1 });
  assert.equal(limiter.onUnavailable, 'raise');
  assert.equal(limiter.localBucket, null);
  assert.equal(DEFAULT_PREFIX, 'stanchion:');
  assert.equal(DEFAULT_TIMEOUT, 250);
  assert.equal(limiter.redisKey('user:42'), 'stanchion:{user:42}:limiter');
  assert.equal(main.FleetUnavailableError, FleetUnavailableError);
  // The core's example: a quarter of 10 tokens at 100/s is 3 tokens at 100 per 4 s, which
  // the core keeps in lowest terms.
  const local = new FleetLimiter({ client, capacity: 10, refillAmount: 100, refillEvery: 1_000, onUnavailable: 'local', localShare: 0.25 });
  assert.deepEqual(local.localBucket, { capacity: 3, refillAmount: 1, refillEvery: 40 });
  const exact = new FleetLimiter({ client, capacity: 10, refillAmount: 100, refillEvery: 1_000, onUnavailable: 'local', localShare: 0.25, unit: 'ns' });
  assert.deepEqual(exact.localBucket, { capacity: 3, refillAmount: 1, refillEvery: 40_000_000n });
  client.disconnect();
});

test('bad input is refused with a message naming the option', async () => {
  const client = new IORedis({ lazyConnect: true });
  const make = (options) => new FleetLimiter({ client, capacity: 10, ...options });
  const limiter = make({});
  const count = countCalls(client, 'ioredis');
  const keyWords = 'a string of 1 to 1024 bytes (UTF-8), without `{` or `}`';

  await assert.rejects(limiter.tryAcquire(''), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE', option: 'key', message: `option \`key\` must be ${keyWords}, got ""` });
  await assert.rejects(limiter.tryAcquire('k'.repeat(1025)), { name: 'RangeError', message: `option \`key\` must be ${keyWords}, got "${'k'.repeat(32)}…" (1025 bytes)` });
  await assert.rejects(limiter.peek('é'.repeat(513)), { message: /\(1026 bytes\)$/ });
  assert.equal(limiter.redisKey('é'.repeat(512)), `stanchion:{${'é'.repeat(512)}}:limiter`);
  await assert.rejects(limiter.tryAcquire('a{b'), { name: 'RangeError', message: `option \`key\` must be ${keyWords}, got "a{b"` });
  await assert.rejects(limiter.execute('a}b', () => 1), { name: 'RangeError', option: 'key' });
  await assert.rejects(limiter.tryAcquire(42), { name: 'TypeError', message: `option \`key\` must be ${keyWords}, got 42` });
  await assert.rejects(limiter.tryAcquire('k', NaN), { name: 'RangeError', message: 'option `n` must be an integer from 0 to 4294967295, got NaN' });
  await assert.rejects(limiter.tryAcquire('k', -1), { name: 'RangeError', message: /option `n` must be .*, got -1$/ });
  await assert.rejects(limiter.tryAcquire('k', { n: 1.5 }), { name: 'RangeError', option: 'n' });
  await assert.rejects(limiter.tryAcquire('k', { m: 1 }), { name: 'TypeError', message: 'unknown option `m`; did you mean `n`?' });
  await assert.rejects(limiter.execute('k', 'run'), { name: 'TypeError', message: 'argument `fn` must be a function, got "run"' });
  assert.equal(count.calls, 0, 'no bad call reached Redis');

  assert.throws(() => make({ capacity: NaN }), { name: 'RangeError', message: 'option `capacity` must be an integer from 1 to 4294967295, got NaN' });
  assert.throws(() => make({ capacity: -1 }), { name: 'RangeError', option: 'capacity' });
  assert.throws(() => make({ capacity: 0 }), { name: 'RangeError', message: 'option `capacity` must be an integer from 1 to 4294967295, got 0' });
  assert.throws(() => make({ refillAmount: NaN }), { name: 'RangeError', option: 'refillAmount' });
  assert.throws(() => make({ refillEvery: -5 }), { name: 'RangeError', message: /^option `refillEvery` must be .*, got -5$/ });
  assert.throws(() => make({ refillEvery: NaN }), { name: 'RangeError', option: 'refillEvery' });
  assert.throws(() => make({ refillAmount: 2, refillEvery: 0.000001 }), { name: 'RangeError', message: /^option `refillAmount` must be at most one token per nanosecond/ });
  assert.throws(() => make({ capacity: 4_503_600 }), {
    name: 'RangeError',
    message:
      'option `capacity` must be an integer from 1 to 2^52 / refillEvery, with the rate in lowest terms (capacity × refillEvery / gcd(refillAmount, refillEvery) ≤ 2^52 ns), got 4503600',
  });
  assert.ok(make({ capacity: 4_503_599 }), 'the largest burst at one per second');
  assert.throws(() => make({ capacity: 1, refillEvery: 2n ** 53n }), { name: 'RangeError', message: /^option `refillEvery` must be a duration of at most 2\^52 ns once the rate is in lowest terms/ });

  const prefixWords = 'a string of at most 256 bytes, without `{` or `}`';
  assert.throws(() => make({ prefix: 'a{b}:' }), { name: 'RangeError', message: `option \`prefix\` must be ${prefixWords}, got "a{b}:"` });
  assert.throws(() => make({ prefix: 'p'.repeat(257) }), { name: 'RangeError', option: 'prefix', message: /\(257 bytes\)$/ });
  assert.throws(() => make({ prefix: 7 }), { name: 'TypeError', message: `option \`prefix\` must be ${prefixWords}, got 7` });

  const clientWords =
    'an ioredis client (new Redis() or new Cluster(), ioredis 5 or newer) or a node-redis client (createClient() or createCluster(), redis 4 or newer)';
  assert.throws(() => make({ client: {} }), { name: 'TypeError', option: 'client', message: `option \`client\` must be ${clientWords}, got {}` });
  assert.throws(() => make({ client: 'redis://127.0.0.1' }), { name: 'TypeError', message: `option \`client\` must be ${clientWords}, got "redis://127.0.0.1"` });
  assert.throws(() => new FleetLimiter({ capacity: 1 }), { name: 'TypeError', message: `option \`client\` is required: it must be ${clientWords}` });
  assert.throws(() => make({ client: { evalsha() {} } }), { name: 'TypeError', option: 'client' });

  assert.throws(() => make({ onUnavailable: 'open' }), { name: 'RangeError', message: 'option `onUnavailable` must be \'local\', \'allow\', \'deny\' or \'raise\', got "open"' });
  assert.throws(() => make({ onUnavailable: true }), { name: 'TypeError', option: 'onUnavailable' });
  assert.throws(() => make({ onUnavailable: 'local' }), { name: 'RangeError', message: "option `localShare` must be a number in (0, 1], required when onUnavailable is 'local', got undefined" });
  assert.throws(() => make({ onUnavailable: 'local', localShare: NaN }), { name: 'RangeError', option: 'localShare' });
  assert.throws(() => make({ onUnavailable: 'local', localShare: 1.5 }), { name: 'RangeError', option: 'localShare' });
  assert.throws(() => make({ onUnavailable: 'allow', localShare: 0.5 }), { name: 'RangeError', message: "option `localShare` must be unset unless onUnavailable is 'local', got 0.5" });
  assert.throws(() => make({ localShare: '0.5' }), { name: 'TypeError', option: 'localShare' });

  const timeoutWords = 'a duration of 1 ns to 1 hour (milliseconds as a number, or nanoseconds as a bigint)';
  assert.throws(() => make({ timeout: 0 }), { name: 'RangeError', message: `option \`timeout\` must be ${timeoutWords}, got 0` });
  assert.throws(() => make({ timeout: 3_600_001 }), { name: 'RangeError', message: `option \`timeout\` must be ${timeoutWords}, got 3600001` });
  assert.throws(() => make({ timeout: -1 }), { name: 'RangeError', option: 'timeout' });
  assert.ok(make({ timeout: 1n }) && make({ timeout: 3_600_000 }));

  assert.throws(() => make({ prefx: 'a:' }), { name: 'TypeError', message: 'unknown option `prefx`; did you mean `prefix`?' });
  assert.throws(() => make({ keyPrefix: 'a:' }), { name: 'TypeError', message: /^unknown option `keyPrefix`; did you mean `prefix`/ });
  assert.throws(() => make({ unit: 's' }), { name: 'TypeError', option: 'unit' });
  client.disconnect();
});

test("the README's FleetLimiter table lists exactly the options it accepts", () => {
  const text = fs.readFileSync(path.join(__dirname, '..', 'README.md'), 'utf8');
  const start = text.indexOf('\n## Fleet limits on Redis\n');
  assert.ok(start >= 0, 'the README has the section');
  const section = text.slice(start, text.indexOf('\n## ', start + 1));
  const table = section.slice(section.indexOf('| option |'));
  const listed = [...table.matchAll(/^\| `(\w+)` \|/gm)].map((m) => m[1]);
  assert.deepEqual([...listed].sort(), [...NAMES.FleetLimiter].sort());
  assert.match(section, /\| `'raise'` \(\*\*default\*\*\)/, 'the policy table names the default');
});

test('a pending call keeps the process alive until its timeout answers it', async () => {
  // A client whose calls never settle holds nothing open: only the limiter's timer keeps the
  // script running until `onUnavailable` answers.
  const { runScript } = require('./scripts');
  const code = `
    const { FleetLimiter } = require('stanchion/redis');
    const never = () => new Promise(() => {});
    const client = { evalsha: never, eval: never, defineCommand() {} };
    const limiter = new FleetLimiter({ client, capacity: 1, timeout: 200, onUnavailable: 'allow' });
    limiter.tryAcquire('k').then((answer) => console.log(JSON.stringify(answer)));
  `;
  const result = await runScript(code);
  assert.equal(result.status, 0, result.stderr);
  assert.deepEqual(JSON.parse(result.stdout), { ok: true, allowed: true, remaining: 0, retryAfter: null, resetAfter: 0, fallback: true });
});
