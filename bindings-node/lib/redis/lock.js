'use strict';
// FleetLock and Redlock: a distributed lock as a lease with a fencing token
// (docs/semantics.md §9), decided by redis/scripts/lock.lua, one script call per step. Each
// level of the walk from SETNX to RedLock is here: exclusive (SET NX), expiring (PX in the
// same command), owned (a 128-bit token; release and extend compare it first), errors that say
// what happened, kept while the work runs (the keeper of lease.js), and replicas (WAIT) or
// several servers (RedLock). The waits between attempts, the quorum and RedLock's validity are
// the core's `stanchion::fleet`, through the addon.

const crypto = require('node:crypto');
const native = require('../native');
const { nativeNow } = require('../fast');
const errors = require('../errors');
const opt = require('../options');
const { sleep, signalOf } = require('../sleep');
const { script } = require('./scripts');
const { adapterOf, CLIENT_WORDS } = require('./client');
const lease = require('./lease');

const { Lease, Store, checkName, checkPrefix, checkTimeout, checkTtl, holdWhile, newToken, rangeError, typeError, work } = lease;

const U32_MAX = 0xffffffff;
const MAX_SERVERS = 255;

const WAIT_WORDS = 'a duration ≥ 0 (milliseconds as a number, or nanoseconds as a bigint), or Infinity to wait as long as it takes';
const REPLICAS_WORDS = `an integer from 1 to ${U32_MAX}`;
const REPLICAS_TIMEOUT_WORDS = 'a duration of 1 ms to 2^40 ms, in whole milliseconds';
const CLIENTS_WORDS = `an array of 1 to ${MAX_SERVERS} Redis clients, each ${CLIENT_WORDS}, one per independent server`;

/** How long an acquisition may wait: bigint ns, or null for no limit. */
function checkWait(value, fallback) {
  if (value === undefined) return fallback;
  if (value === Infinity) return null;
  try {
    return opt.duration(value, 'wait');
  } catch (error) {
    throw error instanceof RangeError ? rangeError('wait', WAIT_WORDS, value) : typeError('wait', WAIT_WORDS, value);
  }
}

/** `[replicas, timeout]` as `{ replicas, ms }`, or undefined. */
function checkReplicas(value) {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || value.length !== 2) {
    throw typeError('waitReplicas', `[replicas, timeout]: ${REPLICAS_WORDS} and ${REPLICAS_TIMEOUT_WORDS}`, value);
  }
  const [replicas, timeout] = value;
  if (typeof replicas !== 'number') throw typeError('waitReplicas[0]', REPLICAS_WORDS, replicas);
  if (!Number.isInteger(replicas) || replicas < 1 || replicas > U32_MAX) throw rangeError('waitReplicas[0]', REPLICAS_WORDS, replicas);
  if (timeout === undefined) throw typeError('waitReplicas[1]', REPLICAS_TIMEOUT_WORDS, timeout);
  const ms = checkTtl(timeout, { name: 'waitReplicas[1]', field: 'wait_replicas.timeout', words: REPLICAS_TIMEOUT_WORDS });
  return { replicas, ms };
}

function randomSeed() {
  return crypto.randomBytes(8).readBigUInt64LE();
}

const ms = (n) => `${n} ms`;

/**
 * Takes a lock by `attempt()` until it succeeds, waiting between attempts with the core's
 * backoff (`fleet::lock_backoff`: from 10 ms, ×2 up to 200 ms, full jitter), never past the
 * holder's remaining lease and never starting an attempt past `wait` (bigint ns; null: no
 * limit). With no wait, one attempt: a lock held is ERR_LOCK_HELD. Only a held lock (or, for
 * RedLock, a missed quorum) is waited out; Redis failing ends the wait at once.
 */
async function acquireWaiting(attempt, wait, signal) {
  const waiter = new native.NativeLockWaiter(wait, randomSeed(), nativeNow());
  for (;;) {
    if (signal?.aborted) throw errors.abortReason(signal);
    try {
      return await attempt();
    } catch (error) {
      const waitable = error instanceof errors.LockError && (error.code === 'ERR_LOCK_HELD' || error.code === 'ERR_LOCK_NO_QUORUM');
      if (!waitable) throw error;
      const left = error.retryAfter === null ? null : BigInt(Math.round(error.retryAfter * 1e6));
      const now = nativeNow();
      const pause = waiter.pause(now, left);
      if (pause < 0) {
        if (wait === 0n) throw error;
        const waited = waiter.waited(now);
        const still = error.code === 'ERR_LOCK_HELD' ? 'still held by another holder' : 'still no quorum';
        throw errors.lockError('ERR_LOCK_WAIT_TIMEOUT', `the lock ${JSON.stringify(error.lock)} was ${still} after waiting ${waited} ms`, null, {
          lock: error.lock,
          waited,
        });
      }
      await sleep(pause, signal);
    }
  }
}

