'use strict';
// Leases kept in Redis (docs/semantics.md §9): what the fleet bulkhead and the lock share (a
// random 128-bit token with an expiry, a keeper that renews it every third of its time and
// tells the holder at once when it is lost, and the `using` idiom), and the fleet bulkhead
// itself, FleetSemaphore, decided by redis/scripts/semaphore.lua. The lock is in lock.js.
//
// What the client decides about a lease (its time's range and default, how often it is
// renewed) is the core's `stanchion::fleet`, through the addon; every call goes through the
// client's timeout and breaker (client.js).

const { EventEmitter } = require('node:events');
const crypto = require('node:crypto');
const native = require('../native');
const errors = require('../errors');
const opt = require('../options');
const { signalOf } = require('../sleep');
const { script } = require('./scripts');
const { adapterOf, runScript, within, guardOf, isReply, isUnavailable, CLIENT_WORDS } = require('./client');

const DEFAULTS = native.fleetDefaults();
const LEASES = native.fleetLeaseDefaults();
const U32_MAX = 0xffffffff;
// The core's reason number of a full bulkhead (`Reason::BulkheadFull as u8`), as errors.js keeps them.
const BULKHEAD_FULL = 6;
// The longest delay setTimeout keeps; it turns a longer one into 1 ms.
const MAX_TIMER = 2 ** 31 - 1;

// ---- options, in this package's words ----------------------------------------------------------

const WORDS = {
  client: CLIENT_WORDS,
  prefix: `a string of at most ${DEFAULTS.maxPrefixLen} bytes, without \`{\` or \`}\``,
  name: `a string of 1 to ${DEFAULTS.maxNameLen} bytes (UTF-8), without \`{\` or \`}\``,
  timeout: 'a duration of 1 ns to 1 hour (milliseconds as a number, or nanoseconds as a bigint)',
  limit: `an integer from 1 to ${U32_MAX}`,
  leaseTtl: 'a duration of 1 ms to 2^40 ms, in whole milliseconds (milliseconds as a number, or nanoseconds as a bigint)',
  slotTtl: 'a duration of 1 ms to 2^40 ms, kept in whole milliseconds, rounded down (milliseconds as a number, or nanoseconds as a bigint)',
};

function rangeError(name, allowed, value, kind = 'option') {
  const error = new RangeError(`${kind} \`${name}\` must be ${allowed}, got ${shown(value)}`);
  error.option = name;
  error.code = 'ERR_OUT_OF_RANGE';
  return error;
}

function typeError(name, allowed, value, kind = 'option') {
  const error = new TypeError(`${kind} \`${name}\` must be ${allowed}, got ${shown(value)}`);
  error.option = name;
  return error;
}

function required(name, allowed) {
  const error = new TypeError(`option \`${name}\` is required: it must be ${allowed}`);
  error.option = name;
  return error;
}

/** A received value as a message shows it; a long name by its start and its length. */
function shown(value) {
  if (typeof value === 'string' && value.length > 64) {
    return `${JSON.stringify(`${value.slice(0, 32)}…`)} (${Buffer.byteLength(value)} bytes)`;
  }
  return opt.show(value);
}

/** Whether a native check refused with the core's config error (`stanchion-config␟field␟range`). */
function refused(check) {
  try {
    check();
    return false;
  } catch (error) {
    if (typeof error?.message === 'string' && error.message.startsWith('stanchion-config\u001f')) return true;
    throw error;
  }
}

function checkPrefix(prefix) {
  if (prefix === undefined) return DEFAULTS.prefix;
  if (typeof prefix !== 'string') throw typeError('prefix', WORDS.prefix, prefix);
  if (refused(() => native.fleetCheckPrefix(prefix))) throw rangeError('prefix', WORDS.prefix, prefix);
  return prefix;
}

/** A name that goes between a key's braces (`fleet::check_name`). */
function checkName(name) {
  if (typeof name !== 'string') throw typeError('name', WORDS.name, name, 'argument');
  if (refused(() => native.fleetCheckName('name', name))) throw rangeError('name', WORDS.name, name, 'argument');
  return name;
}

/** The call timeout in milliseconds (`fleet::check_timeout`), default the core's 250 ms. */
function checkTimeout(value) {
  if (value === undefined) return Number(DEFAULTS.callTimeout) / 1e6;
  const ns = opt.duration(value, 'timeout');
  if (refused(() => native.fleetCheckTimeout(ns))) throw rangeError('timeout', WORDS.timeout, value);
  return Number(ns) / 1e6;
}

