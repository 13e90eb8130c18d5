'use strict';
// The conformance scenarios (conformance/*/*.json at the repository root, format in
// conformance/README.md), run through the public JS API: every answer must be the core's.
//
// - Times are exact. Every instance is built with `unit: 'ns'` and a clock returning bigint
//   nanoseconds, so every instant and duration goes in and comes out as an exact bigint and is
//   compared with the file's integer (a number, or a decimal string above 2^53 - 1) as a
//   bigint: no millisecond doubles, no `Number` of a large integer.
// - The runner is strict, as the format says: an unknown top-level, config or step field, an
//   argument an op does not take, an unknown op, an integer written in the wrong form (a number
//   above 2^53 - 1, or a string at or below it), or a misused name is a format error, which
//   fails the file whatever its `known_deviation`.
// - Defaults are the files' and the binding's own: a config field the file leaves out is left
//   out of the options too (the format's defaults are the core's, and so are this package's).
// - A file with `known_deviation` must mismatch somewhere: if it runs clean, the deviation is
//   gone and this test fails.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const s = require('..');

const ROOT = process.env.STANCHION_CONFORMANCE ?? path.join(__dirname, '..', '..', 'conformance');
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

class FormatError extends Error {}
class Mismatch extends Error {}

const fail = (message) => {
  throw new FormatError(message);
};
const show = (v) => JSON.stringify(v, (_, x) => (typeof x === 'bigint' ? `${x}n` : x));

// ---- values: integers (numbers up to 2^53 - 1, decimal strings above), floats, enums ---------

/** An integer of the file as a bigint, in the one form the format allows for its size. */
function int(v, what) {
  if (typeof v === 'number') {
    if (!Number.isInteger(v) || v < 0) fail(`${what}: ${v} is not a non-negative integer`);
    if (v > Number.MAX_SAFE_INTEGER) fail(`${what}: ${v} is above 2^53 - 1: write it as a string`);
    return BigInt(v);
  }
  if (typeof v === 'string' && /^[0-9]+$/.test(v)) {
    const n = BigInt(v);
    if (n <= MAX_SAFE) fail(`${what}: "${v}" is at most 2^53 - 1: write it as the number ${v}`);
    if (n >= 1n << 64n) fail(`${what}: "${v}" is above u64::MAX`);
    return n;
  }
  return fail(`${what}: ${show(v)} is not an integer`);
}

/** A u32 of the file, as the API's numbers take it. */
function u32(v, what) {
  const n = int(v, what);
  if (n > 0xffffffffn) fail(`${what}: ${n} is above u32::MAX`);
  return Number(n);
}

function float(v, what) {
  if (typeof v !== 'number') fail(`${what}: ${show(v)} is not a number`);
  return v;
}

function string(v, what) {
  if (typeof v !== 'string') fail(`${what}: ${show(v)} is not a string`);
  return v;
}

function boolean(v, what) {
  if (typeof v !== 'boolean') fail(`${what}: ${show(v)} is not true or false`);
  return v;
}

/** An enum value: `"name"`, or `{ "name": data }`. */
function variant(v, what) {
  if (typeof v === 'string') return [v, undefined];
  if (v !== null && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length === 1) return Object.entries(v)[0];
  return fail(`${what}: ${show(v)} is not a variant name or a one-field object`);
}

/** An object's fields, taken one by one; whatever is left at `finish` is unknown. */
class Fields {
  constructor(value, what) {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) fail(`${what} must be an object, got ${show(value)}`);
    this.map = new Map(Object.entries(value));
    this.what = what;
  }

  take(key) {
    const value = this.map.get(key);
    this.map.delete(key);
    return value;
  }

  required(key) {
    if (!this.map.has(key)) fail(`${this.what}: missing field \`${key}\``);
    return this.take(key);
  }

  /** A required field, parsed. */
  get(key, parse) {
    return parse(this.required(key), `\`${key}\``);
  }

  /** An optional field, parsed; undefined when absent (the default applies). */
  opt(key, parse) {
    const value = this.take(key);
    return value === undefined ? undefined : parse(value, `\`${key}\``);
  }

  /** An optional field that may be `null` (none): undefined when absent, null for none. */
  nullable(key, parse) {
    const value = this.take(key);
    if (value === undefined || value === null) return value;
    return parse(value, `\`${key}\``);
  }

  finish() {
    const [first] = this.map.keys();
    if (first !== undefined) fail(`${this.what}: unknown field \`${first}\``);
  }
}

