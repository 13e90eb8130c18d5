'use strict';
// FleetQuota: a stock of units shared by every process that names it, kept in Redis and taken
// from by one call of redis/scripts/quota.lua per bucket visited, never below zero, and
// charged once per request id however often a take is retried (docs/semantics.md §9). The
// script decides on the server; the buckets a take visits, the checks and the bounds are the
// Rust reference's (stanchion-redis), through the addon; local batches are handed out from
// the core's Stock. A quota never falls back: when Redis cannot decide it rejects.

const { EventEmitter } = require('node:events');
const crypto = require('node:crypto');
const native = require('../native');
const { CircuitOpenError, SoldOutError, unavailableError, fleetError, soldOutError, abortReason } = require('../errors');
const opt = require('../options');
const { signalOf, onAbort } = require('../sleep');
const { script } = require('./scripts');
const { adapterOf, guardedCall, guardOf, isUnavailable, CLIENT_WORDS } = require('./client');

const FLEET = native.fleetDefaults();
const QUOTA = native.quotaDefaults();

const HINTS = {
  keyPrefix: '`prefix` (put before `{name:bucket}` in every Redis key)',
  redis: '`client`',
  connection: '`client`',
  commandTimeout: '`timeout` (of each call, in ms)',
  shards: '`buckets`',
  partitions: '`buckets`',
  batchSize: '`batch`',
  ttl: '`idMemory` (how long a request id is remembered)',
  idTtl: '`idMemory` (how long a request id is remembered)',
  onUnavailable: 'to catch FleetUnavailableError (a quota never falls back: while Redis cannot decide, every call rejects with it)',
  fallback: 'to catch FleetUnavailableError (a quota never falls back: while Redis cannot decide, every call rejects with it)',
};
const OPTIONS = ['client', 'prefix', 'buckets', 'idMemory', 'batch', 'timeout'];
const checkOptions = opt.declare('FleetQuota', OPTIONS, HINTS);
const checkTake = opt.declare('a fleet quota take', ['n', 'requestId', 'signal'], { id: '`requestId`', idempotencyKey: '`requestId`' });
const checkPoolTake = opt.declare('a quota pool take', ['n', 'signal'], {
  requestId: '`quota.take(name, { n, requestId })` (a pool hands out units it already holds, which no request id can charge)',
});

const UNITS = `an integer from 1 to ${QUOTA.maxUnits} (2^53 - 1)`;

// What each option and argument must be.
const WORDS = {
  client: CLIENT_WORDS,
  prefix: `a string of at most ${FLEET.maxPrefixLen} bytes, without \`{\` or \`}\``,
  name: `a string of 1 to ${FLEET.maxNameLen} bytes (UTF-8), without \`{\` or \`}\``,
  buckets: `an integer from 1 to ${QUOTA.maxBuckets}`,
  idMemory: 'a duration of 1 ms to 2^40 ms, kept in whole milliseconds (milliseconds as a number, or nanoseconds as a bigint)',
  batch: UNITS,
  timeout: 'a duration of 1 ns to 1 hour (milliseconds as a number, or nanoseconds as a bigint)',
  n: UNITS,
  requestId: `a string of 1 to ${QUOTA.maxRequestIdLen} bytes (UTF-8)`,
};

/** A received value as a message shows it; a long string by its start and its length. */
function shown(value) {
  if (typeof value === 'string' && value.length > 64) {
    return `${JSON.stringify(`${value.slice(0, 32)}…`)} (${Buffer.byteLength(value)} bytes)`;
  }
  return opt.show(value);
}

function outOfRange(name, allowed, value) {
  const error = new RangeError(`option \`${name}\` must be ${allowed}, got ${shown(value)}`);
  error.option = name;
  error.code = 'ERR_OUT_OF_RANGE';
  return error;
}

function typeError(name, value) {
  return opt.typeError(name, WORDS[name], value);
}

/** Runs a native check and turns the core's (or the quota's) config error into a RangeError naming the option. */
function checked(make, values) {
  try {
    return make();
  } catch (error) {
    const parts = typeof error?.message === 'string' ? error.message.split('\u001f') : [];
    if (parts[0] !== 'stanchion-config') throw error;
    const name = parts[1].replace(/_([a-z])/g, (_, c) => c.toUpperCase());
    throw outOfRange(name, WORDS[name] ?? parts[2], values[name]);
  }
}

