'use strict';
// The fleet tier's conformance scenarios (redis/conformance/, format in its README), run
// through stanchion/redis against the live standalone server, once with each client.
//
// - Time is injected as the README says: a file's instant 0 is 4 × 10^18 ns on the server's
//   clock, passed to the script's test-only `now` argument. Every limiter is built with
//   `unit: 'ns'`, so durations come back as exact bigints and are compared with the file's
//   integers (a number, or a decimal string above 2^53 - 1) as bigints.
// - The runner is strict: an unknown field, argument or op, or an integer in the wrong form,
//   fails the file whatever its `known_deviation`; every field `expect` lists must be one the
//   op reports and must match exactly.
// - Every try_acquire and peek also runs through the package's own RateLimiter (the core's
//   TokenBucket) on the same timeline, which must agree in all five fields.
// - Each primitive's steps run on its own subject; the quota's is in redis-quota-conformance.js.
// - A file with `known_deviation` must mismatch somewhere, or the run fails.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { RateLimiter } = require('..');
const { FleetLimiter } = require('stanchion/redis');
const { CLIENTS, standaloneUrl, uniquePrefix } = require('./redis-servers');
const { quotaSubject } = require('./redis-quota-conformance');
const { semaphoreSubject } = require('./redis-conformance-semaphore');

const ROOT = path.join(__dirname, '..', '..', 'redis', 'conformance');
const ORIGIN = 4_000_000_000_000_000_000n;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const U64_MAX = (1n << 64n) - 1n;

class FormatError extends Error {}
class Mismatch extends Error {}

const fail = (message) => {
  throw new FormatError(message);
};
const show = (v) => JSON.stringify(v, (_, x) => (typeof x === 'bigint' ? `${x}n` : x));

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
    if (n > U64_MAX) fail(`${what}: "${v}" is above u64::MAX`);
    return n;
  }
  return fail(`${what}: ${show(v)} is not an integer`);
}

function u32(v, what) {
  const n = int(v, what);
  if (n > 0xffffffffn) fail(`${what}: ${n} is above u32::MAX`);
  return Number(n);
}

function string(v, what) {
  if (typeof v !== 'string') fail(`${what}: ${show(v)} is not a string`);
  return v;
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

  get(key, parse) {
    return parse(this.required(key), `\`${key}\``);
  }

  or(key, fallback, parse) {
    const value = this.take(key);
    return value === undefined ? fallback : parse(value, `\`${key}\``);
  }

  finish() {
    const [first] = this.map.keys();
    if (first !== undefined) fail(`${this.what}: unknown field \`${first}\``);
  }
}

/** Whether an observed value equals the file's expected JSON value; integers compare as bigints. */
function same(want, got) {
  if (typeof got === 'bigint' || typeof got === 'number') {
    return (typeof want === 'number' || typeof want === 'string') && int(want, 'expected') === BigInt(got);
  }
  return want === got;
}

function check(expect, observed) {
  for (const [field, want] of Object.entries(expect)) {
    if (!(field in observed)) fail(`\`expect\` lists \`${field}\`, which this op does not report (it reports ${Object.keys(observed).join(', ')})`);
    if (!same(want, observed[field])) throw new Mismatch(`\`${field}\`: expected ${show(want)}, got ${show(observed[field])}`);
  }
}

/** The file's config as FleetLimiter (and RateLimiter) options. */
function bucketOptions(value) {
  const config = new Fields(value, '`config`');
  const options = { capacity: config.get('capacity', u32) };
  const amount = config.or('refill_amount', undefined, u32);
  const every = config.or('refill_every', undefined, int);
  config.finish();
  if (amount !== undefined) options.refillAmount = amount;
  if (every !== undefined) options.refillEvery = every;
  return options;
}

/** The core's TokenBucket on the same timeline: the package's RateLimiter in exact nanoseconds. */
class CoreModel {
  constructor(options) {
    this.options = options;
    this.now = 0n;
    this.bucket = this.fresh();
    this.grants = [];
  }

  fresh() {
    return new RateLimiter({ ...this.options, unit: 'ns', clock: () => this.now });
  }