/**
 * A lease time in whole milliseconds (`fleet::check_lease`), default the core's 30 s. A lock's
 * must be whole milliseconds; a fleet bulkhead's is rounded down to them, as its script takes
 * it (`round`).
 */
function checkTtl(value, { round = false, name = 'ttl', field = 'ttl', words = round ? WORDS.slotTtl : WORDS.leaseTtl } = {}) {
  if (value === undefined) return Number(LEASES.lease / 1_000_000n);
  let ns;
  try {
    // Whole milliseconds as numbers are converted exactly: a product past 2^53 would not be.
    ns = Number.isSafeInteger(value) && value >= 0 ? BigInt(value) * 1_000_000n : opt.duration(value, name);
  } catch (error) {
    throw error instanceof RangeError ? rangeError(name, words, value) : typeError(name, words, value);
  }
  if (round) ns -= ns % 1_000_000n;
  if (refused(() => native.fleetCheckLease(field, ns))) throw rangeError(name, words, value);
  return Number(ns / 1_000_000n);
}

// ---- calls -------------------------------------------------------------------------------------

function isNoScript(error) {
  return isReply(error) && typeof error.message === 'string' && error.message.startsWith('NOSCRIPT');
}

/**
 * Runs `script` on `keys` (all of one hash tag, so one cluster slot): EVALSHA, then EVAL if the
 * server does not have it. One key goes through client.js's runner; more are passed the same
 * way, each client routing by the first.
 */
function runKeys(adapter, client, script, keys, args) {
  if (keys.length === 1) return runScript(adapter, client, script, keys[0], args);
  const send = (command, body) => {
    if (adapter.kind === 'ioredis') {
      return command === 'EVALSHA' ? client.evalsha(body, keys.length, ...keys, ...args) : client.eval(body, keys.length, ...keys, ...args);
    }
    const words = [command, body, String(keys.length), ...keys, ...args];
    return typeof client.getSlotMaster === 'function' ? client.sendCommand(keys[0], false, words) : client.sendCommand(words);
  };
  return new Promise((resolve) => resolve(send('EVALSHA', script.sha))).catch((error) => {
    if (isNoScript(error)) return send('EVAL', script.text);
    throw error;
  });
}

/**
 * `WAIT replicas ms` on the connection that holds `key`'s slot, the one the lease was written
 * on. An ioredis cluster routes a keyless command anywhere, so it goes in a pipeline behind a
 * read of the key, which the pipeline routes by.
 */
function runWait(adapter, client, key, replicas, ms) {
  return new Promise((resolve) => {
    if (adapter.kind === 'ioredis') {
      resolve(
        client
          .pipeline()
          .exists(key)
          .wait(replicas, ms)
          .exec()
          .then((replies) => {
            const [error, acknowledged] = replies[1];
            if (error) throw error;
            return acknowledged;
          }),
      );
    } else {
      const words = ['WAIT', String(replicas), String(ms)];
      resolve(typeof client.getSlotMaster === 'function' ? client.sendCommand(key, false, words) : client.sendCommand(words));
    }
  });
}

/**
 * One client's calls for a lease primitive (`what`: `'semaphore'`, `'lock'`): each bounded by
 * the timeout, through the breaker that guards the client's connection (shared with every
 * fleet primitive on it). A failure becomes a FleetUnavailableError when Redis did not decide,
 * and a FleetError when it answered with an error reply that waiting will not change (the
 * core's `UNAVAILABLE_REPLIES` tell them apart, as for the limiter and the quota).
 */
class Store {
  constructor(client, timeout, what) {
    this.adapter = adapterOf(client);
    this.client = client;
    this.guard = guardOf(client);
    this.timeout = timeout;
    this.what = what;
  }

  /** Runs `script`; `held` ms more for a call the server itself holds (WAIT). */
  async call(run, held = 0) {
    const limit = this.timeout + held;
    try {
      return await this.guard.breaker.execute(() => within(run(), limit, limit));
    } catch (error) {
      if (!isUnavailable(error)) {
        throw errors.fleetError(`Redis answered the ${this.what} with an error: ${error.message}`, error);
      }
      throw this.unavailable(error);
    }
  }

  run(script, keys, args) {
    return this.call(() => runKeys(this.adapter, this.client, script, keys, args));
  }

  wait(key, replicas, ms) {
    return this.call(() => runWait(this.adapter, this.client, key, replicas, ms), ms);
  }