/** `options[name] = value` unless the file left the field out. */
function set(options, name, value) {
  if (value !== undefined) options[name] = value;
}

// ---- answers --------------------------------------------------------------------------------

/** Whether an observed value equals the file's expected JSON value; bigints are exact. */
function same(want, got) {
  if (typeof got === 'bigint') return (typeof want === 'number' || typeof want === 'string') && int(want, 'expected') === got;
  if (typeof want === 'string' && /^[0-9]+$/.test(want)) return typeof got === 'number' && Number.isSafeInteger(got) && int(want, 'expected') === BigInt(got);
  if (Array.isArray(want)) return Array.isArray(got) && got.length === want.length && want.every((w, i) => same(w, got[i]));
  if (want !== null && typeof want === 'object') {
    if (got === null || typeof got !== 'object') return false;
    const keys = Object.keys(want);
    return keys.length === Object.keys(got).length && keys.every((k) => k in got && same(want[k], got[k]));
  }
  if (typeof want === 'number' && Number.isInteger(want)) int(want, 'expected');
  return want === got;
}

function admission(answer) {
  return answer.ok ? { admitted: true, reason: null, retry_after: null } : { admitted: false, reason: answer.reason, retry_after: answer.retryAfter };
}

const snake = (name) => (name === 'factor' ? 'schedule.factor' : name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`));
const snakeKeys = (o) => Object.fromEntries(Object.entries(o).map(([k, v]) => [snake(k), v ?? null]));

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

/** A clock the steps set: bigint nanoseconds. */
function timeline() {
  const time = { now: 0n };
  time.clock = () => time.now;
  time.at = (args) => (time.now = args.get('now', int));
  return time;
}

// ---- breaker -------------------------------------------------------------------------------

function breakerOptions(value, time) {
  const f = new Fields(value, 'a breaker config');
  const o = { clock: time.clock, unit: 'ns' };
  const failureCount = f.nullable('failure_count', u32);
  if (failureCount !== undefined) o.failureCount = failureCount;
  set(o, 'consecutiveFailures', f.nullable('consecutive_failures', u32) ?? undefined);
  set(o, 'failureRate', f.nullable('failure_rate', float) ?? undefined);
  set(o, 'minimumCalls', f.opt('minimum_calls', u32));
  set(o, 'slowCall', f.nullable('slow_call', (v, what) => {
    const slow = new Fields(v, what);
    const parsed = { duration: slow.get('duration', int), rate: slow.get('rate', float) };
    slow.finish();
    return parsed;
  }) ?? undefined);
  set(o, 'window', f.opt('window', (v, what) => {
    const [kind, data] = variant(v, what);
    if (kind === 'count' && data !== undefined) return { count: u32(data, '`count`') };
    if (kind !== 'time' || data === undefined) fail(`${what}: ${show(v)} is not {"count": n} or {"time": {...}}`);
    const time = new Fields(data, '`time`');
    const window = { span: time.get('span', int), buckets: time.get('buckets', u32) };
    time.finish();
    return window;
  }));
  set(o, 'openFor', f.opt('open_for', int));
  set(o, 'openForMax', f.opt('open_for_max', int));
  set(o, 'openForFactor', f.opt('open_for_factor', float));
  set(o, 'openForJitter', f.opt('open_for_jitter', float));
  set(o, 'halfOpenProbes', f.opt('half_open_probes', u32));
  set(o, 'halfOpenSuccesses', f.nullable('half_open_successes', u32) ?? undefined);
  set(o, 'probeTimeout', f.nullable('probe_timeout', int) ?? undefined);
  set(o, 'seed', f.opt('seed', int));
  f.finish();
  return o;
}

function outcome(v, what) {
  if (!['success', 'failure', 'ignored'].includes(v)) fail(`${what}: ${show(v)} is not "success", "failure" or "ignored"`);
  return v;
}

function breakerSubject(config, time) {
  const breaker = new s.CircuitBreaker(breakerOptions(config, time));
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
  const operator = (args, act) => {
    time.at(args);
    const transition = act();
    assert.deepStrictEqual(one(), transition === null ? null : { ...transition });
    return { transition };
  };
  const permit = (args) => {
    const name = args.get('permit', string);
    const p = permits.get(name);
    if (!p) fail(`no permit named \`${name}\` (never admitted, or already used)`);
    permits.delete(name);
    return p;
  };
  return {
    acquire(args) {
      time.at(args);
      const name = args.nullable('as', string);
      const answer = breaker.tryAcquire();
      if (answer.ok && name != null) {
        if (permits.has(name)) fail(`permit name \`${name}\` is still in use`);
        permits.set(name, answer);
      }
      return { ...admission(answer), transition: one() };
    },
    call(args) {
      const now = time.at(args);
      const result = args.get('outcome', outcome);
      const duration = args.opt('duration', int) ?? 0n;
      const answer = breaker.tryAcquire();
      if (answer.ok) {
        time.now = now + duration;
        answer.record(result);
      }
      return { ...admission(answer), transitions: take() };
    },
    record(args) {
      const p = permit(args);
      const result = args.get('outcome', outcome);
      time.at(args);
      p.record(result);
      return { transition: one() };
    },
    release(args) {
      const p = permit(args);
      time.at(args);
      p.release();
      return { transition: one() };
    },
    force_open: (args) => operator(args, () => breaker.forceOpen()),
    disable: (args) => operator(args, () => breaker.disable()),
    reset: (args) => operator(args, () => breaker.reset()),
    state: () => ({ state: breaker.state }),
    snapshot(args) {
      time.at(args);
      return snakeKeys(breaker.snapshot());
    },
    reconfigure(args) {
      // An instance keeps its unit (and its clock): reconfigure takes the rest.
      const { unit, clock, ...options } = breakerOptions(args.required('config'), time);
      time.at(args);
      return { error_field: errorField(() => breaker.reconfigure(options)) };
    },
    validate: (args) => {
      const options = breakerOptions(args.required('config'), time);
      return { error_field: errorField(() => new s.CircuitBreaker(options)) };
    },
  };
}

