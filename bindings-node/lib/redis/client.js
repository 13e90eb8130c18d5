'use strict';
// The user's Redis client, whichever it is: ioredis (`Redis`, `Cluster`) or node-redis 4 and
// newer (`createClient`, `createCluster`). Neither is imported: both are optional peer
// dependencies, told apart by their methods. Each runs a script the same way: EVALSHA, and
// when the server answers NOSCRIPT, EVAL, which loads the script into the server's cache and
// runs it in the same round trip. Both carry the keys (every key of one call shares a hash
// tag), so a cluster client sends each call to the node that owns its slot, and the script is
// loaded where it runs.

const { CircuitBreaker } = require('../breaker');
const { fleetConnectionBreaker, fleetIsUnavailableReply, fleetDefaults } = require('../native');
const opt = require('../options');
const { after } = require('../sleep');
const { TimeoutError, CircuitOpenError } = require('../errors');
const crypto = require('node:crypto');

/** `fleet::DEFAULT_CALL_TIMEOUT`, bigint ns. */
const DEFAULT_TIMEOUT = fleetDefaults().callTimeout;

const CLIENT_WORDS =
  'an ioredis client (new Redis() or new Cluster(), ioredis 5 or newer) or a node-redis client (createClient() or createCluster(), redis 4 or newer)';

// Each adapter takes the call's keys as an array; the first one routes a cluster call.
const IOREDIS = Object.freeze({
  kind: 'ioredis',
  evalsha: (client, sha, keys, args) => client.evalsha(sha, keys.length, ...keys, ...args),
  eval: (client, text, keys, args) => client.eval(text, keys.length, ...keys, ...args),
});

// node-redis goes through sendCommand, which takes the raw command: node-redis 4's cluster
// routes the `{ keys }` form of evalSha to a random node instead of the key's, so a cluster
// client is told the key to route by.
const NODE_REDIS = Object.freeze({
  kind: 'node-redis',
  evalsha: (client, sha, keys, args) => client.sendCommand(['EVALSHA', sha, String(keys.length), ...keys, ...args]),
  eval: (client, text, keys, args) => client.sendCommand(['EVAL', text, String(keys.length), ...keys, ...args]),
});

const NODE_REDIS_CLUSTER = Object.freeze({
  kind: 'node-redis',
  evalsha: (client, sha, keys, args) => client.sendCommand(keys[0], false, ['EVALSHA', sha, String(keys.length), ...keys, ...args]),
  eval: (client, text, keys, args) => client.sendCommand(keys[0], false, ['EVAL', text, String(keys.length), ...keys, ...args]),
});

/** The adapter for `client`, or a TypeError naming the option `client`. */
function adapterOf(client) {
  if (client !== null && (typeof client === 'object' || typeof client === 'function')) {
    if (typeof client.evalsha === 'function' && typeof client.eval === 'function' && typeof client.defineCommand === 'function') {
      return IOREDIS;
    }
    if (typeof client.evalSha === 'function' && typeof client.eval === 'function' && typeof client.sendCommand === 'function') {
      return typeof client.getSlotMaster === 'function' ? NODE_REDIS_CLUSTER : NODE_REDIS;
    }
  }
  throw opt.typeError('client', CLIENT_WORDS, client);
}

// The classes of an error the server sent (ioredis: ReplyError; node-redis 4: ErrorReply;
// node-redis 5 and newer: SimpleError and BlobError, which extend ErrorReply). Anything else
// a client rejects with is its own: the connection failed, closed or is not open yet.
const REPLY_CLASSES = new Set(['ReplyError', 'ErrorReply', 'SimpleError', 'BlobError']);

/** Whether `error` is an answer of the server (an error reply) rather than a failure to reach it. */
function isReply(error) {
  if (error === null || typeof error !== 'object') return false;
  if (error.name === 'ReplyError') return true;
  for (let proto = Object.getPrototypeOf(error); proto !== null && proto !== Error.prototype; proto = Object.getPrototypeOf(proto)) {
    if (REPLY_CLASSES.has(proto.constructor?.name)) return true;
  }
  return false;
}

function isNoScript(error) {
  return isReply(error) && typeof error.message === 'string' && error.message.startsWith('NOSCRIPT');
}

/**
 * Runs `script` on `keys` (one key, or an array of keys sharing a hash tag): EVALSHA, then
 * EVAL if the server does not have it. A client that throws instead of rejecting is turned
 * into a rejection.
 */
function runScript(adapter, client, script, keys, args) {
  const all = typeof keys === 'string' ? [keys] : keys;
  return new Promise((resolve) => resolve(adapter.evalsha(client, script.sha, all, args))).catch((error) => {
    if (isNoScript(error)) return adapter.eval(client, script.text, all, args);
    throw error;
  });
}

/**
 * `promise`, or a TimeoutError after `ms`. The timer is an ordinary one, as every wait of this
 * package is: the caller awaits it, so it keeps the process alive, and it is cleared as soon
 * as the call settles. A late answer is dropped (its rejection handled).
 */