  /**
   * The same script with no timeout and no breaker, its answer ignored: a release sent behind
   * a call that failed with `error` (undefined: answered, but not as the script does), unless
   * the breaker refused that call and nothing was sent. Both clients keep commands in order,
   * queued while they reconnect, so it reaches Redis after the call it follows, if that call
   * does.
   */
  behind(error, script, keys, args) {
    if (error?.cause instanceof errors.CircuitOpenError) return;
    runKeys(this.adapter, this.client, script, keys, args).catch(() => {});
  }

  unavailable(error) {
    let retryAfter = null;
    if (error instanceof errors.CircuitOpenError) {
      // The refusal is this call's; what opened the breaker is the failure before it.
      if (error.cause === undefined) error.cause = this.guard.lastFailure;
      retryAfter = error.retryAfter;
    }
    if (error instanceof errors.FleetUnavailableError) return error;
    const why = typeof error?.message === 'string' ? error.message : opt.show(error);
    return errors.unavailableError(`Redis did not decide: ${why}`, error, retryAfter);
  }

  /** A FleetUnavailableError for an answer that is not the script's. */
  unexpected(what, answer) {
    return this.unavailable(new Error(`the ${what} script answered ${opt.show(answer)}`));
  }
}

/** A lease's token: 128 random bits from the operating system, as 32 lowercase hex digits. */
function newToken() {
  return crypto.randomBytes(16).toString('hex');
}

// ---- the keeper ----------------------------------------------------------------------------------

/**
 * Renews a lease every `every` ms (the core's `renew_every`: a third of its time) until
 * stopped, or until a renewal answers false (the lease is gone) or fails; then calls
 * `lose(lost, cause)` at once. It knows nothing of what the lease is, so every kind shares it.
 *
 * Its timer does not keep the process alive: nobody awaits it, and a program that ends while
 * holding a lease leaves the lease to expire. `stop()` resolves once no renewal is in flight,
 * and none starts after it, so a release sent then is the last word Redis gets.
 */
class LeaseKeeper {
  constructor(every, renew, lose) {
    this._every = every;
    this._renew = renew;
    this._lose = lose;
    this._state = 'keeping';
    this._timer = undefined;
    this._inFlight = undefined;
    this._schedule();
  }

  /** `'keeping'`, `'stopping'` (a renewal in flight will be the last), `'stopped'` or `'lost'`. */
  get state() {
    return this._state;
  }

  _schedule() {
    let left = this._every;
    const step = () => {
      if (left > MAX_TIMER) {
        left -= MAX_TIMER;
        this._timer = setTimeout(step, MAX_TIMER);
      } else {
        this._timer = setTimeout(() => this._tick(), left);
      }
      this._timer.unref();
    };
    step();
  }

  _tick() {
    this._timer = undefined;
    if (this._state !== 'keeping') return;
    this._inFlight = new Promise((resolve) => resolve(this._renew())).then(
      (held) => this._renewed(held === true ? undefined : ['gone']),
      (error) => this._renewed(['failed', error]),
    );
  }

  _renewed(loss) {
    this._inFlight = undefined;
    if (this._state === 'stopped' || this._state === 'lost') return;
    // A renewal that was in flight when the stop came still reports a loss: the release that
    // follows would find the lease gone anyway, and the holder must hear it.
    if (loss !== undefined) {
      this._state = 'lost';
      this._lose(...loss);
    } else if (this._state === 'keeping') this._schedule();
  }

  /** Stops renewing; resolves once no renewal is in flight. */
  stop() {
    if (this._state === 'keeping') this._state = 'stopping';
    clearTimeout(this._timer);
    this._timer = undefined;
    return (this._inFlight ?? Promise.resolve()).then(() => {
      if (this._state === 'stopping') this._state = 'stopped';
    });
  }
}

// ---- a lease -------------------------------------------------------------------------------------

/**
 * A lease held in Redis: a fleet bulkhead's slot (`FleetSemaphore`) or a lock (`FleetLock`,
 * `Redlock`, whose leases add a fence). While it is held a keeper renews it every third of its
 * time (unless acquired with `keep: false`); the moment a renewal finds it gone or fails, its
 * `signal` aborts with a LeaseLostError, `lost` resolves to that error and `'lost'` is emitted:
 * stop acting as the holder then.
 *
 * @example
 * const lease = await semaphore.acquire('exports');
 * try {
 *   await fetch(url, { signal: lease.signal }); // cut short if the lease is lost
 * } finally {
 *   await lease.release();
 * }
 */
