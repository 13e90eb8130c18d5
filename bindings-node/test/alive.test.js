'use strict';
// A wait that a caller awaits keeps the process alive, as Node's own timers do: a script whose
// only pending work is a retry's backoff, a limiter's reservation or a policy's timeout runs to
// the end and settles its promise. A wait that ended (settled, aborted, cleared) holds nothing:
// the script then exits at once. Each case runs as its own process; the spawn timeout only
// bounds a failure.
const test = require('node:test');
const assert = require('node:assert/strict');
const { runScript, readmeBlocks, transpile, closedPort } = require('./scripts');

async function run(code) {
  const result = await runScript(code);
  assert.equal(result.killed, false, `the script did not exit on its own:\n${result.stdout}${result.stderr}`);
  return result;
}

test('a retrying execute whose only pending work is a backoff prints its result and exits 0', async () => {
  const { status, stdout, stderr } = await run(`
    const { Retry } = require('stanchion');
    let calls = 0;
    const retry = new Retry({ backoff: { schedule: 'constant', delay: 20, maxAttempts: 3 } });
    retry.execute(() => {
      if (++calls < 3) throw new Error('flaky');
      return 'ok after ' + calls + ' calls';
    }).then(console.log);
  `);
  assert.equal(status, 0, stderr);
  assert.equal(stdout, 'ok after 3 calls\n');
});

test('a limiter wait and a policy timeout keep the process alive until they settle', async () => {
  const { status, stdout, stderr } = await run(`
    const { Policy, RateLimiter } = require('stanchion');
    const limiter = new RateLimiter({ capacity: 1, refillEvery: 20 });
    limiter.tryAcquire();
    limiter.acquire().then(() => console.log('token'));
    new Policy({ timeout: 20 }).execute(() => new Promise(() => {})).catch((e) => console.log(e.code));
    new Policy({ limiter: new RateLimiter({ capacity: 1, refillEvery: 20 }) }).execute(() => 'first')
      .then(console.log);
  `);
  assert.equal(status, 0, stderr);
  assert.deepEqual(stdout.trim().split('\n').sort(), ['ERR_TIMEOUT', 'first', 'token']);
});

test('waits that ended hold nothing: the process exits without waiting them out', async () => {
  // Each wait is an hour long: a timer left behind would keep the process for an hour.
  const { status, stdout, stderr } = await run(`
    const { Policy, RateLimiter, Retry } = require('stanchion');
    const hour = 3_600_000;
    const aborted = new AbortController();
    new Retry({ backoff: { schedule: 'constant', delay: hour } })
      .execute(() => { setImmediate(() => aborted.abort(new Error('stopped'))); throw new Error('x'); }, { signal: aborted.signal })
      .catch((e) => console.log('retry:', e.message));
    const limiter = new RateLimiter({ capacity: 1, refillEvery: hour });
    limiter.tryAcquire();
    const cancel = new AbortController();
    limiter.acquire({ signal: cancel.signal }).catch((e) => console.log('limiter:', e.message));
    cancel.abort(new Error('cancelled'));
    new Policy({ timeout: hour }).execute(() => 'fast').then((v) => console.log('policy:', v));
  `);
  assert.equal(status, 0, stderr);
  assert.deepEqual(stdout.trim().split('\n').sort(), ['limiter: cancelled', 'policy: fast', 'retry: stopped']);
});

test("the README's Policy example, run as a script, prints its output and exits 0", async () => {
  const example = readmeBlocks().find((b) => b.lang === 'ts' && b.code.includes('new Policy('));
  assert.ok(example, 'the README has a Policy example');
  // The dependency is down: every attempt is refused, the retries wait out their backoff (the
  // only pending work), and the fallback answers.
  const down = `http://127.0.0.1:${await closedPort()}`;
  const code = transpile(example.code.replaceAll('http://127.0.0.1:8080', down));
  const result = await runScript(code, { name: 'policy-example.mjs' });
  assert.equal(result.killed, false, 'the script did not exit on its own');
  assert.equal(result.status, 0, result.stderr);
  assert.equal(result.stdout, "{ price: null, stale: true }\n");
});

test('a wait longer than a Node timer can hold (2^31-1 ms) is not cut to 1 ms', async () => {
  // setTimeout turns a longer delay into 1 ms. A 30-day policy timeout must not time a call
  // out, nor a limiter wait of 30 days resolve, before anything else has happened.
  const { status, stdout, stderr } = await run(`
    const { Policy, RateLimiter } = require('stanchion');
    const days30 = 30 * 24 * 3_600_000;
    new Policy({ timeout: days30 }).execute(() => new Promise((r) => setTimeout(r, 50, 'call settled')))
      .then(console.log, (e) => console.log('policy:', e.code));
    const limiter = new RateLimiter({ capacity: 1, refillEvery: days30 });
    limiter.tryAcquire();
    const stop = new AbortController();
    limiter.acquire({ signal: stop.signal }).then(() => console.log('token early'), () => console.log('wait cancelled'));
    setTimeout(() => stop.abort(), 100);
  `);
  assert.equal(status, 0, stderr);
  assert.equal(stdout, 'call settled\nwait cancelled\n');
  assert.doesNotMatch(stderr, /TimeoutOverflowWarning/);
});
