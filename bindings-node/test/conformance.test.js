'use strict';
// The conformance scenarios (conformance/*/*.json at the repository root), run through the
// public JS API: every answer must be the core's. Times go in as exact bigint nanoseconds
// through an injected clock and come out as milliseconds (numbers); an expected nanosecond
// value is compared as the same double, `Number(ns) / 1e6`, which tells every nanosecond
// apart below 2^52 ns (52 days). A file with `known_deviation` must mismatch somewhere: if it
// runs clean, the deviation is gone and this test fails.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const s = require('..');

const ROOT = process.env.STANCHION_CONFORMANCE ?? path.join(__dirname, '..', '..', 'conformance');

// Fields that hold an instant or a duration (ns in the files, ms in the API).
const TIME_FIELDS = new Set(['retry_after', 'ready_at', 'open_until', 'next_token_at', 'full_at', 'delay', 'expires_at', 'remaining']);

const big = (v) => (v === undefined || v === null ? v : BigInt(v));
const ms = (v) => (v === null || v === undefined ? null : Number(BigInt(v)) / 1e6);
const snake = (name) => (name === 'factor' ? 'schedule.factor' : name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`));
const snakeKeys = (o) => Object.fromEntries(Object.entries(o).map(([k, v]) => [snake(k), v ?? null]));

class Mismatch extends Error {}

function expected(field, value) {
  if (field === 'delays') return value.map(ms);
  if (TIME_FIELDS.has(field)) return ms(value);
  if (typeof value === 'string' && /^[0-9]+$/.test(value)) return Number(BigInt(value));
  return value;
}

/** Runs `make` and reports the field a config error names (null when accepted). */
function errorField(make) {
  try {
    make();
    return null;
  } catch (error) {
    if (!(error instanceof RangeError || error instanceof TypeError)) throw error;
    const option = error.option ?? /option `([^`]+)`/.exec(error.message)?.[1];
    if (option === undefined) throw error;
    // The JS option `lanes` carries both of the core's `lanes` (how many) and `lane_ceilings`.
    if (option === 'lanes' && /lane 0/.test(error.message)) return 'lane_ceilings';
    return snake(option.replace(/\[\d+\]$/, ''));
  }
}

function admission(answer) {
  return answer.ok
    ? { admitted: true, reason: null, retry_after: null }
    : { admitted: false, reason: answer.reason, retry_after: answer.retryAfter };
}

// ---- breaker -------------------------------------------------------------------------------

function breakerOptions(c, clock) {
  const o = { clock };
  if ('failure_count' in c) o.failureCount = c.failure_count;
  if (c.consecutive_failures != null) o.consecutiveFailures = c.consecutive_failures;
  if (c.failure_rate != null) o.failureRate = c.failure_rate;
  if (c.minimum_calls !== undefined) o.minimumCalls = c.minimum_calls;
  if (c.slow_call != null) o.slowCall = { duration: big(c.slow_call.duration), rate: c.slow_call.rate };
  if (c.window?.count !== undefined) o.window = { count: c.window.count };
  if (c.window?.time !== undefined) o.window = { span: big(c.window.time.span), buckets: c.window.time.buckets };
  if (c.open_for !== undefined) o.openFor = big(c.open_for);
  if (c.open_for_max !== undefined) o.openForMax = big(c.open_for_max);
  if (c.open_for_factor !== undefined) o.openForFactor = c.open_for_factor;
  if (c.open_for_jitter !== undefined) o.openForJitter = c.open_for_jitter;
  if (c.half_open_probes !== undefined) o.halfOpenProbes = c.half_open_probes;
  if (c.half_open_successes != null) o.halfOpenSuccesses = c.half_open_successes;
  if (c.probe_timeout != null) o.probeTimeout = big(c.probe_timeout);
  if (c.seed !== undefined) o.seed = big(c.seed);
  return o;
}

function breakerSubject(config, time) {
  const clock = () => time.now;
  const breaker = new s.CircuitBreaker(breakerOptions(config, clock));
  const permits = new Map();
  let events = [];
  breaker.on('stateChange', (t) => events.push({ from: t.from, to: t.to }));
  const take = () => {
    const taken = events;
    events = [];
    return taken;
  };
  const one = () => take()[0] ?? null;
  // An operator's transition is both returned and emitted: check they agree.
  const operator = (a, act) => {
    time.now = big(a.now);
    const transition = act();
    assert.deepStrictEqual(one(), transition === null ? null : { ...transition });
    return { transition };
  };
  const permit = (name) => {
    const p = permits.get(name);
    if (!p) throw new Error(`no permit named ${name}`);
    permits.delete(name);
    return p;
  };
  return {
    acquire(a) {
      time.now = big(a.now);
      const answer = breaker.tryAcquire();
      if (answer.ok && a.as !== undefined) permits.set(a.as, answer);
      return { ...admission(answer), transition: one() };
    },
    call(a) {
      time.now = big(a.now);
      const answer = breaker.tryAcquire();
      if (answer.ok) {
        time.now = big(a.now) + big(a.duration ?? 0);
        answer.record(a.outcome);
      }
      return { ...admission(answer), transitions: take() };
    },
    record(a) {
      const p = permit(a.permit);
      time.now = big(a.now);
      p.record(a.outcome);
      return { transition: one() };
    },
    release(a) {
      const p = permit(a.permit);
      time.now = big(a.now);
      p.release();
      return { transition: one() };
    },
    force_open: (a) => operator(a, () => breaker.forceOpen()),
    disable: (a) => operator(a, () => breaker.disable()),
    reset: (a) => operator(a, () => breaker.reset()),
    state: () => ({ state: breaker.state }),
    snapshot(a) {
      time.now = big(a.now);
      return snakeKeys(breaker.snapshot());
    },
    reconfigure(a) {
      time.now = big(a.now);
      return { error_field: errorField(() => breaker.reconfigure(breakerOptions(a.config, clock))) };
    },
    validate: (a) => ({ error_field: errorField(() => new s.CircuitBreaker(breakerOptions(a.config, clock))) }),
  };
}

// ---- backoff -------------------------------------------------------------------------------

function backoffOptions(c) {
  const [schedule, params] = Object.entries(c.schedule)[0];
  const o = { schedule };
  for (const [k, v] of Object.entries(params)) o[k] = k === 'factor' ? v : big(v);
  if (c.jitter !== undefined) o.jitter = c.jitter;
  if (c.max_delay != null) o.maxDelay = big(c.max_delay);
  if ('max_attempts' in c) o.maxAttempts = c.max_attempts;
  if (c.max_elapsed != null) o.maxElapsed = big(c.max_elapsed);
  return o;
}

function backoffSubject(config) {
  const backoff = new s.Backoff(backoffOptions(config));
  let retrying;
  const EXHAUSTED = { '-1': 'max_attempts', '-2': 'max_elapsed' };
  return {
    delay: (a) => ({ delay: backoff.delay(a.attempt, big(a.seed)) }),
    delays: (a) => ({ delays: backoff.delays(big(a.seed), a.limit) }),
    start(a) {
      retrying = backoff.start(big(a.seed), big(a.now));
      return {};
    },
    next_delay(a) {
      const delay = retrying.nextDelay(big(a.now), a.hint === undefined ? undefined : ms(a.hint));
      return { delay: delay < 0 ? null : delay, exhausted: EXHAUSTED[delay] ?? null, retries: retrying.retries };
    },
    validate: (a) => ({ error_field: errorField(() => new s.Backoff(backoffOptions(a.config))) }),
  };
}

// ---- retry budget --------------------------------------------------------------------------

function budgetOptions(c, clock) {
  return { ratio: c.ratio, minRetriesPerSec: c.min_retries_per_sec, maxBalance: c.max_balance, clock };
}

function budgetSubject(config, time) {
  const clock = () => time.now;
  const budget = new s.RetryBudget(budgetOptions(config, clock));
  return {
    deposit: () => (budget.deposit(), {}),
    try_retry: (a) => ((time.now = big(a.now)), admission(budget.tryRetry())),
    snapshot: (a) => ((time.now = big(a.now)), snakeKeys(budget.snapshot())),
    validate: (a) => ({ error_field: errorField(() => new s.RetryBudget(budgetOptions(a.config, clock))) }),
  };
}

// ---- deadline ------------------------------------------------------------------------------

function deadlineSubject(config, time) {
  const clock = () => time.now;
  let deadline;
  if (config.at !== undefined && config.at !== null) {
    deadline = new s.Deadline({ at: big(config.at), clock });
  } else {
    time.now = big(config.now);
    deadline = new s.Deadline({ timeout: big(config.timeout), clock });
  }
  return {
    check(a) {
      time.now = big(a.now);
      return { expires_at: deadline.expiresAt, remaining: deadline.remaining(), expired: deadline.isExpired() };
    },
    min(a) {
      deadline = deadline.min(new s.Deadline({ at: big(a.at), clock }));
      return { expires_at: deadline.expiresAt };
    },
  };
}

// ---- token bucket and keyed limiter --------------------------------------------------------

function bucketOptions(c, clock) {
  return { capacity: c.capacity, refillAmount: c.refill_amount, refillEvery: big(c.refill_every), clock };
}

function keyedOptions(c, clock) {
  return { ...bucketOptions(c, clock), maxKeys: c.slots ?? 4, whenFull: c.policy ?? 'reject' };
}

function limiterSubject(config, time, keyed) {
  const clock = () => time.now;
  const make = (c) => (keyed ? new s.KeyedRateLimiter(keyedOptions(c, clock)) : new s.RateLimiter(bucketOptions(c, clock)));
  const limiter = make(config);
  const keyOf = (a) => (keyed ? [big(a.key)] : []);
  const at = (a) => (time.now = big(a.now));
  return {
    try_acquire: (a) => (at(a), admission(limiter.tryAcquire(...keyOf(a), a.n ?? 1))),
    reserve(a) {
      at(a);
      const answer = limiter.reserve(...keyOf(a), a.n ?? 1, big(a.max_wait));
      return { ...admission(answer), ready_at: answer.ok ? answer.readyAt : null };
    },
    available: (a) => (at(a), { available: limiter.available(...keyOf(a)) }),
    snapshot: (a) => (at(a), snakeKeys(limiter.snapshot(...keyOf(a)))),
    active_keys: (a) => (at(a), { active_keys: limiter.activeKeys() }),
    validate: (a) => ({ error_field: errorField(() => make(a.config)) }),
  };
}

// ---- bulkhead ------------------------------------------------------------------------------

function bulkheadOptions(c) {
  return { maxConcurrent: c.max_concurrent, lanes: c.lanes, maxWaiting: c.max_waiting ?? 16 };
}

const flush = () => new Promise((resolve) => setImmediate(resolve));

function bulkheadSubject(config) {
  const bulkhead = new s.Bulkhead(bulkheadOptions(config));
  const names = new Map(); // name -> { permit } | { waiter: { settled, permit, error, controller, order } }
  let order = 0;
  const bind = (name, value) => {
    if (names.has(name)) throw new Error(`name ${name} is bound`);
    names.set(name, value);
  };
  // Waiters whose promise settled during a step, in the order their names were bound.
  const woken = () => {
    const list = [];
    for (const [name, v] of names) {
      if (v.waiter?.settled && !v.waiter.reported) {
        v.waiter.reported = true;
        list.push([v.waiter.order, name]);
      }
    }
    return list.sort((a, b) => a[0] - b[0]).map(([, name]) => name);
  };
  return {
    try_acquire(a) {
      const answer = bulkhead.tryAcquire(Number(big(a.lane ?? 0)));
      if (answer.ok) bind(a.as ?? `held ${order++}`, { permit: answer });
      return { ...admission(answer), lane: answer.ok ? answer.lane : null };
    },
    async acquire_async(a) {
      const controller = new AbortController();
      const waiter = { settled: false, controller, order: order++, reported: false };
      const done = bulkhead.acquire({ lane: Number(big(a.lane ?? 0)), signal: controller.signal }).then(
        (permit) => Object.assign(waiter, { settled: true, permit }),
        (error) => Object.assign(waiter, { settled: true, error }),
      );
      await Promise.race([done, flush()]);
      if (waiter.settled && waiter.permit) {
        waiter.reported = true;
        bind(a.as, { permit: waiter.permit });
        return { admitted: true, pending: false, reason: null, retry_after: null, lane: waiter.permit.lane, woken: woken() };
      }
      if (waiter.settled) {
        return { admitted: false, pending: false, reason: waiter.error.reason, retry_after: waiter.error.retryAfter, lane: null, woken: woken() };
      }
      bind(a.as, { waiter });
      return { admitted: false, pending: true, reason: null, retry_after: null, lane: null, woken: woken() };
    },
    poll(a) {
      const { waiter } = names.get(a.waiter);
      if (!waiter.settled) return { admitted: false, pending: true, lane: null };
      names.set(a.waiter, { permit: waiter.permit });
      return { admitted: true, pending: false, lane: waiter.permit.lane };
    },
    async cancel(a) {
      const { waiter } = names.get(a.waiter);
      names.delete(a.waiter);
      if (waiter.settled) waiter.permit.release(); // a granted future passes its permit on
      else waiter.controller.abort();
      await flush();
      return { woken: woken() };
    },
    async release(a) {
      const bound = names.get(a.permit);
      if (bound.waiter) throw new Error(`${a.permit} is a waiting future`);
      const released = bound.permit.release();
      await flush();
      return { released, woken: woken() };
    },
    snapshot: () => snakeKeys(bulkhead.snapshot()),
    validate: (a) => ({ error_field: errorField(() => new s.Bulkhead(bulkheadOptions(a.config))) }),
  };
}

// ---- the runner ----------------------------------------------------------------------------

const SUBJECTS = {
  breaker: breakerSubject,
  backoff: backoffSubject,
  retry_budget: budgetSubject,
  deadline: deadlineSubject,
  token_bucket: (c, t) => limiterSubject(c, t, false),
  keyed_limiter: (c, t) => limiterSubject(c, t, true),
  bulkhead: bulkheadSubject,
};

async function run(file, scenario) {
  const time = { now: 0n };
  const subject = SUBJECTS[scenario.primitive](scenario.config, time);
  for (const [index, step] of scenario.steps.entries()) {
    const op = subject[step.op];
    if (op === undefined) throw new Error(`${file}: step ${index}: unknown op ${step.op}`);
    for (let i = 0; i < (step.repeat ?? 1); i++) {
      const observed = await op(step);
      for (const [field, value] of Object.entries(step.expect ?? {})) {
        if (!(field in observed)) throw new Error(`${file}: step ${index}: ${step.op} does not report \`${field}\``);
        const got = observed[field] === undefined ? null : observed[field];
        try {
          assert.deepStrictEqual(got, expected(field, value));
        } catch {
          throw new Mismatch(`${file}: step ${index}: ${step.op}: \`${field}\`: expected ${JSON.stringify(expected(field, value))}, got ${JSON.stringify(got)}`);
        }
      }
    }
  }
}

const files = fs
  .readdirSync(ROOT, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .flatMap((d) => fs.readdirSync(path.join(ROOT, d.name)).filter((f) => f.endsWith('.json')).map((f) => `${d.name}/${f}`))
  .sort();

test('conformance scenarios are found', () => {
  assert.ok(files.length > 50, `only ${files.length} scenario files under ${ROOT}`);
});

for (const file of files) {
  const scenario = JSON.parse(fs.readFileSync(path.join(ROOT, file), 'utf8'));
  test(`conformance ${file}`, async (t) => {
    if (scenario.known_deviation === undefined) {
      await run(file, scenario);
      return;
    }
    try {
      await run(file, scenario);
    } catch (error) {
      if (!(error instanceof Mismatch)) throw error;
      t.diagnostic(`expected failure (${scenario.known_deviation}): ${error.message}`);
      return;
    }
    assert.fail(`${file} has known_deviation but runs clean: remove the field`);
  });
}