class Lease extends EventEmitter {
  constructor(owner, name, token, ttl) {
    super();
    this._owner = owner;
    /** The name the lease is on. */
    this.name = name;
    /** The lease's token: 32 lowercase hex digits, 128 random bits. */
    this.token = token;
    /** The lease time in ms: each renewal sets the expiry this far after the server's now. */
    this.ttl = ttl;
    this._controller = new AbortController();
    this._lostError = undefined;
    this._resolveLost = undefined;
    this._lost = new Promise((resolve) => {
      this._resolveLost = resolve;
    });
    this._keeper = undefined;
    this._release = undefined;
    this._released = false;
  }

  /** Starts the keeper, renewing every `every` ms. */
  _keep(every) {
    this._keeper = new LeaseKeeper(
      every,
      () => this._owner._renewLease(this),
      (lost, cause) => this._lose(lost, cause),
    );
  }

  /** Whether the lease is still held as far as this process knows: not released, not lost. */
  get held() {
    return !this._released && this._lostError === undefined;
  }

  /** Aborts, with a LeaseLostError as its reason, when the lease is lost. Pass it to the work done under the lease. */
  get signal() {
    return this._controller.signal;
  }

  /** Resolves to the LeaseLostError when the lease is lost; stays pending while it is held. */
  get lost() {
    return this._lost;
  }

  /** The keeper's state: `'keeping'`, `'stopping'`, `'stopped'`, `'lost'`, or null without a keeper. */
  get keeper() {
    return this._keeper?.state ?? null;
  }

  _lose(lost, cause) {
    if (this._lostError !== undefined) return;
    const what = this._owner._what;
    const message =
      lost === 'gone'
        ? `the ${what} lease on ${JSON.stringify(this.name)} is no longer held: it expired or was taken over`
        : `a renewal of the ${what} lease on ${JSON.stringify(this.name)} failed: ${cause?.message ?? opt.show(cause)}`;
    this._lostError = errors.leaseLostError(message, lost, cause);
    this._controller.abort(this._lostError);
    this._resolveLost(this._lostError);
    this.emit('lost', this._lostError);
  }

  /**
   * Sets the lease's expiry to its full time from now if it is still held (it never adds to
   * what is left), and says whether it was. False means it expired or was taken over: the
   * lease is then lost (its signal aborts). Rejects with a FleetUnavailableError when Redis
   * does not decide.
   */
  async renew() {
    const held = await this._owner._renewLease(this);
    if (!held) this._lose('gone');
    return held;
  }

  /**
   * Stops the keeper (waiting for a renewal in flight, so none reaches Redis after this) and
   * gives the lease back; resolves whether it was still held. False: it had expired or been
   * taken over, and whoever holds it now keeps it. Calling it again answers the same; after a
   * FleetUnavailableError it tries again (the lease expires on its own otherwise).
   */
  release() {
    if (this._release === undefined) {
      this._released = true;
      this._release = (async () => {
        if (this._keeper !== undefined) await this._keeper.stop();
        return this._owner._releaseLease(this);
      })();
      this._release.catch(() => {
        this._release = undefined;
      });
    }
    return this._release;
  }
}

// ---- using ---------------------------------------------------------------------------------------

/** The `fn` of `using` and `execute`, or a TypeError. */
function work(fn) {
  if (typeof fn !== 'function') throw new TypeError(`argument \`fn\` must be a function, got ${opt.show(fn)}`);
  return fn;
}

/**
 * Runs `fn(signal, lease)` on a lease `acquire()` took, with its keeper running, then releases
 * it. `signal` aborts when the lease is lost or `callerSignal` aborts. Resolves to fn's value
 * only if the lease was held throughout: a lease lost while fn ran (or found gone at the
 * release) rejects with the LeaseLostError even when fn resolved. An aborted `callerSignal`
 * rejects at once with its reason, and the lease stays held until fn settles: fn is still
 * running, and releasing under it would let another holder in beside it.
 */