/** A count of units (`n`): an integer from 1 to 2^53 - 1, what the script holds exactly. */
function units(value, name = 'n') {
  if (typeof value !== 'number') throw typeError(name, value);
  if (!Number.isSafeInteger(value) || value < 1) throw outOfRange(name, WORDS[name], value);
  return value;
}

function checkName(name) {
  if (typeof name !== 'string') throw typeError('name', name);
  checked(() => native.fleetCheckName('name', name), { name });
  return name;
}

function checkRequestId(id) {
  if (typeof id !== 'string') throw typeError('requestId', id);
  const bytes = Buffer.byteLength(id);
  if (bytes < 1 || bytes > QUOTA.maxRequestIdLen) throw outOfRange('requestId', WORDS.requestId, id);
  return id;
}

/** A take's `n`, `requestId` and `signal`, from a number (`n`) or `{ n, requestId, signal }`. */
function takeOptions(value) {
  if (value === undefined) return { n: 1, requestId: undefined, signal: undefined };
  if (typeof value === 'number') return { n: units(value), requestId: undefined, signal: undefined };
  if (value === null || typeof value !== 'object') {
    throw opt.typeError('options', 'a number (`n`) or an object { n, requestId, signal }', value);
  }
  const signal = signalOf(value, checkTake);
  return {
    n: value.n === undefined ? 1 : units(value.n),
    requestId: value.requestId === undefined ? undefined : checkRequestId(value.requestId),
    signal,
  };
}

/** A pool take's `n` and `signal`, from a number (`n`) or `{ n, signal }`. */
function poolTakeOptions(value) {
  if (value === undefined) return { n: 1, signal: undefined };
  if (typeof value === 'number') return { n: units(value), signal: undefined };
  if (value === null || typeof value !== 'object') throw opt.typeError('options', 'a number (`n`) or an object { n, signal }', value);
  const signal = signalOf(value, checkPoolTake);
  return { n: value.n === undefined ? 1 : units(value.n), signal };
}

// ioredis 6 and node-redis decode an integer reply as `n * 10 + digit - 48` in doubles, which
// rounds once `n * 10 + digit` passes 2^53: an integer from ROUNDED (2^53 - 47) up arrives within one of
// its value (ioredis 5 reads every one exactly). No count exceeds 2^53 - 1, so a count read as
// 2^53 is 2^53 - 1; an exact take's units are the ones it asked for; and a pool's batches stay
// below ROUNDED. Counts between ROUNDED and 2^53 - 2 may still read one off with those clients.
const MAX_UNITS = QUOTA.maxUnits;
const ROUNDED = MAX_UNITS - 46;

/** A count of the script's reply as a client decoded it, or undefined if it is no count. */
function count(value) {
  if (value === MAX_UNITS + 1) return MAX_UNITS;
  return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
}

/** The script's take reply `{taken, remaining, replayed}`, or undefined if it is not one. */
function takeReply(value) {
  if (!Array.isArray(value) || value.length !== 3) return undefined;
  const taken = value[0] === -1 ? -1 : count(value[0]);
  const remaining = count(value[1]);
  const replayed = value[2];
  if (taken === undefined || remaining === undefined || (replayed !== 0 && replayed !== 1)) return undefined;
  return [taken, remaining, replayed];
}

/** The script's `{remaining}` reply of a restock or a read, or undefined if it is not one. */
function countReply(value) {
  return Array.isArray(value) && value.length === 1 ? count(value[0]) : undefined;
}