// ---- backoff -------------------------------------------------------------------------------

function backoffOptions(value) {
  const f = new Fields(value, 'a backoff config');
  const [schedule, data] = variant(f.required('schedule'), '`schedule`');
  const params = new Fields(data ?? null, `\`${schedule}\``);
  const o = { schedule, unit: 'ns' };
  const durations = { constant: ['delay'], linear: ['initial', 'step'], exponential: ['initial'], decorrelated: ['base'] }[schedule];
  if (durations === undefined) fail(`unknown schedule \`${schedule}\``);
  for (const name of durations) o[name] = params.get(name, int);
  if (schedule === 'exponential') o.factor = params.get('factor', float);
  params.finish();
  set(o, 'jitter', f.opt('jitter', (v, what) => {
    const [kind, p] = variant(v, what);
    if (kind === 'proportional' && p !== undefined) return { proportional: float(p, '`proportional`') };
    if (['none', 'full', 'equal'].includes(kind) && p === undefined) return kind;
    return fail(`${what}: ${show(v)} is not "none", "full", "equal" or {"proportional": p}`);
  }));
  set(o, 'maxDelay', f.nullable('max_delay', int) ?? undefined);
  const maxAttempts = f.nullable('max_attempts', u32);
  if (maxAttempts !== undefined) o.maxAttempts = maxAttempts;
  set(o, 'maxElapsed', f.nullable('max_elapsed', int) ?? undefined);
  f.finish();
  return o;
}

function backoffSubject(config) {
  const backoff = new s.Backoff(backoffOptions(config));
  let retrying;
  const EXHAUSTED = { '-1': 'max_attempts', '-2': 'max_elapsed' };
  return {
    delay: (args) => ({ delay: backoff.delay(args.get('attempt', u32), args.get('seed', int)) }),
    delays: (args) => {
      const seed = args.get('seed', int);
      return { delays: backoff.delays(seed, u32(args.required('limit'), '`limit`')) };
    },
    start(args) {
      retrying = backoff.start(args.get('seed', int), args.get('now', int));
      return {};
    },
    next_delay(args) {
      const now = args.get('now', int);
      const hint = args.nullable('hint', int) ?? undefined;
      if (retrying === undefined) fail('no `start` before `next_delay`');
      const delay = retrying.nextDelay(now, hint);
      return { delay: delay < 0n ? null : delay, exhausted: EXHAUSTED[delay] ?? null, retries: retrying.retries };
    },
    validate: (args) => {
      const options = backoffOptions(args.required('config'));
      return { error_field: errorField(() => new s.Backoff(options)) };
    },
  };
}

// ---- retry budget --------------------------------------------------------------------------

