// Per-call cost of stanchion against a bare `await fn()` and the Node peers, in one run.
// Each case is awaited call after call (latency, not throughput); the figure is the median
// of several rounds, in ns per call. Nothing here is asserted: figures are reported.
import { createRequire } from 'node:module';
import Bottleneck from 'bottleneck';
import { circuitBreaker, retry, bulkhead, handleAll, ConsecutiveBreaker, ConstantBackoff, SamplingBreaker } from 'cockatiel';
import pLimit from 'p-limit';
import pRetry from 'p-retry';

const require = createRequire(import.meta.url);
const Opossum = require('opossum');
const s = require('../lib/index.js');

const ITERATIONS = Number(process.env.BENCH_ITERATIONS ?? 100_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
const noop = () => {};
const work = async () => 1;
const fail = async () => {
  throw new Error('down');
};

async function measure(op, iterations = ITERATIONS) {
  for (let i = 0; i < iterations / 5; i++) await op();
  const samples = [];
  for (let r = 0; r < ROUNDS; r++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) await op();
    samples.push(Number(process.hrtime.bigint() - start) / iterations);
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)];
}

const results = [];
async function run(group, name, op, iterations) {
  const ns = await measure(op, iterations);
  results.push({ group, name, ns });
  console.error(`${group.padEnd(18)} ${name.padEnd(44)} ${ns.toFixed(1).padStart(9)} ns`);
}

// ---- the floor
await run('floor', 'await fn()', () => work());

// ---- breaker, closed
{
  const breaker = new s.CircuitBreaker();
  await run('breaker closed', 'stanchion breaker.execute', () => breaker.execute(work));
  const opossum = new Opossum(work);
  await run('breaker closed', 'opossum fire (defaults: 10 s timeout)', () => opossum.fire());
  const opossumNoTimeout = new Opossum(work, { timeout: false });
  await run('breaker closed', 'opossum fire (timeout: false)', () => opossumNoTimeout.fire());
  const cockatiel = circuitBreaker(handleAll, { halfOpenAfter: 10_000, breaker: new ConsecutiveBreaker(5) });
  await run('breaker closed', 'cockatiel execute (ConsecutiveBreaker)', () => cockatiel.execute(work));
  // A time window, like stanchion's default breaker (10 s in 10 buckets).
  const sampling = circuitBreaker(handleAll, { halfOpenAfter: 10_000, breaker: new SamplingBreaker({ threshold: 0.5, duration: 10_000 }) });
  await run('breaker closed', 'cockatiel execute (SamplingBreaker, 10 s)', () => sampling.execute(work));
  const counting = new s.CircuitBreaker({ consecutiveFailures: 5, failureCount: null, window: { count: 10 } });
  await run('breaker closed', 'stanchion breaker.execute (count window)', () => counting.execute(work));
}

// ---- breaker, open: the refusal path
{
  const breaker = new s.CircuitBreaker({ consecutiveFailures: 1, openFor: 1e9 });
  await breaker.execute(fail).catch(noop);
  await run('breaker open', 'stanchion execute (rejects)', () => breaker.execute(work).catch(noop));
  await run('breaker open', 'stanchion tryAcquire (returns)', () => breaker.tryAcquire());
  const opossum = new Opossum(work);
  opossum.open();
  await run('breaker open', 'opossum fire (rejects)', () => opossum.fire().catch(noop));
  const cockatiel = circuitBreaker(handleAll, { halfOpenAfter: 1e9, breaker: new ConsecutiveBreaker(1) });
  await cockatiel.execute(fail).catch(noop);
  await run('breaker open', 'cockatiel execute (rejects)', () => cockatiel.execute(work).catch(noop));
}

// ---- retry, first attempt succeeds
{
  const stanchion = new s.Retry({ backoff: { schedule: 'constant', delay: 10, maxAttempts: 3 } });
  await run('retry success', 'stanchion retry.execute', () => stanchion.execute(work));
  const budgeted = new s.Retry({ backoff: { schedule: 'constant', delay: 10, maxAttempts: 3 }, budget: new s.RetryBudget({ ratio: 0.1 }) });
  await run('retry success', 'stanchion retry.execute with budget', () => budgeted.execute(work));
  const cockatiel = retry(handleAll, { maxAttempts: 2, backoff: new ConstantBackoff(10) });
  await run('retry success', 'cockatiel execute', () => cockatiel.execute(work));
  await run('retry success', 'p-retry', () => pRetry(work, { retries: 2, minTimeout: 10 }));
}