function within(promise, ms, timeout) {
  return new Promise((resolve, reject) => {
    const cancel = after(ms, () => {
      const error = new TimeoutError(timeout);
      error.message = `Redis did not answer within ${timeout} ms`;
      reject(error);
    });
    promise.then(
      (value) => {
        cancel();
        resolve(value);
      },
      (error) => {
        cancel();
        reject(error);
      },
    );
  });
}

/** An error reply's code: its first word (`WRONGTYPE`, `LOADING`, `ERR`). */
function replyCode(error) {
  return typeof error.message === 'string' ? (/^\S+/.exec(error.message)?.[0] ?? '') : '';
}

/**
 * Whether an error means the server could not decide: a timeout, a failure to reach it, an
 * error reply the core counts as one (`fleet::is_unavailable_reply`: `LOADING`, `READONLY`,
 * `CLUSTERDOWN`, …), or the breaker's refusal. These count against the connection and are
 * answered by `onUnavailable`; any other error reply is an answer the caller gets as it is.
 */
function isUnavailable(error) {
  if (error instanceof TimeoutError || error instanceof CircuitOpenError || !isReply(error)) return true;
  return fleetIsUnavailableReply(replyCode(error));
}

/** Whether an error counts against the connection (the breaker's classification). */
function isConnectionFailure(error) {
  return isUnavailable(error);
}

// ---- the breaker of each connection ----------------------------------------------------------

/** A seed of its own for each breaker, so a fleet's processes do not probe in step. */
function randomSeed() {
  return crypto.randomBytes(8).readBigUInt64LE();
}

/**
 * `fleet::connection_breaker_for(timeout)` (bigint ns; the default call timeout when
 * undefined) as options of this package's CircuitBreaker.
 */
function connectionBreakerOptions(timeout) {
  const c = fleetConnectionBreaker(timeout);
  const options = {
    failureCount: c.failureCount ?? null,
    minimumCalls: c.minimumCalls,
    window: c.windowCount != null ? { count: c.windowCount } : { span: c.windowSpan, buckets: c.windowBuckets },
    openFor: c.openFor,
    openForMax: c.openForMax,
    openForFactor: c.openForFactor,
    openForJitter: c.openForJitter,
    halfOpenProbes: c.halfOpenProbes,
  };
  if (c.consecutiveFailures != null) options.consecutiveFailures = c.consecutiveFailures;
  if (c.failureRate != null) options.failureRate = c.failureRate;
  if (c.slowCallDuration != null) options.slowCall = { duration: c.slowCallDuration, rate: c.slowCallRate };
  if (c.halfOpenSuccesses != null) options.halfOpenSuccesses = c.halfOpenSuccesses;
  if (c.probeTimeout != null) options.probeTimeout = c.probeTimeout;
  return options;
}

/**
 * One guard per client object (a client is one connection, or one cluster's connections):
 * every fleet primitive on the client shares its breaker, and the last failure it recorded
 * becomes the cause of the breaker's refusals.
 */
const guards = new WeakMap();

/**
 * The guard of `client`, for calls bounded by `timeout` (bigint ns; the default call timeout
 * when undefined). Its breaker is the core's for the longest timeout of the primitives
 * sharing it: a probe must report within twice that, so a probe that answers within its own
 * timeout is never taken for a lost one. A primitive with a longer timeout than any before it
 * reconfigures the breaker, keeping its seed and its state.
 */
function guardOf(client, timeout) {
  const ns = timeout ?? DEFAULT_TIMEOUT;
  let guard = guards.get(client);
  if (guard === undefined) {
    guard = { breaker: undefined, lastFailure: undefined, timeout: ns, seed: randomSeed() };
    guard.breaker = new CircuitBreaker({
      ...connectionBreakerOptions(ns),
      seed: guard.seed,
      // The server's answers are successes, error replies included unless they mean it
      // cannot decide now: the connection works.
      classify: (error) => {
        if (!isConnectionFailure(error)) return 'success';
        guard.lastFailure = error;
        return 'failure';
      },
    });
    guards.set(client, guard);
  } else if (ns > guard.timeout) {
    guard.timeout = ns;
    guard.breaker.reconfigure({ ...connectionBreakerOptions(ns), seed: guard.seed });
  }
  return guard;
}

/**
 * Runs `script` on `keys` through `guard`: the breaker admits the call (or rejects with its
 * refusal), `timeout` (ms) bounds it, and how it ended is recorded. An abort rejects at once
 * with the signal's reason; the call itself still runs to its answer or its timeout, so the
 * breaker gets its permit back.
 */
function guardedCall(guard, adapter, client, script, keys, args, timeout, signal) {
  return guard.breaker.execute(
    () => within(runScript(adapter, client, script, keys, args), timeout, timeout),
    signal === undefined ? undefined : { signal },
  );
}

module.exports = {
  adapterOf,
  runScript,
  within,
  guardOf,
  guardedCall,
  isReply,
  isUnavailable,
  isConnectionFailure,
  connectionBreakerOptions,
  CLIENT_WORDS,
};