/**
 * A lease on a lock: a LeaseLostError reaches its `signal`, `lost` and `'lost'` as for every
 * lease, and it carries the acquisition's fencing token. Pass `fence` to whatever the lock
 * protects and have it refuse a write whose fence is smaller than the largest it has seen: a
 * holder that stalled past its lease and writes late is then refused, however late it writes.
 *
 * @example
 * await lock.using('nightly-report', async (signal, lease) => {
 *   await db.query('UPDATE report SET body = $1, fence = $2 WHERE fence < $2', [body, lease.fence]);
 * });
 */
class LockLease extends Lease {
  constructor(owner, name, token, ttl, fence, validity) {
    super(owner, name, token, ttl);
    /**
     * The fencing token: a number, larger than every earlier fence of this name
     * (`max(previous + 1, the server's time in µs)`), exact: fences stay below 2^53 until the
     * year 2255.
     */
    this.fence = fence;
    /**
     * How long the lease is sure to last from its acquisition, in ms: its time, less for a
     * RedLock the time the acquisition took and the clock-drift allowance.
     */
    this.validity = validity;
  }

  /**
   * Sets the lease's remaining time to `ttl` ms (default its lease time) if it is still held:
   * it sets, never adds. Resolves whether it was held; false means the lease is lost (its
   * signal aborts). The keeper, if running, goes on renewing to the lease's own time.
   */
  async extend(ttl) {
    const time = ttl === undefined ? this.ttl : checkTtl(ttl);
    const held = await this._owner._extendLease(this, time);
    if (!held) this._lose('gone');
    return held;
  }
}

/** The lock script's answer to an acquire: `{ fence }`, or a held lock's remaining lease. */
function takeReply(value) {
  if (!Array.isArray(value)) return undefined;
  if (value.length === 3 && value[0] === 1 && Number.isSafeInteger(value[1]) && value[1] > 0 && Number.isSafeInteger(value[2])) {
    return { fence: value[1] };
  }
  if (value.length === 2 && value[0] === 0 && Number.isSafeInteger(value[1]) && value[1] >= 0) return { pttl: value[1] };
  return undefined;
}

function heldError(name, pttl) {
  return errors.lockError('ERR_LOCK_HELD', `the lock ${JSON.stringify(name)} is held by another holder for up to ${pttl} ms`, pttl, { lock: name });
}

const LOCK_OPTIONS = ['client', 'ttl', 'wait', 'waitReplicas', 'prefix', 'timeout'];
const HINTS = {
  keyPrefix: '`prefix` (put before `{name}` in every Redis key)',
  redis: '`client`',
  connection: '`client`',
  lease: '`ttl`',
  leaseTime: '`ttl`',
  expire: '`ttl`',
  retryDelay: '`wait` (the waits between attempts are the core\'s backoff)',
  retryCount: '`wait` (the waits between attempts are the core\'s backoff)',
  acquireTimeout: '`wait`',
  waitTimeout: '`wait`',
  replicas: '`waitReplicas: [replicas, timeout]`',
};
const checkLock = opt.declare('FleetLock', LOCK_OPTIONS, HINTS);
const checkAcquire = opt.declare('a fleet lock acquire', ['wait', 'signal', 'keep']);
const checkUsing = opt.declare('a fleet lock using', ['wait', 'signal']);

/**
 * A distributed lock kept in Redis: a lease (`ttl`, 30 s by default) on a name, with a fencing
 * token, renewed by a keeper while it is held and released by compare-and-delete. At most one
 * holder at a time across every process on the same Redis, prefix and name; a holder that dies
 * frees it one lease time after its last renewal at the latest. A lock never falls back: when
 * Redis cannot decide, nothing is acquired (FleetUnavailableError).
 *
 * @example
 * const { FleetLock } = require('stanchion/redis');
 * const lock = new FleetLock({ client: redis, ttl: 10_000, wait: 5_000 });
 * const report = await lock.using('nightly-report', async (signal, lease) => build({ signal, fence: lease.fence }));
 */