function budgetOptions(value, time) {
  const f = new Fields(value, 'a retry budget config');
  const o = { ratio: f.get('ratio', float), clock: time.clock, unit: 'ns' };
  set(o, 'minRetriesPerSec', f.opt('min_retries_per_sec', u32));
  set(o, 'maxBalance', f.opt('max_balance', u32));
  f.finish();
  return o;
}

function budgetSubject(config, time) {
  const budget = new s.RetryBudget(budgetOptions(config, time));
  return {
    deposit: () => (budget.deposit(), {}),
    try_retry: (args) => (time.at(args), admission(budget.tryRetry())),
    snapshot: (args) => (time.at(args), snakeKeys(budget.snapshot())),
    validate: (args) => {
      const options = budgetOptions(args.required('config'), time);
      return { error_field: errorField(() => new s.RetryBudget(options)) };
    },
  };
}

// ---- retry loop ----------------------------------------------------------------------------

function retrySubject(config, time) {
  const f = new Fields(config, 'a retry config');
  const backoff = new s.Backoff(backoffOptions(f.required('backoff')));
  const budgetConfig = f.nullable('budget', (v) => v);
  const budget = budgetConfig == null ? undefined : new s.RetryBudget(budgetOptions(budgetConfig, time));
  const deadlineAt = f.nullable('deadline', int);
  const retryRefusals = f.opt('retry_refusals', boolean);
  const seed = f.opt('seed', int);
  f.finish();
  // The public Retry; `retryIf` is how a caller judges an error final ("final" errors).
  const options = { backoff, budget, clock: time.clock, unit: 'ns', retryIf: (error) => error.final !== true };
  set(options, 'retryRefusals', retryRefusals);
  set(options, 'seed', seed);
  const retry = new s.Retry(options);
  // Every decision is also announced: check the events say what the steps saw.
  const events = [];
  retry.on('retry', ({ attempt, delay }) => events.push(['retry', attempt, delay]));
  retry.on('giveUp', ({ reason, attempts }) => events.push(['giveUp', attempts, reason]));
  const announced = (expected) => {
    assert.deepStrictEqual(events.splice(0), expected === undefined ? [] : [expected]);
  };
  let call;
  const proceed = (answer) => ({ proceed: answer.proceed, attempt: answer.attempt, stop: answer.stop });
  return {
    start(args) {
      time.at(args);
      const deadline = deadlineAt == null ? undefined : new s.Deadline({ at: deadlineAt, clock: time.clock });
      call = retry.start(deadline === undefined ? undefined : { deadline });
      const started = call.stop === null;
      return { proceed: started, attempt: started ? call.attempts : null, stop: call.stop };
    },
    fail(args) {
      time.at(args);
      const kind = args.get('error', string);
      let error;
      if (kind === 'retryable') {
        error = new Error('retryable');
        const hint = args.nullable('hint', int);
        if (hint != null) error.retryAfter = hint;
      } else if (kind === 'final') {
        error = Object.assign(new Error('final'), { final: true });
      } else if (kind === 'refused') {
        // A refusal of stanchion's own guards, as a breaker, bulkhead or limiter throws it.
        const reason = args.get('reason', string);
        const retryAfter = args.get('retry_after', (v, what) => (v === null ? null : int(v, what)));
        error = new s.StanchionError('refused', 'ERR_REFUSED', reason, retryAfter);
      } else {
        fail(`unknown error \`${kind}\``);
      }
      if (call === undefined) fail('no `start` before `fail`');
      const decision = call.failed(error);
      announced(decision.next === 'retry' ? ['retry', decision.attempts, decision.wait] : ['giveUp', decision.attempts, decision.stop]);
      return { next: decision.next, wait: decision.wait, stop: decision.stop, attempts: decision.attempts };
    },
    resume(args) {
      time.at(args);
      if (call === undefined) fail('no `start` before `resume`');
      const answer = call.resume();
      if (!answer.proceed) announced(['giveUp', call.attempts, answer.stop]);
      return proceed(answer);
    },
  };
}

// ---- deadline ------------------------------------------------------------------------------

function deadlineSubject(config, time) {
  const f = new Fields(config, 'a deadline config');
  const at = f.nullable('at', int);
  let deadline;
  if (at != null) {
    deadline = new s.Deadline({ at, clock: time.clock, unit: 'ns' });
  } else {
    time.now = f.get('now', int);
    deadline = new s.Deadline({ timeout: f.get('timeout', int), clock: time.clock, unit: 'ns' });
  }
  f.finish();
  return {
    check(args) {
      time.at(args);
      return { expires_at: deadline.expiresAt, remaining: deadline.remaining(), expired: deadline.isExpired() };
    },
    min(args) {
      deadline = deadline.min(new s.Deadline({ at: args.get('at', int), clock: time.clock }));
      return { expires_at: deadline.expiresAt };
    },
  };
}