  tryAcquire(n, now) {
    this.now = now;
    const result = this.bucket.tryAcquire(n);
    if (result.ok && n > 0) this.grants.push([n, now]);
    return this.answer(result, now);
  }

  peek(n, now) {
    const replay = this.fresh();
    for (const [count, at] of this.grants) {
      this.now = at;
      assert.equal(replay.tryAcquire(count).ok, true, 'a replayed grant is granted again');
    }
    this.now = now;
    return this.answer(replay.tryAcquire(n), now);
  }

  answer(result, now) {
    const { fullAt } = this.bucket.snapshot();
    return {
      admitted: result.ok,
      reason: result.ok ? null : result.reason,
      retry_after: result.ok ? null : result.retryAfter,
      remaining: this.bucket.available(),
      reset_after: fullAt > now ? fullAt - now : 0n,
    };
  }
}

/** The fleet limiter's answer in the scenario's fields. */
function observed(answer) {
  return {
    admitted: answer.ok,
    reason: answer.ok ? null : answer.reason,
    retry_after: answer.retryAfter,
    remaining: answer.remaining,
    reset_after: answer.resetAfter,
  };
}

async function runFile(scenario, folder, client, helper) {
  const file = new Fields(scenario, 'the file');
  const deviation = file.take('known_deviation');
  if (deviation !== undefined && (typeof deviation !== 'string' || !deviation.trim())) fail('`known_deviation` must be a non-empty string');
  if (!string(file.required('description'), '`description`').trim()) fail('`description` is empty');
  const covers = file.required('covers');
  if (!Array.isArray(covers) || covers.length === 0 || !covers.every((c) => typeof c === 'string' && c.startsWith('§'))) {
    fail('`covers` must list the rules covered, each citing a section: "§9 ..."');
  }
  const primitive = string(file.required('primitive'), '`primitive`');
  if (primitive !== folder) fail(`primitive \`${primitive}\` in folder \`${folder}\``);
  const subject = SUBJECTS[primitive];
  if (subject === undefined) fail(`unknown primitive \`${primitive}\``);
  const run = subject(file.required('config'), client, helper);
  const steps = file.required('steps');
  file.finish();
  if (!Array.isArray(steps) || steps.length === 0) fail('`steps` must be a non-empty array');

  for (const [index, raw] of steps.entries()) {
    const step = new Fields(raw, `step ${index}`);
    const op = string(step.required('op'), '`op`');
    const expect = step.take('expect') ?? {};
    if (expect === null || typeof expect !== 'object' || Array.isArray(expect)) fail(`step ${index}: \`expect\` must be an object`);
    const repeat = step.or('repeat', 1n, int);
    if (repeat === 0n) fail(`step ${index}: \`repeat\` must be at least 1`);
    const note = step.take('note');
    if (note !== undefined && typeof note !== 'string') fail(`step ${index}: \`note\` must be a string`);
    for (let i = 0n; i < repeat; i++) {
      const args = new Fields(Object.fromEntries(step.map), `step ${index} (${op})`);
      try {
        const got = await run(op, args);
        args.finish();
        check(expect, got);
      } catch (error) {
        error.message = `step ${index} (${op}${repeat > 1n ? `, run ${i + 1n} of ${repeat}` : ''}): ${error.message}`;
        throw error;
      }
    }
  }
  return { steps: steps.length, deviation };
}