class FleetLock {
  constructor(options) {
    const o = opt.options(options);
    checkLock(o);
    this._store = new Store(o.client, checkTimeout(o.timeout), 'lock');
    this._init(o);
    this._replicas = checkReplicas(o.waitReplicas);
  }

  _init(o) {
    this._ttl = checkTtl(o.ttl);
    this._ttlNs = BigInt(this._ttl) * 1_000_000n;
    this._wait = checkWait(o.wait, 0n);
    this._prefix = checkPrefix(o.prefix);
    this._every = Number(native.fleetRenewEvery(this._ttlNs)) / 1e6;
    this._script = script('lock');
    this._what = 'fleet lock';
  }

  /** The lease time in ms. */
  get ttl() {
    return this._ttl;
  }

  /** The breaker guarding the client's connection, shared by every fleet primitive on that client. */
  get breaker() {
    return this._store.guard.breaker;
  }

  /** The Redis keys of lock `name`: the lease, `<prefix>{<name>}:lock`, and the fence counter, `<prefix>{<name>}:fence`. */
  redisKeys(name) {
    checkName(name);
    return { lock: `${this._prefix}{${name}}:lock`, fence: `${this._prefix}{${name}}:fence` };
  }

  /**
   * Takes lock `name`, waiting up to `wait` ms (default the lock's `wait`, itself 0: one
   * attempt) while another holder has it: a LockLease whose keeper renews it every third of
   * its time (unless `keep: false`). Rejects with a LockError (`ERR_LOCK_HELD` with the
   * holder's remaining lease as `retryAfter`, `ERR_LOCK_WAIT_TIMEOUT`, `ERR_LOCK_REPLICAS`) or
   * a FleetUnavailableError; an aborted `signal` rejects with its reason, and a lease taken
   * meanwhile is released.
   */
  async acquire(name, options) {
    const signal = signalOf(options, checkAcquire);
    const wait = checkWait(options?.wait, this._wait);
    const keep = opt.boolean(options?.keep, 'keep') ?? true;
    checkName(name);
    const lease = await acquireWaiting(() => this._attempt(name), wait, signal);
    if (signal?.aborted) {
      await lease.release().catch(() => {});
      throw errors.abortReason(signal);
    }
    if (keep) lease._keep(this._every);
    return lease;
  }

  /**
   * Takes lock `name` (waiting as `acquire` does), runs `fn(signal, lease)` while a keeper
   * renews the lease, then releases it; resolves to fn's value. `signal` aborts when the lease
   * is lost or the caller's `signal` aborts: pass it on, and pass `lease.fence` to what the
   * lock protects. Rejects with a LeaseLostError when the lease was lost while fn ran (even if
   * fn resolved: part of its work ran without the lock).
   */
  async using(name, fn, options) {
    work(fn);
    const signal = signalOf(options, checkUsing);
    const wait = options?.wait;
    return holdWhile(() => this.acquire(name, { wait, signal }), fn, signal);
  }

  /** One attempt: a lease (and its WAIT), or a LockError / FleetUnavailableError. */
  async _attempt(name) {
    const token = newToken();
    const fence = await this._take(name, token);
    const taken = new LockLease(this, name, token, this._ttl, fence, this._ttl);
    if (this._replicas !== undefined) await this._awaitReplicas(taken);
    return taken;
  }

  /** One acquire call with `token`: the fence, or ERR_LOCK_HELD. `nowUs`: tests only. */
  async _take(name, token, nowUs) {
    const { lock, fence } = this.redisKeys(name);
    const args = ['acquire', token, String(this._ttl)];
    if (nowUs !== undefined) args.push(String(nowUs));
    let answer;
    try {
      answer = await this._store.run(this._script, [lock, fence], args);
    } catch (error) {
      // A call cut off may still take the lock: release it right behind it.
      this._store.behind(error, this._script, [lock, fence], ['release', token]);
      throw error;
    }
    const checked = takeReply(answer);
    if (checked === undefined) {
      this._store.behind(undefined, this._script, [lock, fence], ['release', token]);
      throw this._store.unexpected('lock', answer);
    }
    if (checked.pttl !== undefined) throw heldError(name, checked.pttl);
    return checked.fence;
  }