// ---- token bucket and keyed limiter --------------------------------------------------------

function bucketFields(f, time) {
  const o = { capacity: f.get('capacity', u32), clock: time.clock, unit: 'ns' };
  set(o, 'refillAmount', f.opt('refill_amount', u32));
  set(o, 'refillEvery', f.opt('refill_every', int));
  return o;
}

function bucketOptions(value, time) {
  const f = new Fields(value, 'a token bucket config');
  const o = bucketFields(f, time);
  f.finish();
  return o;
}

function keyedOptions(value, time) {
  const f = new Fields(value, 'a keyed limiter config');
  const o = bucketFields(f, time);
  // The format's default table (4 slots) and its limit (every key may use every slot).
  o.maxKeys = f.opt('slots', u32) ?? 4;
  if (o.maxKeys < 1 || o.maxKeys > 8) fail(`\`slots\`: ${o.maxKeys} is not in 1..=8`);
  set(o, 'whenFull', f.opt('policy', (v, what) => (v === 'reject' || v === 'admit' ? v : fail(`${what}: ${show(v)} is not "reject" or "admit"`))));
  f.finish();
  return o;
}

function limiterSubject(config, time, keyed) {
  const make = (c) => (keyed ? new s.KeyedRateLimiter(keyedOptions(c, time)) : new s.RateLimiter(bucketOptions(c, time)));
  const limiter = make(config);
  const keyOf = (args) => (keyed ? [args.get('key', int)] : []);
  return {
    try_acquire(args) {
      const key = keyOf(args);
      const n = args.opt('n', u32) ?? 1;
      time.at(args);
      return admission(limiter.tryAcquire(...key, n));
    },
    reserve(args) {
      const key = keyOf(args);
      const n = args.opt('n', u32) ?? 1;
      time.at(args);
      const answer = limiter.reserve(...key, n, args.get('max_wait', int));
      return { ...admission(answer), ready_at: answer.ok ? answer.readyAt : null };
    },
    available(args) {
      const key = keyOf(args);
      time.at(args);
      return { available: limiter.available(...key) };
    },
    snapshot(args) {
      const key = keyOf(args);
      time.at(args);
      return snakeKeys(limiter.snapshot(...key));
    },
    active_keys(args) {
      if (!keyed) fail('unknown op `active_keys` for a token bucket');
      time.at(args);
      return { active_keys: limiter.activeKeys() };
    },
    validate(args) {
      const config = args.required('config');
      return { error_field: errorField(() => make(config)) };
    },
  };
}

// ---- bulkhead ------------------------------------------------------------------------------

function bulkheadOptions(value) {
  const f = new Fields(value, 'a bulkhead config');
  const o = { maxConcurrent: f.get('max_concurrent', u32) };
  set(o, 'lanes', f.opt('lanes', (v, what) => (Array.isArray(v) ? v.map((c) => u32(c, what)) : fail(`${what}: ${show(v)} is not an array of ceilings`))));
  // Left out: the binding's default, which is the core's (no limit but the waiter table).
  set(o, 'maxWaiting', f.opt('max_waiting', u32));
  f.finish();
  return o;
}

const flush = () => new Promise((resolve) => setImmediate(resolve));

/** A lane of the file (a u64) as the API takes it: every lane past the configured ones is the lowest. */
const lane = (args) => Number(args.opt('lane', int) ?? 0n);

