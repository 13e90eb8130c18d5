// A typed tour of the API: `tsc --noEmit` must accept it (the tests run it), and the
// `@ts-expect-error` lines must stay errors.
import {
  AdaptiveLimiter,
  Backoff,
  Bulkhead,
  CircuitBreaker,
  CircuitOpenError,
  Deadline,
  KeyedRateLimiter,
  Policy,
  RateLimiter,
  Retry,
  RetryBudget,
  StanchionError,
  type AdaptiveSnapshot,
  type BreakerSnapshot,
  type LimitChange,
  type Refusal,
} from 'stanchion';

async function tour(): Promise<void> {
  const breaker = new CircuitBreaker({ failureRate: 0.5, window: { count: 20 }, openFor: 5_000 });
  breaker.on('stateChange', ({ from, to }) => console.log(`${from} -> ${to}`));
  const n: number = await breaker.execute(async (signal) => (signal?.aborted ? 0 : 1));
  const permit = breaker.tryAcquire();
  if (permit.ok) permit.record('success');
  else console.log(permit.code, permit.retryAfter);
  const snapshot: BreakerSnapshot = breaker.snapshot();
  const openUntil: number | null = snapshot.openUntil;

  const limiter = new RateLimiter({ capacity: 10, refillAmount: 10, refillEvery: 1_000 });
  await limiter.acquire({ signal: AbortSignal.timeout(100), maxWait: 50 });
  const answer: { ok: true } | Refusal = limiter.tryAcquire();

  const perUser = new KeyedRateLimiter({ capacity: 5, maxKeys: 4096 });
  perUser.tryAcquire('alice');
  perUser.tryAcquire(42, 2);

  const bulkhead = new Bulkhead({ maxConcurrent: 4, maxWaiting: 100, lanes: [4, 2] });
  const slot = await bulkhead.acquire({ lane: 1 });
  const released: boolean = slot.release();

  const adaptive = new AdaptiveLimiter({ algorithm: { name: 'vegas', alpha: 2 }, minLimit: 2, maxLimit: 200, window: 500 });
  adaptive.on('limitChange', ({ from, to }) => console.log(`limit ${from} -> ${to}`));
  const fetched: number = await adaptive.execute(async (signal) => (signal?.aborted ? 0 : 1), { signal: AbortSignal.timeout(100) });
  const ticket = adaptive.tryAcquire();
  const change: LimitChange | null = ticket.ok ? ticket.record('dropped') : null;
  const lowered: AdaptiveSnapshot = adaptive.snapshot();
  const exactBaseline: bigint | null = new AdaptiveLimiter({ algorithm: 'gradient2', unit: 'ns', clock: process.hrtime.bigint }).snapshot().baseline;

  const backoff = new Backoff({ schedule: 'exponential', initial: 100, factor: 2, jitter: 'full', maxAttempts: 5 });
  const first: number | null = backoff.delay(0, 7);
  const retry = new Retry({ backoff, budget: new RetryBudget({ ratio: 0.1 }) });
  retry.on('retry', ({ attempt, delay }) => console.log(attempt, delay));
  const text: string = await retry.execute(async (_signal, attempt) => `attempt ${attempt}`);

  const policy = new Policy({ breaker, bulkhead, adaptive, limiter, retry, timeout: 2_000, attemptTimeout: 500n, fallback: () => 'cached' as const });
  const value: string = await policy.execute(async () => 'fresh');

  const deadline = new Deadline({ timeout: 2_000 }).min(new Deadline({ at: 10n ** 12n, clock: process.hrtime.bigint }));
  const left: number = deadline.isExpired() ? 0 : deadline.remaining();
  const expiresAt: number = deadline.expiresAt;

  // Exact nanoseconds out, with `unit: 'ns'`; the retry loop's steps for a loop of your own.
  const exact = new RateLimiter({ capacity: 1, unit: 'ns', clock: process.hrtime.bigint });
  const refused = exact.tryAcquire();
  const wait: bigint | null = refused.ok ? null : refused.retryAfter;
  const stepped = new Retry({ backoff: { schedule: 'constant', delay: 10 }, retryRefusals: true, unit: 'ns' });
  stepped.on('giveUp', ({ reason, attempts }) => console.log(reason, attempts));
  const call = stepped.start({ deadline: new Deadline({ timeout: 1_000 }) });
  if (call.stop === null) {
    const decision = call.failed(new Error('down'));
    const pause: bigint | null = decision.wait;
    if (decision.next === 'retry') console.log(pause, call.resume().attempt);
  }
  const tiny: number | null = new Backoff({ schedule: 'constant', delay: 1 }).delay(0);
  const tinyNs: bigint | null = new Backoff({ schedule: 'constant', delay: 1, unit: 'ns' }).delay(0);

  try {
    await breaker.execute(() => 1);
  } catch (error) {
    if (error instanceof CircuitOpenError) console.log(error.code, error.retryAfter);
    if (error instanceof StanchionError) console.log(error.reason);
  }

  // @ts-expect-error durations are numbers (ms) or bigints (ns), not strings
  new CircuitBreaker({ openFor: '5s' });
  // @ts-expect-error a backoff needs the fields of its schedule
  new Backoff({ schedule: 'linear', initial: 10 });
  // @ts-expect-error outcomes are 'success', 'failure' or 'ignored'
  if (permit.ok) permit.record('ok');
  // @ts-expect-error a deadline is `timeout` after now or `at` an instant, not both
  new Deadline({ timeout: 1_000, at: 5_000 });
  // @ts-expect-error an algorithm's parameters are its own: Vegas has no backoffRatio
  new AdaptiveLimiter({ algorithm: { name: 'vegas', backoffRatio: 0.5 } });
  // @ts-expect-error a permit's own outcomes include 'dropped', not 'timeout'
  if (ticket.ok) ticket.record('timeout');
  // @ts-expect-error a 'ms' instance gives numbers back, not bigints
  const notExact: bigint = new Deadline({ timeout: 1_000 }).expiresAt;

  console.log(fetched, change, lowered.baseline, exactBaseline, n, openUntil, answer, released, first, text, value, left, expiresAt, wait, tiny, tinyNs, notExact);
}

void tour;