async function holdWhile(acquire, fn, callerSignal) {
  const lease = await acquire();
  const controller = new AbortController();
  const forward = (signal) => () => controller.abort(signal.reason);
  const stopLease = listen(lease.signal, forward(lease.signal));
  const stopCaller = listen(callerSignal, forward(callerSignal));
  const finished = (async () => {
    let outcome;
    try {
      outcome = { value: await fn(controller.signal, lease) };
    } catch (error) {
      outcome = { error };
    }
    stopLease();
    stopCaller();
    let released;
    try {
      released = await lease.release();
    } catch (error) {
      released = error;
    }
    if ('error' in outcome) throw outcome.error;
    if (lease._lostError !== undefined) throw lease._lostError;
    if (released === false) lease._lose('gone');
    else if (released instanceof Error) lease._lose('failed', released);
    if (lease._lostError !== undefined) throw lease._lostError;
    return outcome.value;
  })();
  if (callerSignal === undefined) return finished;
  finished.catch(() => {});
  return new Promise((resolve, reject) => {
    const stop = listen(callerSignal, () => reject(errors.abortReason(callerSignal)));
    finished.then(
      (value) => {
        stop();
        resolve(value);
      },
      (error) => {
        stop();
        reject(error);
      },
    );
  });
}

/** Calls `handler` when `signal` aborts (at once if it has); returns the function that stops listening. */
function listen(signal, handler) {
  if (signal === undefined) return () => {};
  if (signal.aborted) {
    handler();
    return () => {};
  }
  signal.addEventListener('abort', handler, { once: true });
  return () => signal.removeEventListener('abort', handler);
}

// ---- the fleet bulkhead --------------------------------------------------------------------------

const SEMAPHORE_OPTIONS = ['client', 'limit', 'ttl', 'prefix', 'timeout'];
const checkSemaphore = opt.declare('FleetSemaphore', SEMAPHORE_OPTIONS, {
  max: '`limit`',
  maxConcurrent: '`limit`',
  size: '`limit`',
  lease: '`ttl`',
  keyPrefix: '`prefix` (put before `{name}` in every Redis key)',
  redis: '`client`',
  connection: '`client`',
});
const checkAcquire = opt.declare('a fleet semaphore acquire', ['signal', 'keep']);
const checkUsing = opt.declare('a fleet semaphore using', ['signal']);

/** A lease on a slot of a FleetSemaphore. */
class SemaphoreLease extends Lease {
  constructor(owner, name, token, ttl, holders) {
    super(owner, name, token, ttl);
    /** The leases held on the semaphore just after this one was acquired, itself included. */
    this.holders = holders;
  }
}

/** The semaphore script's reply `{ok, holders, next_expiry}`, or undefined if it is not one. */
function semaphoreReply(value) {
  if (!Array.isArray(value) || value.length !== 3) return undefined;
  const [ok, holders, next] = value;
  if ((ok !== 0 && ok !== 1) || !Number.isSafeInteger(holders) || holders < 0) return undefined;
  if (next !== null && !(Number.isSafeInteger(next) && next >= 0)) return undefined;
  return { ok: ok === 1, holders, nextExpiryIn: next };
}

/**
 * A bulkhead shared by the fleet: at most `limit` holders at once across every process that
 * uses the same Redis, prefix and name. Each holder holds a lease (a random 128-bit token with
 * an expiry on the server's clock) in the sorted set `<prefix>{<name>}:semaphore`; expired
 * leases are reclaimed by the next call, so a holder that crashes frees its slot one lease time
 * after its last renewal at the latest. A full semaphore refuses with a BulkheadFullError
 * (`ERR_BULKHEAD_FULL`); it does not queue.
 *
 * @example
 * const { FleetSemaphore } = require('stanchion/redis');
 * const exportSlots = new FleetSemaphore({ client: redis, limit: 3, ttl: 10_000 });
 * const rows = await exportSlots.using('exports', async (signal) => runExport({ signal }));
 */
class FleetSemaphore {
  constructor(options) {
    const o = opt.options(options);
    checkSemaphore(o);
    this._store = new Store(o.client, checkTimeout(o.timeout), 'semaphore');
    if (o.limit === undefined) throw required('limit', WORDS.limit);
    if (typeof o.limit !== 'number') throw typeError('limit', WORDS.limit, o.limit);
    if (!Number.isInteger(o.limit) || o.limit < 1 || o.limit > U32_MAX) throw rangeError('limit', WORDS.limit, o.limit);
    this._limit = o.limit;
    this._ttl = checkTtl(o.ttl, { round: true });
    this._prefix = checkPrefix(o.prefix);
    this._every = Number(native.fleetRenewEvery(BigInt(this._ttl) * 1_000_000n)) / 1e6;
    this._script = script('semaphore');
    this._what = 'fleet semaphore';
  }

  /** The most leases held at once across the fleet. */
  get limit() {
    return this._limit;
  }