function bulkheadSubject(config) {
  const bulkhead = new s.Bulkhead(bulkheadOptions(config));
  // name -> { permit } | { waiter: { settled, permit, error, controller, order, reported } }
  const names = new Map();
  let order = 0;
  const bind = (name, value) => {
    if (names.has(name)) fail(`name \`${name}\` is already bound`);
    names.set(name, value);
  };
  const waiting = (args) => {
    const name = args.get('waiter', string);
    const bound = names.get(name);
    if (bound?.waiter === undefined) fail(`\`${name}\` is not a waiting future`);
    return [name, bound.waiter];
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
    try_acquire(args) {
      const answer = bulkhead.tryAcquire(lane(args));
      const name = args.nullable('as', string);
      if (answer.ok) bind(name ?? `held ${order++}`, { permit: answer });
      return { ...admission(answer), lane: answer.ok ? answer.lane : null };
    },
    async acquire_async(args) {
      const name = args.get('as', string);
      if (names.has(name)) fail(`name \`${name}\` is already bound`);
      const controller = new AbortController();
      const waiter = { settled: false, controller, order: order++, reported: false };
      const done = bulkhead.acquire({ lane: lane(args), signal: controller.signal }).then(
        (permit) => Object.assign(waiter, { settled: true, permit }),
        (error) => Object.assign(waiter, { settled: true, error }),
      );
      await Promise.race([done, flush()]);
      if (waiter.settled && waiter.permit) {
        waiter.reported = true;
        bind(name, { permit: waiter.permit });
        return { admitted: true, pending: false, reason: null, retry_after: null, lane: waiter.permit.lane, woken: woken() };
      }
      if (waiter.settled) {
        return { admitted: false, pending: false, reason: waiter.error.reason, retry_after: waiter.error.retryAfter, lane: null, woken: woken() };
      }
      bind(name, { waiter });
      return { admitted: false, pending: true, reason: null, retry_after: null, lane: null, woken: woken() };
    },
    poll(args) {
      const [name, waiter] = waiting(args);
      if (!waiter.settled) return { admitted: false, pending: true, lane: null };
      names.set(name, { permit: waiter.permit });
      return { admitted: true, pending: false, lane: waiter.permit.lane };
    },
    async cancel(args) {
      const [name, waiter] = waiting(args);
      names.delete(name);
      // The caller gives up: it aborts its wait. A JS promise has no served-but-not-collected
      // state (a served waiter's promise has delivered its permit), so a caller that gives up
      // after being served gives its permit back, and the core hands it on.
      waiter.controller.abort();
      if (waiter.settled) waiter.permit.release();
      await flush();
      return { woken: woken() };
    },
    async release(args) {
      const name = args.get('permit', string);
      const bound = names.get(name);
      if (bound === undefined) fail(`no permit named \`${name}\``);
      if (bound.waiter) fail(`\`${name}\` is a waiting future, not a permit`);
      const released = bound.permit.release();
      await flush();
      return { released, woken: woken() };
    },
    snapshot: () => snakeKeys(bulkhead.snapshot()),
    validate(args) {
      const options = bulkheadOptions(args.required('config'));
      return { error_field: errorField(() => new s.Bulkhead(options)) };
    },
  };
}

// ---- adaptive limiter ----------------------------------------------------------------------

/** The file's algorithm: a name, or a one-field object of the algorithm's parameters. */
function algorithmOption(v, what) {
  const [name, data] = variant(v, what);
  const params = {
    aimd: { backoff_ratio: ['backoffRatio', float], timeout: ['timeout', int] },
    vegas: { alpha: ['alpha', u32], beta: ['beta', u32], probe_multiplier: ['probeMultiplier', u32], smoothing: ['smoothing', float] },
    gradient2: {
      smoothing: ['smoothing', float],
      queue_size: ['queueSize', u32],
      long_window: ['longWindow', u32],
      rtt_tolerance: ['rttTolerance', float],
      creep_guard: ['creepGuard', boolean],
    },
  }[name];
  if (params === undefined) fail(`${what}: unknown algorithm \`${name}\``);
  if (data === undefined) return name;
  const f = new Fields(data, `\`${name}\``);
  const algorithm = { name };
  for (const [field, [option, parse]] of Object.entries(params)) set(algorithm, option, f.opt(field, parse));
  f.finish();
  return algorithm;
}

function adaptiveOptions(value, time) {
  const f = new Fields(value, 'an adaptive limiter config');
  const o = { clock: time.clock, unit: 'ns' };
  set(o, 'algorithm', f.opt('algorithm', algorithmOption));
  set(o, 'initialLimit', f.opt('initial_limit', u32));
  set(o, 'minLimit', f.opt('min_limit', u32));
  set(o, 'maxLimit', f.opt('max_limit', u32));
  set(o, 'minSamples', f.opt('min_samples', u32));
  set(o, 'window', f.opt('window', int));
  set(o, 'seed', f.opt('seed', int));
  f.finish();
  return o;
}

function adaptiveOutcome(v, what) {
  if (!['success', 'failure', 'ignored', 'dropped'].includes(v)) fail(`${what}: ${show(v)} is not "success", "failure", "ignored" or "dropped"`);
  return v;
}