/**
 * A stock of units (hot-item inventory, seats, credits) shared by every process that uses the
 * same Redis, `prefix` and name. A take never drives it below zero, and a take with a
 * `requestId` is charged once however often it is retried while the id is remembered
 * (`idMemory`). The stock may be split over `buckets` keys on different cluster slots; a take
 * visits them one call each, from a starting bucket round the ring, and is sold out only when
 * every bucket held fewer units than asked when visited. A quota never guesses: while Redis
 * cannot decide, every call rejects with a FleetUnavailableError. Emits `unavailable` (that
 * error) every time.
 *
 * @example
 * const { FleetQuota, SoldOutError } = require('stanchion/redis');
 * const stock = new FleetQuota({ client: redis, prefix: 'shop:stock:', buckets: 8 });
 * await stock.restock('sku-42', 1_000);
 * try {
 *   const taken = await stock.take('sku-42', { n: 1, requestId: 'order-7781' });
 *   console.log(`reserved; ${taken.remaining} left in bucket ${taken.bucket}`);
 * } catch (error) {
 *   if (error instanceof SoldOutError) console.log('sold out');
 *   else throw error;
 * }
 */
class FleetQuota extends EventEmitter {
  constructor(options) {
    super();
    const o = opt.options(options);
    checkOptions(o);
    this._adapter = adapterOf(o.client);
    this._client = o.client;
    const prefix = o.prefix ?? FLEET.prefix;
    if (typeof prefix !== 'string') throw typeError('prefix', prefix);
    checked(() => native.fleetCheckPrefix(prefix), o);
    const buckets = o.buckets === undefined ? 1 : o.buckets;
    if (typeof buckets !== 'number') throw typeError('buckets', buckets);
    if (!Number.isInteger(buckets) || buckets < 0 || buckets > opt.U32_MAX) throw outOfRange('buckets', WORDS.buckets, buckets);
    const idMemory = o.idMemory === undefined ? QUOTA.idMemory : opt.duration(o.idMemory, 'idMemory');
    const batch = o.batch === undefined ? QUOTA.batch : o.batch;
    if (typeof batch !== 'number') throw typeError('batch', batch);
    const memory = checked(() => native.quotaCheckConfig(buckets, idMemory, batch), o);
    const timeout = o.timeout === undefined ? FLEET.callTimeout : opt.duration(o.timeout, 'timeout');
    checked(() => native.fleetCheckTimeout(timeout), o);
    this._prefix = prefix;
    this._buckets = buckets;
    this._memory = String(memory);
    this._batch = batch;
    this._timeout = Number(timeout) / 1e6;
    // Not a secret: it only spreads the random starting buckets, differently in each process.
    this._ring = new native.NativeQuotaRing(buckets, crypto.randomBytes(8).readBigUInt64LE());
    this._script = script('quota');
    this._guard = guardOf(o.client, timeout);
  }

  /**
   * The circuit breaker guarding this client's connection, shared by every fleet primitive on
   * the same client object, configured by the core's `fleet::connection_breaker_for` the
   * longest `timeout` among them.
   */
  get breaker() {
    return this._guard.breaker;
  }

  /** How many buckets the stock is split over. */
  get buckets() {
    return this._buckets;
  }

  /** How many units a pool takes from Redis when it runs dry. */
  get batch() {
    return this._batch;
  }

  /**
   * The Redis key of bucket `bucket` (default 0) of quota `name`:
   * `<prefix>{<name>:<bucket>}:quota`, each bucket its own cluster hash tag.
   */
  redisKey(name, bucket = 0) {
    checkName(name);
    this._checkBucket(bucket, 'bucket');
    return this._key(name, bucket);
  }

  /**
   * The bucket where a take with `requestId` starts: the 64-bit FNV-1a hash of the id's UTF-8
   * bytes modulo the bucket count, as every binding computes it.
   */
  startBucket(requestId) {
    return this._ring.start(checkRequestId(requestId));
  }

  /**
   * Takes `n` units (default 1) from quota `name`: a number, or `{ n, requestId, signal }`.
   * Resolves to `{ bucket, remaining, replayed }` (the bucket that served it, the units left
   * there, and whether the request id was remembered, in which case nothing more was taken);
   * rejects with a SoldOutError when no bucket held `n`, a FleetUnavailableError when Redis
   * could not decide. With a `requestId` (1 to 256 bytes) a retry after a timeout answers what
   * the first call answered, a refusal included, and is never charged twice; an id reused for
   * another `n` is a RangeError on `requestId`. An aborted `signal` rejects with its reason
   * at once; units Redis took before the abort stay taken (retry with the same id).
   */
  async take(name, options) {
    const { n, requestId, signal } = takeOptions(options);
    checkName(name);
    if (signal?.aborted) throw abortReason(signal);
    const start = requestId === undefined ? this._ring.random() : this._ring.start(requestId);
    const served = await this._sweep(name, n, n, requestId, start, undefined, signal);
    return { bucket: served.bucket, remaining: served.remaining, replayed: served.replayed };
  }