  /** The lease time in ms (whole milliseconds). */
  get ttl() {
    return this._ttl;
  }

  /** The breaker guarding the client's connection, shared by every fleet primitive on that client. */
  get breaker() {
    return this._store.guard.breaker;
  }

  /** The Redis key of semaphore `name`: `<prefix>{<name>}:semaphore`. */
  redisKey(name) {
    return `${this._prefix}{${checkName(name)}}:semaphore`;
  }

  /**
   * Takes a slot of semaphore `name`, reclaiming expired leases first: a lease whose keeper
   * renews it every third of its time (unless `keep: false`), or a BulkheadFullError
   * (`ERR_BULKHEAD_FULL`, with `holders` and `nextExpiryIn`: when the earliest lease expires
   * unless renewed first). An aborted `signal` rejects with its reason, and a slot taken
   * meanwhile is given back.
   */
  async acquire(name, options) {
    const signal = signalOf(options, checkAcquire);
    const keep = opt.boolean(options?.keep, 'keep') ?? true;
    const key = this.redisKey(name);
    if (signal?.aborted) throw errors.abortReason(signal);
    const token = newToken();
    const answer = await this._take(name, key, token);
    const lease = new SemaphoreLease(this, name, token, this._ttl, answer.holders);
    if (signal?.aborted) {
      await lease.release().catch(() => {});
      throw errors.abortReason(signal);
    }
    if (keep) lease._keep(this._every);
    return lease;
  }

  /**
   * Takes a slot of `name`, runs `fn(signal, lease)` with a keeper renewing the lease, then
   * releases it; resolves to fn's value. `signal` aborts when the lease is lost or the caller's
   * `signal` aborts: pass it on. Rejects with a BulkheadFullError without running fn when the
   * semaphore is full, and with a LeaseLostError when the lease was lost while fn ran (even if
   * fn resolved: part of its work ran without the slot).
   */
  async using(name, fn, options) {
    work(fn);
    const signal = signalOf(options, checkUsing);
    return holdWhile(() => this.acquire(name, { signal }), fn, signal);
  }

  /** `using`, under the name every class of the package runs work with. */
  execute(name, fn, options) {
    return this.using(name, fn, options);
  }

  /** The leases of `name` held now (reclaiming expired ones): `{ holders, nextExpiryIn }` (ms, or null when none is held). */
  async holders(name) {
    const { holders, nextExpiryIn } = await this._call('holders', this.redisKey(name), '');
    return { holders, nextExpiryIn };
  }

  /**
   * One acquire with `token`: the state after it, or the BulkheadFullError. `now` (bigint ns on
   * the server's clock) is for tests only.
   */
  async _take(name, key, token, now) {
    let answer;
    try {
      answer = await this._call('acquire', key, token, now);
    } catch (error) {
      // A call cut off may still take the slot: give it back right behind it.
      this._store.behind(error, this._script, [key], ['release', token, '0', '0']);
      throw error;
    }
    if (!answer.ok) {
      const error = errors.refusalError(BULKHEAD_FULL, NaN);
      error.message = `the fleet semaphore ${JSON.stringify(name)} is full: ${answer.holders} of ${this._limit} leases held`;
      error.holders = answer.holders;
      error.nextExpiryIn = answer.nextExpiryIn;
      throw error;
    }
    return answer;
  }

  async _renewLease(lease) {
    return (await this._call('renew', this.redisKey(lease.name), lease.token)).ok;
  }

  async _releaseLease(lease) {
    return (await this._call('release', this.redisKey(lease.name), lease.token)).ok;
  }

  /** One script call: `{ ok, holders, nextExpiryIn }`. `now` (bigint ns on the server's clock): tests only. */
  async _call(op, key, token, now) {
    const reads = op === 'acquire' || op === 'renew';
    const args = [op, token, op === 'acquire' ? String(this._limit) : '0', reads ? String(this._ttl) : '0'];
    if (now !== undefined) args.push(String(now));
    const answer = await this._store.run(this._script, [key], args);
    const checked = semaphoreReply(answer);
    if (checked === undefined) throw this._store.unexpected('semaphore', answer);
    return checked;
  }
}

module.exports = {
  FleetSemaphore,
  SemaphoreLease,
  Lease,
  LeaseKeeper,
  Store,
  SEMAPHORE_OPTIONS,
  WORDS,
  checkName,
  checkPrefix,
  checkTimeout,
  checkTtl,
  holdWhile,
  listen,
  newToken,
  rangeError,
  required,
  typeError,
  work,
};
