'use strict';
// One stress run, shared by test/stress.test.js: in the test's own thread, in worker threads,
// and in a child process started with --expose-gc (where dropped permits are collected).
//
// Thousands of calls share one bulkhead and one breaker, through policies with and without a
// timeout and a retry, and straight through `bulkhead.execute`, while others hold permits of
// their own. At random: callers abort, timeouts fire, functions throw (at once or later),
// resolve, honour their signal or ignore it and run on, and (with `gc`) permits are dropped
// without a release. In-flight work is counted by the functions themselves (and by the
// holders of permits), and every sample (each time a function starts, and on a 1 ms timer)
// asserts that it never exceeds the cap. At the end every permit, queue slot and probe slot
// must be back.

const { isMainThread, parentPort, workerData } = require('node:worker_threads');

/** A small seeded generator (mulberry32), so a failing run can be replayed from its seed. */
function random(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const delay = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const tick = () => new Promise((resolve) => setImmediate(resolve));

/**
 * Runs the stress; resolves to counts of what happened, or rejects on the first broken rule.
 * `entry` is the package to load; `gc` (a function) makes some callers drop their permits.
 */
async function stress({ entry, seed = 1, calls = 3000, cap = 8, gc }) {
  const s = require(entry);
  const rand = random(seed);
  const pick = (n) => Math.floor(rand() * n);
  // The queue is the default one: the core's, as many as the waiter table holds.
  const bulkhead = new s.Bulkhead({ maxConcurrent: cap });
  // A run of failures trips the breaker now and then: it refuses calls for a while, then lets
  // two probes through at once.
  const breaker = new s.CircuitBreaker({ failureCount: null, consecutiveFailures: 5, openFor: 2, halfOpenProbes: 2 });
  const retry = new s.Retry({ backoff: { schedule: 'constant', delay: 1, maxAttempts: 2 } });
  const policies = [
    new s.Policy({ bulkhead, breaker }),
    new s.Policy({ bulkhead, breaker, timeout: 3 }),
    new s.Policy({ bulkhead, breaker, retry, timeout: 10 }),
    new s.Policy({ bulkhead, retry }),
  ];

  let running = 0;
  let most = 0;
  const counts = { calls: 0, fulfilled: 0, rejected: 0, aborted: 0, timedOut: 0, full: 0, open: 0, thrown: 0, held: 0, dropped: 0, ranOn: 0 };
  const violations = [];
  const sample = (where) => {
    const inFlight = bulkhead.snapshot().inFlight;
    if (running > cap || inFlight > cap || running > inFlight) {
      violations.push(`${where}: ${running} running, ${inFlight} in flight, cap ${cap} (seed ${seed})`);
    }
    most = Math.max(most, running);
  };
  // With `gc`, a collection now and then, as a busy process has: dropped permits come back.
  let samples = 0;
  const sampler = setInterval(() => {
    sample('timer');
    if (gc !== undefined && ++samples % 5 === 0) gc();
  }, 1);

  /** A function under a permit: it counts itself while it runs. */
  const work = (signal) => {
    running++;
    sample('start');
    const kind = pick(6);
    if (kind === 0) {
      running--;
      counts.thrown++;
      throw new Error('thrown at once');
    }
    const ms = pick(6);
    return new Promise((resolve, reject) => {
      let done = false;
      const finish = (settle) => {
        if (done) return;
        done = true;
        running--;
        settle();
      };
      setTimeout(() => finish(() => (kind === 1 ? reject(new Error('failed later')) : resolve('ok'))), ms);
      if (kind === 2 && signal) {
        // Honours its signal, as fetch does.
        signal.addEventListener('abort', () => finish(() => reject(signal.reason)), { once: true });
      } else if (signal) {
        // Ignores it and runs on: its permit must stay held until it settles.
        signal.addEventListener('abort', () => done || counts.ranOn++, { once: true });
      }
    });
  };

  /** A caller that holds a permit of its own for a while, and maybe drops it. */
  const holder = async () => {
    const permit = pick(2) === 0 ? bulkhead.tryAcquire() : await bulkhead.acquire().catch((error) => error);
    if (!permit.ok) return;
    running++;
    sample('held');
    counts.held++;
    await delay(pick(3));
    running--;
    if (gc !== undefined && pick(4) === 0) {
      // Dropped without a release: the finalizer must give the slot back. It counts as
      // running no more, but holds its slot until collected, so `running <= inFlight` holds.
      counts.dropped++;
      return;
    }
    permit.release();
  };

  const one = async () => {
    counts.calls++;
    // A third of the callers never abort; a third give up a few ms after they call, mostly
    // while they wait; a third give up while their function runs.
    const mode = pick(3);
    const controller = mode === 0 ? undefined : new AbortController();
    if (mode === 1) setTimeout(() => controller.abort(), pick(8));
    const options = controller ? { signal: controller.signal } : undefined;
    const fn = (signal) => {
      if (mode === 2) setTimeout(() => controller.abort(), pick(3));
      return work(signal);
    };
    const route = pick(6);
    const call = route < 4 ? policies[route].execute(fn, options) : route === 4 ? bulkhead.execute(fn, options) : holder();
    try {
      await call;
      counts.fulfilled++;
    } catch (error) {
      counts.rejected++;
      if (error?.name === 'AbortError') counts.aborted++;
      else if (error?.code === 'ERR_TIMEOUT') counts.timedOut++;
      else if (error?.code?.startsWith('ERR_BULKHEAD')) counts.full++;
      else if (error?.code?.startsWith('ERR_CIRCUIT')) counts.open++;
    }
  };

  // Calls arrive in bursts, so the queue fills and empties many times.
  const pending = [];
  for (let i = 0; i < calls; i++) {
    pending.push(one());
    if (i % 10 === 9) await (pick(4) === 0 ? delay(1) : tick());
  }
  await Promise.all(pending);
  // Functions that ignored an abort settle within their few milliseconds.
  for (let i = 0; i < 200 && running > 0; i++) await delay(1);
  if (gc !== undefined) {
    for (let i = 0; i < 50 && bulkhead.snapshot().inFlight > 0; i++) {
      gc();
      await tick();
    }
  }
  clearInterval(sampler);
  sample('end');
  const end = { bulkhead: bulkhead.snapshot(), probes: breaker.snapshot().probesInFlight, running };
  if (violations.length > 0) throw new Error(violations.slice(0, 5).join('\n'));
  if (end.running !== 0 || end.bulkhead.inFlight !== 0 || end.bulkhead.waiting !== 0 || end.probes !== 0) {
    throw new Error(`not everything was released (seed ${seed}): ${JSON.stringify(end)}`);
  }
  return { ...counts, most, peak: end.bulkhead.peak };
}

module.exports = { stress };

// As a worker thread, or as a child process: run once and report.
if (!isMainThread) {
  stress(workerData).then(
    (counts) => parentPort.postMessage({ counts }),
    (error) => parentPort.postMessage({ error: error.stack }),
  );
} else if (require.main === module) {
  const [entry, seed] = process.argv.slice(2);
  stress({ entry, seed: Number(seed), gc: globalThis.gc }).then(
    (counts) => console.log(JSON.stringify(counts)),
    (error) => {
      console.error(error.stack);
      process.exit(1);
    },
  );
}