  /**
   * Adds `n` units to quota `name`, spread evenly over its buckets (the first `n % buckets`
   * from a random bucket on get one more), one call per bucket, and resolves to the units the
   * buckets held after, summed as each call left them. A bucket's count saturates at
   * 2^53 - 1. A failure part way leaves the buckets before it restocked.
   */
  async restock(name, n) {
    checkName(name);
    units(n);
    return this._restockFrom(name, n, this._ring.random());
  }

  /** The units quota `name` holds, summed over its buckets (one call each). */
  async remaining(name) {
    checkName(name);
    let total = 0;
    for (let bucket = 0; bucket < this._buckets; bucket++) total += await this._count(name, bucket);
    return total;
  }

  /** The units bucket `bucket` of quota `name` holds. */
  async bucketRemaining(name, bucket) {
    checkName(name);
    this._checkBucket(bucket, 'bucket');
    return this._count(name, bucket);
  }

  /**
   * A local pool of quota `name`'s units for this process: takes are served from an
   * in-process core Stock with no round trip, and one call takes up to `batch` units from
   * Redis when it runs dry. Give back what it holds with `close()` (or `giveBack()`).
   */
  pool(name) {
    return new QuotaPool(this, checkName(name));
  }

  /**
   * `take` at `now` (bigint ns on the server's Unix clock) instead of its TIME, starting at
   * bucket `start` when there is no request id (a random one when undefined): tests only.
   */
  async _takeAt(name, n, requestId, start, now) {
    units(n);
    let first;
    if (requestId !== undefined) first = this._ring.start(checkRequestId(requestId));
    else if (start !== undefined) first = this._checkBucket(start, 'bucket');
    else first = this._ring.random();
    checkName(name);
    const served = await this._sweep(name, n, n, requestId, first, now, undefined);
    return { bucket: served.bucket, remaining: served.remaining, replayed: served.replayed };
  }

  /** `restock` with the extra units from bucket `start` on: tests only. */
  async _restockFrom(name, n, start) {
    checkName(name);
    units(n);
    this._checkBucket(start, 'bucket');
    // Exact for every n below 2^53: the remainder first, then a division with none.
    const extra = n % this._buckets;
    const share = (n - extra) / this._buckets;
    let total = 0;
    for (let step = 0; step < this._buckets; step++) {
      const bucket = (start + step) % this._buckets;
      const add = share + (step < extra ? 1 : 0);
      total += add === 0 ? await this._count(name, bucket) : await this._restockBucket(name, bucket, add);
    }
    return total;
  }

  _key(name, bucket) {
    return `${this._prefix}{${name}:${bucket}}:quota`;
  }

  _checkBucket(bucket, option) {
    if (typeof bucket !== 'number') throw opt.typeError(option, this._bucketWords(), bucket);
    if (!Number.isInteger(bucket) || bucket < 0 || bucket >= this._buckets) throw outOfRange(option, this._bucketWords(), bucket);
    return bucket;
  }

  _bucketWords() {
    return `an integer from 0 to ${this._buckets - 1} (below the quota's \`buckets\`, ${this._buckets})`;
  }

  /**
   * Visits the buckets from `start` round the ring until one serves a take of at least `least`
   * and at most `most` units: `{ bucket, remaining, replayed, units }`, or a SoldOutError.
   */
  async _sweep(name, least, most, requestId, start, now, signal) {
    let seen = 0;
    for (let step = 0; step < this._buckets; step++) {
      const bucket = (start + step) % this._buckets;
      const key = this._key(name, bucket);
      const keys = requestId === undefined ? [key] : [key, `${key}:id:${requestId}`];
      const args = ['take', String(least), String(most), this._memory];
      if (now !== undefined) args.push(String(now));
      const reply = await this._call(keys, args, signal);
      const answer = takeReply(reply);
      if (answer === undefined) {
        throw this._unavailable(new Error(`the quota script answered ${opt.show(reply)}, not {taken, remaining, replayed}`));
      }
      const [decoded, remaining, replayed] = answer;
      // An exact take is served whole or not at all: near 2^53 a client may read it one off.
      const taken = least === most && decoded >= ROUNDED && Math.abs(decoded - least) <= 1 ? least : decoded;
      if (taken === 0) {
        seen += remaining;
      } else if (taken === -1) {
        throw outOfRange('requestId', `an id not used within \`idMemory\` for a take of another \`n\` (this take's is ${least})`, requestId);
      } else if (taken >= least && taken <= most) {
        return { bucket, remaining, replayed: replayed === 1, units: taken };
      } else {
        throw this._unavailable(new Error(`the quota script took ${taken} units, outside the ${least} to ${most} asked for`));
      }
    }
    throw soldOutError(least, seen);
  }