  /** WAITs for the replicas; short of them, releases the lease. */
  async _awaitReplicas(taken) {
    const { replicas, ms: timeout } = this._replicas;
    let acknowledged;
    try {
      acknowledged = await this._store.wait(this.redisKeys(taken.name).lock, replicas, timeout);
    } catch (error) {
      await this._releaseLease(taken).catch(() => {});
      throw error;
    }
    if (!Number.isSafeInteger(acknowledged) || acknowledged < replicas) {
      await this._releaseLease(taken).catch(() => {});
      if (!Number.isSafeInteger(acknowledged)) throw this._store.unexpected('WAIT', acknowledged);
      throw errors.lockError(
        'ERR_LOCK_REPLICAS',
        `${acknowledged} of ${replicas} replicas acknowledged the lease on ${JSON.stringify(taken.name)} within ${ms(timeout)}; it was released`,
        null,
        { lock: taken.name, acknowledged, wanted: replicas },
      );
    }
  }

  async _releaseLease(held) {
    const { lock, fence } = this.redisKeys(held.name);
    const answer = await this._store.run(this._script, [lock, fence], ['release', held.token]);
    if (answer !== 0 && answer !== 1) throw this._store.unexpected('lock', answer);
    return answer === 1;
  }

  async _extendLease(held, ttl) {
    const { lock, fence } = this.redisKeys(held.name);
    const answer = await this._store.run(this._script, [lock, fence], ['extend', held.token, String(ttl)]);
    if (answer !== 0 && answer !== 1) throw this._store.unexpected('lock', answer);
    return answer === 1;
  }

  _renewLease(held) {
    return this._extendLease(held, held.ttl);
  }
}

// ---- RedLock -------------------------------------------------------------------------------------

const REDLOCK_OPTIONS = ['clients', 'ttl', 'wait', 'prefix', 'timeout'];
const checkRedlock = opt.declare('Redlock', REDLOCK_OPTIONS, { ...HINTS, client: '`clients` (one per independent server)', redis: '`clients`' });

/**
 * A lock kept on N independent Redis servers (not replicas of one another): the script of
 * FleetLock runs on each with one token, and the lease holds while a majority, ⌊N/2⌋ + 1,
 * has it. An acquisition is valid for the lease time less the time it took and a clock-drift
 * allowance (1 % of the lease plus 2 ms: the core's `fleet::redlock_validity`); one that
 * misses the quorum, or leaves no validity, is released on every server. Renewal needs the
 * quorum too. Each client keeps its own timeout and breaker.
 *
 * RedLock is safe only while the servers' clocks run at nearly the same rate and no holder
 * pauses past its validity unnoticed: the fence (the largest of the servers' fences) is the
 * safety net.
 *
 * @example
 * const { Redlock } = require('stanchion/redis');
 * const redlock = new Redlock({ clients: [a, b, c, d, e], ttl: 10_000, wait: 2_000 });
 * await redlock.using('billing-run', async (signal, lease) => bill({ signal, fence: lease.fence }));
 */
class Redlock {
  constructor(options) {
    const o = opt.options(options);
    if ('waitReplicas' in o) {
      const error = new TypeError('option `waitReplicas` does not apply to a Redlock: it spreads the lease over independent servers instead of waiting for replicas');
      error.option = 'waitReplicas';
      throw error;
    }
    checkRedlock(o);
    if (!Array.isArray(o.clients)) throw typeError('clients', CLIENTS_WORDS, o.clients);
    if (o.clients.length < 1 || o.clients.length > MAX_SERVERS) throw rangeError('clients', CLIENTS_WORDS, o.clients);
    o.clients.forEach((client, i) => {
      try {
        adapterOf(client);
      } catch {
        throw typeError(`clients[${i}]`, CLIENT_WORDS, client);
      }
      if (o.clients.indexOf(client) !== i) {
        throw rangeError(`clients[${i}]`, `a client of its own server: it is \`clients[${o.clients.indexOf(client)}]\` again`, client);
      }
    });
    const { clients, ...shared } = o;
    this._locks = clients.map((client) => new FleetLock({ ...shared, client }));
    this._init(o);
    this._quorum = native.fleetQuorum(this._locks.length);
    this._what = 'RedLock';
  }

  /** The servers that must agree: ⌊N/2⌋ + 1. */
  get quorum() {
    return this._quorum;
  }

  /** The breakers guarding each server's connection, in the order of `clients`. */
  get breakers() {
    return this._locks.map((lock) => lock.breaker);
  }

