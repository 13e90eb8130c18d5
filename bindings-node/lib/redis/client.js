'use strict';
// The user's Redis client, whichever it is: ioredis (`Redis`, `Cluster`) or node-redis 4 and
// newer (`createClient`, `createCluster`). Neither is imported: both are optional peer
// dependencies, told apart by their methods. Each runs a script the same way: EVALSHA, and
// when the server answers NOSCRIPT, EVAL, which loads the script into the server's cache and
// runs it in the same round trip. Both carry the key, so a cluster client sends each to the
// node that owns the key's slot, and the script is loaded where it runs.

const { CircuitBreaker } = require('../breaker');
const { fleetConnectionBreaker } = require('../native');
const opt = require('../options');
const { after } = require('../sleep');
const { TimeoutError } = require('../errors');
const crypto = require('node:crypto');

const CLIENT_WORDS =
  'an ioredis client (new Redis() or new Cluster(), ioredis 5 or newer) or a node-redis client (createClient() or createCluster(), redis 4 or newer)';

const IOREDIS = Object.freeze({
  kind: 'ioredis',
  evalsha: (client, sha, key, args) => client.evalsha(sha, 1, key, ...args),
  eval: (client, text, key, args) => client.eval(text, 1, key, ...args),
});

// node-redis goes through sendCommand, which takes the raw command: node-redis 4's cluster
// routes the `{ keys }` form of evalSha to a random node instead of the key's, so a cluster
// client is told the key to route by.
const NODE_REDIS = Object.freeze({
  kind: 'node-redis',
  evalsha: (client, sha, key, args) => client.sendCommand(['EVALSHA', sha, '1', key, ...args]),
  eval: (client, text, key, args) => client.sendCommand(['EVAL', text, '1', key, ...args]),
});

const NODE_REDIS_CLUSTER = Object.freeze({
  kind: 'node-redis',
  evalsha: (client, sha, key, args) => client.sendCommand(key, false, ['EVALSHA', sha, '1', key, ...args]),
  eval: (client, text, key, args) => client.sendCommand(key, false, ['EVAL', text, '1', key, ...args]),
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
 * Runs `script` on `key`: EVALSHA, then EVAL if the server does not have it. A client that
 * throws instead of rejecting is turned into a rejection.
 */
function runScript(adapter, client, script, key, args) {
  return new Promise((resolve) => resolve(adapter.evalsha(client, script.sha, key, args))).catch((error) => {
    if (isNoScript(error)) return adapter.eval(client, script.text, key, args);
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

/** Whether an error counts against the connection: a timeout or a failure to reach the server. */
function isConnectionFailure(error) {
  return error instanceof TimeoutError || !isReply(error);
}

// ---- the breaker of each connection ----------------------------------------------------------

/** A seed of its own for each breaker, so a fleet's processes do not probe in step. */
function randomSeed() {
  return crypto.randomBytes(8).readBigUInt64LE();
}

/** `fleet::connection_breaker()` as options of this package's CircuitBreaker. */
function connectionBreakerOptions() {
  const c = fleetConnectionBreaker();
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

function guardOf(client) {
  let guard = guards.get(client);
  if (guard === undefined) {
    guard = { breaker: undefined, lastFailure: undefined };
    guard.breaker = new CircuitBreaker({
      ...connectionBreakerOptions(),
      seed: randomSeed(),
      // The server's answers, error replies included, are successes: the connection works.
      classify: (error) => {
        if (!isConnectionFailure(error)) return 'success';
        guard.lastFailure = error;
        return 'failure';
      },
    });
    guards.set(client, guard);
  }
  return guard;
}

module.exports = { adapterOf, runScript, within, guardOf, isReply, isConnectionFailure, connectionBreakerOptions, CLIENT_WORDS };