  /** Adds `n` units to one bucket; resolves to its count after. */
  async _restockBucket(name, bucket, n) {
    const reply = await this._call([this._key(name, bucket)], ['restock', String(n)], undefined);
    return this._countOf(reply);
  }

  async _count(name, bucket) {
    const reply = await this._call([this._key(name, bucket)], ['remaining'], undefined);
    return this._countOf(reply);
  }

  _countOf(reply) {
    const count = countReply(reply);
    if (count === undefined) throw this._unavailable(new Error(`the quota script answered ${opt.show(reply)}, not {remaining}`));
    return count;
  }

  /** One script call through the client's guard; a failure is the caller's error. */
  async _call(keys, args, signal) {
    try {
      return await guardedCall(this._guard, this._adapter, this._client, this._script, keys, args, this._timeout, signal);
    } catch (error) {
      if (signal?.aborted) throw error;
      if (!isUnavailable(error)) throw fleetError(`Redis answered the quota with an error: ${error.message}`, error);
      throw this._unavailable(error);
    }
  }

  _unavailable(error) {
    let retryAfter = null;
    if (error instanceof CircuitOpenError) {
      // The refusal is this call's; what opened the breaker is the failure before it.
      if (error.cause === undefined) error.cause = this._guard.lastFailure;
      retryAfter = error.retryAfter;
    }
    const why = typeof error?.message === 'string' ? error.message : opt.show(error);
    const unavailable = unavailableError(`Redis did not decide: ${why}`, error, retryAfter);
    this.emit('unavailable', unavailable);
    return unavailable;
  }
}

function closedError(name) {
  const error = new Error(`the pool of quota ${JSON.stringify(name)} is closed`);
  error.code = 'ERR_QUOTA_POOL_CLOSED';
  return error;
}

/** Resolves as `promise` (which never rejects) does, or rejects with the signal's reason first. */
function untilAborted(promise, signal) {
  if (signal === undefined) return promise;
  return new Promise((resolve, reject) => {
    const stop = onAbort(signal, () => reject(abortReason(signal)));
    promise.then((value) => {
      stop();
      resolve(value);
    });
  });
}

// A pool collected while it still holds units gives them back, as a best effort nobody sees:
// `close()` is the way to know.
const abandoned = new FinalizationRegistry(({ quota, name, stock }) => {
  const units = stock.drain();
  if (units > 0) quota._restockBucket(name, quota._ring.random(), units).catch(() => {});
});

/**
 * A process's local pool of one quota's units: `take` is served from an in-process core Stock
 * with no round trip, and only when the pool runs dry does it call Redis, taking between the
 * units asked for and `batch` units at once (what the bucket holds). One refill is in flight
 * at a time: takes that find the pool dry meanwhile wait for it instead of each taking a batch.
 * Units in the pool are taken as far as Redis knows, so other processes may find the quota
 * sold out while pools hold units: give them back with `close()` or `giveBack()`.
 *
 * @example
 * const credits = new FleetQuota({ client: redis, prefix: 'api:credits:', batch: 100 });
 * const pool = credits.pool('tenant-7');
 * for (let i = 0; i < 250; i++) await pool.take(); // 3 calls to Redis
 * const returned = await pool.close(); // what it did not use goes back
 */