/** The fleet limiter's runner of one file's steps, on a limiter built from the file's `config`. */
function limiterSubject(config, client, helper) {
  const options = bucketOptions(config);
  // A generous timeout: a loaded machine must not turn a slow answer into a mismatch.
  const limiter = new FleetLimiter({ client, ...options, prefix: uniquePrefix('conformance'), unit: 'ns', timeout: 10_000 });
  const models = new Map();
  return async (op, args) => {
    switch (op) {
      case 'try_acquire':
      case 'peek': {
        const key = args.or('key', 'k', string);
        const n = args.or('n', 1, u32);
        const now = args.get('now', int);
        if (now > U64_MAX - ORIGIN) fail(`\`now\`: ${now} is past u64::MAX - ORIGIN, which the runner cannot place`);
        if (!models.has(key)) models.set(key, new CoreModel(options));
        const model = models.get(key);
        const at = ORIGIN + now;
        const fleet = op === 'peek' ? await limiter._peekAt(key, n, at) : await limiter._tryAcquireAt(key, n, at);
        if (fleet.fallback) throw new Mismatch(`Redis did not decide: ${show(fleet)}`);
        const got = observed(fleet);
        // The same absolute timeline: saturation at the end of time depends on it.
        const core = op === 'peek' ? model.peek(n, at) : model.tryAcquire(n, at);
        if (show(got) !== show(core)) throw new Mismatch(`the script answered ${show(got)} where the core answers ${show(core)}`);
        return got;
      }
      case 'expires_at': {
        const key = args.or('key', 'k', string);
        const millis = await helper.call('PEXPIRETIME', limiter.redisKey(key));
        if (millis === -2) return { expires_at: null };
        if (millis < 0) throw new Mismatch('the key has no expiry: it would never leave');
        const nanos = BigInt(millis) * 1_000_000n - ORIGIN;
        if (nanos < 0n) throw new Mismatch(`the key expires at ${millis} ms, before the timeline's origin`);
        return { expires_at: nanos };
      }
      case 'validate': {
        const config = bucketOptions(args.required('config'));
        try {
          new FleetLimiter({ client, ...config });
          return { error_field: null };
        } catch (error) {
          if (!(error instanceof RangeError) || typeof error.option !== 'string') throw error;
          return { error_field: error.option.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`) };
        }
      }
      default:
        return fail(`unknown op \`${op}\``);
    }
  };
}

// The runner of each primitive's steps: `(config, client, helper) => (op, args) => observed`.
const FORMAT = { Fields, int, u32, string, fail, Mismatch, ORIGIN, U64_MAX };
const SUBJECTS = {
  limiter: limiterSubject,
  quota: (config, client, helper) => quotaSubject(config, client, helper, FORMAT),
  semaphore: semaphoreSubject({ Fields, Mismatch, int, u32, string, fail, ORIGIN, U64_MAX }),
};

// The primitives this package does not have yet; their scenarios wait for them. Every other
// folder is run.
const NOT_YET_BOUND = new Set([]);

function scenarioFiles() {
  const files = [];
  const walk = (dir) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory() && NOT_YET_BOUND.has(entry.name)) continue;
      if (entry.isDirectory()) walk(full);
      else if (entry.name.endsWith('.json')) files.push(full);
    }
  };
  walk(ROOT);
  return files.sort();
}

for (const [name, clients] of Object.entries(CLIENTS)) {
  test(`every fleet scenario gives the expected answers (${name})`, async (t) => {
    const files = scenarioFiles();
    assert.ok(files.length > 0, `no scenario files under ${ROOT}`);
    const client = await clients.standalone(standaloneUrl());
    const helper = await CLIENTS['ioredis 6'].standalone(standaloneUrl());
    t.after(() => {
      clients.close(client);
      CLIENTS['ioredis 6'].close(helper);
    });
    const errors = [];
    for (const file of files) {
      const relative = path.relative(ROOT, file);
      const folder = relative.split(path.sep)[0];
      let outcome;
      try {
        outcome = await runFile(JSON.parse(fs.readFileSync(file, 'utf8')), folder, client, helper);
      } catch (error) {
        if (error instanceof FormatError) errors.push(`${relative}: ${error.message}`);
        else if (error instanceof Mismatch) {
          const deviation = JSON.parse(fs.readFileSync(file, 'utf8')).known_deviation;
          if (deviation) t.diagnostic(`xfail ${relative}: ${error.message} (known deviation: ${deviation})`);
          else errors.push(`${relative}: ${error.message}`);
        } else throw error;
        continue;
      }
      if (outcome.deviation !== undefined) errors.push(`${relative}: passes although it has a \`known_deviation\`: remove the field`);
      else t.diagnostic(`ok ${relative} (${outcome.steps} steps)`);
    }
    assert.deepEqual(errors, []);
  });
}