// ---- bulkhead, under its cap
{
  const stanchion = new s.Bulkhead({ maxConcurrent: 10, maxWaiting: 100 });
  await run('bulkhead', 'stanchion bulkhead.execute', () => stanchion.execute(work));
  const cockatiel = bulkhead(10, 100);
  await run('bulkhead', 'cockatiel execute', () => cockatiel.execute(work));
  const limit = pLimit(10);
  await run('bulkhead', 'p-limit', () => limit(work));
  // Bottleneck waits on a timer between jobs (milliseconds per call): fewer calls suffice.
  const bottleneck = new Bottleneck({ maxConcurrent: 10 });
  await run('bulkhead', 'bottleneck schedule', () => bottleneck.schedule(work), 200);
}

// ---- rate limiters, under their limit
{
  const limiter = new s.RateLimiter({ capacity: 1e9, refillAmount: 1e6, refillEvery: 1 });
  await run('limiter', 'stanchion limiter.tryAcquire (sync)', () => limiter.tryAcquire());
  await run('limiter', 'stanchion limiter.execute', () => limiter.execute(work));
  const keyed = new s.KeyedRateLimiter({ capacity: 1e9, refillAmount: 1e6, refillEvery: 1 });
  await run('limiter', 'stanchion keyed.tryAcquire("user-42")', () => keyed.tryAcquire('user-42'));
  const bottleneck = new Bottleneck({ reservoir: 1e12 });
  await run('limiter', 'bottleneck schedule (reservoir)', () => bottleneck.schedule(work), 200);
}

// ---- everything at once
{
  const policy = new s.Policy({
    retry: new s.Retry({ backoff: { schedule: 'constant', delay: 10, maxAttempts: 3 } }),
    breaker: new s.CircuitBreaker(),
    bulkhead: new s.Bulkhead({ maxConcurrent: 10, maxWaiting: 100 }),
    limiter: new s.RateLimiter({ capacity: 1e9, refillAmount: 1e6, refillEvery: 1 }),
  });
  await run('policy', 'stanchion policy.execute (retry, breaker, bulkhead, limiter)', () => policy.execute(work));
}

const floor = results.find((r) => r.group === 'floor').ns;
console.log(`\nNode ${process.version}, ${ITERATIONS} calls x ${ROUNDS} rounds, median ns per call; overhead = ns - floor (${floor.toFixed(1)} ns)\n`);
console.log('| case | implementation | ns/call | overhead |');
console.log('| --- | --- | ---: | ---: |');
for (const r of results) console.log(`| ${r.group} | ${r.name} | ${r.ns.toFixed(1)} | ${(r.ns - floor).toFixed(1)} |`);

const ns = (group, prefix) => results.find((r) => r.group === group && r.name.startsWith(prefix)).ns;
const ratio = (peer, ours) => (peer / ours).toFixed(2);
const closed = ns('breaker closed', 'stanchion');
const open = ns('breaker open', 'stanchion execute');
console.log('\nTargets (peer ns / stanchion ns; higher is better for stanchion):');
console.log(`- breaker.execute vs opossum fire (defaults): ${ratio(ns('breaker closed', 'opossum fire (defaults'), closed)}x (target >= 5)`);
console.log(`- breaker.execute vs opossum fire (timeout: false): ${ratio(ns('breaker closed', 'opossum fire (timeout'), closed)}x`);
console.log(`- breaker.execute vs cockatiel (ConsecutiveBreaker): ${ratio(ns('breaker closed', 'cockatiel execute (Consecutive'), closed)}x (target >= 1)`);
console.log(`- breaker.execute vs cockatiel (SamplingBreaker): ${ratio(ns('breaker closed', 'cockatiel execute (Sampling'), closed)}x (target >= 1)`);
console.log(`- open rejection vs opossum: ${ratio(ns('breaker open', 'opossum'), open)}x, vs cockatiel: ${ratio(ns('breaker open', 'cockatiel'), open)}x (target >= 4 each)`);
console.log(`- retry success vs cockatiel: ${ratio(ns('retry success', 'cockatiel'), ns('retry success', 'stanchion retry.execute'))}x (target >= 1)`);
console.log(`- bulkhead vs cockatiel: ${ratio(ns('bulkhead', 'cockatiel'), ns('bulkhead', 'stanchion'))}x (target >= 1)`);