function adaptiveSubject(config, time) {
  const limiter = new s.AdaptiveLimiter(adaptiveOptions(config, time));
  const permits = new Map();
  // Permits taken without a name are held for the rest of the file.
  const held = [];
  // Every change a report makes is both returned and emitted: check they agree.
  let events = [];
  limiter.on('limitChange', (change) => events.push(change));
  const changed = (returned) => {
    const emitted = events;
    events = [];
    assert.deepStrictEqual(emitted, returned === null ? [] : [returned]);
    return returned === null ? null : { from: returned.from, to: returned.to };
  };
  const admit = (args) => {
    time.at(args);
    const answer = limiter.tryAcquire();
    return [answer, { ...admission(answer), in_flight: answer.ok ? answer.inFlight : null }];
  };
  const permit = (args) => {
    const name = args.get('permit', string);
    const p = permits.get(name);
    if (!p) fail(`no permit named \`${name}\` (never admitted, or already used)`);
    permits.delete(name);
    return p;
  };
  return {
    acquire(args) {
      const name = args.nullable('as', string);
      const [answer, observed] = admit(args);
      if (answer.ok && name != null) {
        if (permits.has(name)) fail(`name \`${name}\` is already bound`);
        permits.set(name, answer);
      } else if (answer.ok) {
        held.push(answer);
      }
      return observed;
    },
    record(args) {
      const p = permit(args);
      const result = args.get('outcome', adaptiveOutcome);
      time.at(args);
      return { change: changed(p.record(result)) };
    },
    release(args) {
      return { released: permit(args).release() };
    },
    call(args) {
      const latency = args.opt('latency', int) ?? 0n;
      const result = args.get('outcome', adaptiveOutcome);
      const [answer, observed] = admit(args);
      let change = null;
      if (answer.ok) {
        time.now += latency;
        change = changed(answer.record(result));
      }
      return { ...observed, change };
    },
    snapshot: () => snakeKeys(limiter.snapshot()),
    validate(args) {
      const options = adaptiveOptions(args.required('config'), time);
      return { error_field: errorField(() => new s.AdaptiveLimiter(options)) };
    },
  };
}

// ---- the runner ----------------------------------------------------------------------------

const SUBJECTS = {
  breaker: breakerSubject,
  backoff: backoffSubject,
  retry_budget: budgetSubject,
  retry: retrySubject,
  deadline: deadlineSubject,
  token_bucket: (c, t) => limiterSubject(c, t, false),
  keyed_limiter: (c, t) => limiterSubject(c, t, true),
  bulkhead: bulkheadSubject,
  adaptive: adaptiveSubject,
};

/** Runs one file's steps; the number of steps. Throws a FormatError or a Mismatch. */
async function run(folder, scenario) {
  const file = new Fields(scenario, 'the file');
  const description = file.get('description', string);
  if (description.trim() === '') fail('`description` is empty');
  const covers = file.required('covers');
  if (!Array.isArray(covers) || covers.length === 0 || !covers.every((c) => typeof c === 'string' && c.startsWith('§'))) {
    fail('`covers` must list the rules covered, each citing a section: "§7 ..."');
  }
  const primitive = file.get('primitive', string);
  if (primitive !== folder) fail(`primitive \`${primitive}\` in folder \`${folder}\``);
  const deviation = file.take('known_deviation');
  if (deviation !== undefined && (typeof deviation !== 'string' || deviation.trim() === '')) fail('`known_deviation` must be a non-empty string');
  const config = file.required('config');
  const steps = file.required('steps');
  file.finish();
  if (!Array.isArray(steps) || steps.length === 0) fail('`steps` must be a non-empty array');
  const make = SUBJECTS[primitive];
  if (make === undefined) fail(`unknown primitive \`${primitive}\``);
  const subject = make(config, timeline());
  for (const [index, value] of steps.entries()) {
    try {
      await runStep(subject, value);
    } catch (error) {
      error.message = `step ${index}: ${error.message}`;
      throw error;
    }
  }
  return steps.length;
}