  /**
   * One attempt on every server at once: the lease if a quorum granted it with validity left;
   * otherwise it is released everywhere, and the answer says why: FleetUnavailableError when
   * failing servers kept the quorum from forming, ERR_LOCK_HELD when holders did (with the
   * shortest of their remaining leases), ERR_LOCK_NO_QUORUM otherwise.
   */
  async _attempt(name) {
    const token = newToken();
    const start = nativeNow();
    const answers = await Promise.allSettled(this._locks.map((lock) => lock._take(name, token)));
    const elapsed = BigInt(Math.max(0, Math.round((nativeNow() - start) * 1e6)));
    const fences = answers.filter((a) => a.status === 'fulfilled').map((a) => a.value);
    const validity = native.fleetRedlockValidity(this._ttlNs, elapsed);
    if (fences.length >= this._quorum && validity !== null) {
      return new LockLease(this, name, token, this._ttl, Math.max(...fences), Number(validity) / 1e6);
    }
    // Every server, not only those that granted: a grant whose answer was lost is a lease too.
    await Promise.allSettled(this._locks.map((lock) => lock._releaseLease({ name, token })));
    const failures = answers.filter((a) => a.status === 'rejected').map((a) => a.reason);
    const unavailable = failures.filter((e) => e instanceof errors.FleetUnavailableError);
    if (unavailable.length > this._locks.length - this._quorum) {
      const first = unavailable[0];
      const why = `${unavailable.length} of ${this._locks.length} RedLock servers did not decide, so no quorum of ${this._quorum} could form`;
      throw errors.unavailableError(`${why}: ${first.message}`, first, first.retryAfter);
    }
    const other = failures.find((e) => !(e instanceof errors.LockError) && !(e instanceof errors.FleetUnavailableError));
    if (other !== undefined) throw other;
    const held = failures.filter((e) => e instanceof errors.LockError && e.code === 'ERR_LOCK_HELD').map((e) => e.retryAfter);
    if (held.length > 0) {
      const error = heldError(name, Math.min(...held));
      error.message = `the lock ${JSON.stringify(name)} is held by another holder on ${held.length} of ${this._locks.length} servers, for up to ${error.retryAfter} ms`;
      throw error;
    }
    const why = validity === null ? `in time to leave it valid (the acquisition took ${Number(elapsed) / 1e6} ms of a ${this._ttl} ms lease)` : 'in time';
    throw errors.lockError(
      'ERR_LOCK_NO_QUORUM',
      `${fences.length} of ${this._locks.length} servers granted the lock ${JSON.stringify(name)} ${why}, ${this._quorum} are needed; it was released everywhere`,
      null,
      { lock: name, granted: fences.length, needed: this._quorum },
    );
  }

  /** Sets the lease's remaining time to `ttl` on every server: true when a quorum still held it. */
  async _extendLease(held, ttl) {
    const answers = await Promise.allSettled(this._locks.map((lock) => lock._extendLease(held, ttl)));
    const kept = answers.filter((a) => a.status === 'fulfilled' && a.value === true).length;
    if (kept >= this._quorum) return true;
    const failures = answers.filter((a) => a.status === 'rejected').map((a) => a.reason);
    // Short of the quorum because servers failed, not because the lease had gone from them.
    if (kept + failures.length >= this._quorum) throw failures[0];
    return false;
  }

  _renewLease(held) {
    return this._extendLease(held, held.ttl);
  }

  /** Releases on every server; true when a quorum still held the lease. */
  async _releaseLease(held) {
    const answers = await Promise.allSettled(this._locks.map((lock) => lock._releaseLease(held)));
    const released = answers.filter((a) => a.status === 'fulfilled' && a.value === true).length;
    if (released >= this._quorum) return true;
    const failures = answers.filter((a) => a.status === 'rejected').map((a) => a.reason);
    if (released + failures.length >= this._quorum) throw failures[0];
    return false;
  }
}

// A Redlock takes, waits and holds as a FleetLock does; only an attempt, a renewal and a
// release differ.
for (const name of ['_init', 'acquire', 'using', 'redisKeys']) {
  Object.defineProperty(Redlock.prototype, name, Object.getOwnPropertyDescriptor(FleetLock.prototype, name));
}
Object.defineProperty(Redlock.prototype, 'ttl', Object.getOwnPropertyDescriptor(FleetLock.prototype, 'ttl'));

module.exports = { FleetLock, Redlock, LockLease, LOCK_OPTIONS, REDLOCK_OPTIONS };