class QuotaPool {
  constructor(quota, name) {
    this._quota = quota;
    this._name = name;
    this._stock = new native.NativeStock(0);
    // The refill in flight: a promise that resolves, never rejects, to `{ least, error }`
    // once the pool's count includes what it brought.
    this._refill = null;
    this._closed = false;
    this._closing = undefined;
    abandoned.register(this, { quota, name, stock: this._stock }, this);
  }

  /** The quota's name. */
  get name() {
    return this._name;
  }

  /** The units the pool holds now. */
  get local() {
    return this._stock.available;
  }

  /** Whether `close()` was called. */
  get closed() {
    return this._closed;
  }

  /**
   * Takes `n` units (default 1; a number or `{ n, signal }`): from the pool when it holds
   * them, with no round trip; otherwise one sweep of the quota's buckets takes between `n` and
   * `max(n, batch)` units, hands `n` to the caller and keeps the rest. Rejects with a
   * SoldOutError when no bucket holds `n` and the pool does not either (the units it holds
   * stay for smaller takes), a FleetUnavailableError when Redis could not decide. An aborted
   * `signal` rejects at once; a batch already on its way still lands in the pool.
   */
  async take(options) {
    const { n, signal } = poolTakeOptions(options);
    if (this._closed) throw closedError(this._name);
    if (this._stock.take(n)) return;
    for (;;) {
      if (signal?.aborted) throw abortReason(signal);
      const pending = this._refill;
      if (pending === null) return this._refillFor(n, signal);
      const outcome = await untilAborted(pending, signal);
      if (this._closed) throw closedError(this._name);
      if (this._stock.take(n)) return;
      // Another take's sweep failed while this one waited for it: its answer is this one's
      // too, unless it asked for more units than this one does (then this one sweeps itself).
      const { least, error } = outcome;
      if (error instanceof SoldOutError) {
        if (least <= n) throw soldOutError(n, error.remaining);
      } else if (error !== undefined) {
        throw error;
      }
    }
  }

  /**
   * Gives every unit the pool holds back to the quota, in one call (to a random bucket), and
   * resolves to how many. Nothing held, no call. On an error the units are not put back in the
   * pool: Redis may have added them already, and keeping them too could sell them twice.
   */
  async giveBack() {
    const units = this._stock.drain();
    if (units === 0) return 0;
    await this._quota._restockBucket(this._name, this._quota._ring.random(), units);
    return units;
  }

  /**
   * Closes the pool: later takes reject (`ERR_QUOTA_POOL_CLOSED`), a refill in flight lands,
   * and everything the pool holds goes back to the quota as `giveBack()` gives it. Resolves
   * to the units returned; calling it again gives the same promise.
   */
  close() {
    if (this._closing === undefined) {
      this._closed = true;
      abandoned.unregister(this);
      this._closing = (async () => {
        if (this._refill !== null) await this._refill;
        return this.giveBack();
      })();
    }
    return this._closing;
  }

  /**
   * Starts the refill for a take of `n` and resolves once the caller has its `n` units. The
   * refill is the pool's, not the caller's: a caller that aborts leaves it running, and the
   * units it brings all land in the pool.
   */
  _refillFor(n, signal) {
    const quota = this._quota;
    // Below ROUNDED a batch's size reads exactly with every client (see `count`).
    const most = Math.max(n, Math.min(quota._batch, ROUNDED - 1));
    // 'waiting' until the sweep settles or the caller aborts, whichever comes first.
    let owner = 'waiting';
    const settled = quota._sweep(this._name, n, most, undefined, quota._ring.random(), undefined, undefined).then(
      ({ units }) => {
        this._refill = null;
        if (owner === 'gone') this._stock.add(units);
        else {
          owner = 'served';
          if (units > n) this._stock.add(units - n);
        }
        return { least: n, error: undefined };
      },
      (error) => {
        this._refill = null;
        return { least: n, error };
      },
    );
    this._refill = settled;
    return new Promise((resolve, reject) => {
      const stop = onAbort(signal, () => {
        if (owner !== 'waiting') return;
        owner = 'gone';
        reject(abortReason(signal));
      });
      settled.then(({ error }) => {
        stop();
        if (owner === 'gone') return;
        if (error === undefined) resolve();
        else reject(error);
      });
    });
  }
}

module.exports = { FleetQuota, QuotaPool, OPTIONS };