async function runStep(subject, value) {
  const step = new Fields(value, 'a step');
  const op = step.get('op', string);
  const expect = step.take('expect') ?? {};
  if (expect === null || typeof expect !== 'object' || Array.isArray(expect)) fail(`\`expect\` must be an object, got ${show(expect)}`);
  const repeat = step.opt('repeat', u32) ?? 1;
  if (repeat < 1) fail('`repeat` must be at least 1');
  const note = step.take('note');
  if (note !== undefined && typeof note !== 'string') fail('`note` must be a string');
  const perform = Object.hasOwn(subject, op) ? subject[op] : undefined;
  if (perform === undefined) fail(`unknown op \`${op}\``);
  for (let i = 0; i < repeat; i++) {
    // Each run takes the op's arguments afresh; any left over is one the op does not take.
    const args = new Fields(Object.fromEntries(step.map), `\`${op}\``);
    const observed = await perform(args);
    args.finish();
    const where = repeat > 1 ? `${op} (run ${i} of ${repeat})` : op;
    for (const [field, want] of Object.entries(expect)) {
      if (!(field in observed)) fail(`${where}: \`expect\` lists \`${field}\`, which this op does not report (it reports ${Object.keys(observed).join(', ')})`);
      const got = observed[field] === undefined ? null : observed[field];
      if (!same(want, got)) throw new Mismatch(`${where}: \`${field}\`: expected ${show(want)}, got ${show(got)}`);
    }
  }
}

/** Parses a file, refusing integers JavaScript cannot hold exactly. */
function parse(text) {
  return JSON.parse(text, (_, value) => {
    if (typeof value === 'number' && Number.isInteger(value) && !Number.isSafeInteger(value)) {
      fail(`${value} is above 2^53 - 1: write it as a string`);
    }
    return value;
  });
}

const files = fs
  .readdirSync(ROOT, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .flatMap((d) => fs.readdirSync(path.join(ROOT, d.name)).filter((f) => f.endsWith('.json')).map((f) => `${d.name}/${f}`))
  .sort();

test('conformance scenarios are found, the retry loop\'s and the adaptive limiter\'s included', () => {
  assert.ok(files.length > 50, `only ${files.length} scenario files under ${ROOT}`);
  assert.ok(files.filter((f) => f.startsWith('retry/')).length >= 8, 'the retry loop files');
  assert.ok(files.filter((f) => f.startsWith('adaptive/')).length >= 10, 'the adaptive limiter files');
});

for (const file of files) {
  test(`conformance ${file}`, async (t) => {
    const scenario = parse(fs.readFileSync(path.join(ROOT, file), 'utf8'));
    const folder = file.split('/')[0];
    try {
      const steps = await run(folder, scenario);
      if (scenario.known_deviation !== undefined) assert.fail(`${file} has known_deviation but runs clean (${steps} steps): remove the field`);
    } catch (error) {
      if (error instanceof Mismatch && scenario.known_deviation !== undefined) {
        t.diagnostic(`expected failure (${scenario.known_deviation}): ${error.message}`);
        return;
      }
      if (error instanceof Mismatch || error instanceof FormatError) assert.fail(`${file}: ${error.message}`);
      throw error;
    }
  });
}

// The runner's own strictness: a new field must not be silently ignored.
test('the runner refuses unknown fields, misspelled arguments and integers in the wrong form', async () => {
  const base = {
    description: 'x',
    covers: ['§7 x'],
    primitive: 'token_bucket',
    config: { capacity: 1 },
    steps: [{ op: 'try_acquire', now: 0, expect: { admitted: true } }],
  };
  const refused = async (scenario, pattern) => {
    await assert.rejects(run('token_bucket', scenario), (error) => error instanceof FormatError && pattern.test(error.message));
  };
  await run('token_bucket', base);
  await refused({ ...base, extra: 1 }, /unknown field `extra`/);
  await refused({ ...base, config: { capacity: 1, burst: 2 } }, /unknown field `burst`/);
  await refused({ ...base, steps: [{ op: 'try_acquire', now: 0, n: 1, tokens: 1 }] }, /step 0: .*unknown field `tokens`/);
  await refused({ ...base, steps: [{ op: 'try_acquire', now: 0, expect: { admited: true } }] }, /does not report/);
  await refused({ ...base, steps: [{ op: 'try_aquire', now: 0 }] }, /unknown op/);
  await refused({ ...base, steps: [{ op: 'try_acquire', now: '5' }] }, /write it as the number 5/);
  assert.throws(() => parse('{"now": 9007199254740993}'), FormatError);
  // Exact nanoseconds: 2^53 + 1 and 2^53 + 2 are different instants.
  assert.equal(same('9007199254740993', 9007199254740993n), true);
  assert.equal(same('9007199254740993', 9007199254740994n), false);
});
