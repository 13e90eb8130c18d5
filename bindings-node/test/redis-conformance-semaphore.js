'use strict';
// The `semaphore` scenarios of redis/conformance/ (format in its README), for the runner of
// redis-conformance.test.js: one FleetSemaphore per file, its holders named in the steps, each
// holding one lease (a fresh random token) on one name for the whole file, so that acquiring
// again as the same holder retries the same lease. `now` goes to the script's test-only
// argument, placed at the runner's origin; durations come back in whole milliseconds and are
// compared with the file's nanoseconds exactly.

const crypto = require('node:crypto');
const { FleetSemaphore } = require('stanchion/redis');
const { uniquePrefix } = require('./redis-servers');

/** The file's config as FleetSemaphore options (`ttl` as exact bigint ns). */
function semaphoreOptions(value, { Fields, int, u32 }) {
  const config = new Fields(value, '`config`');
  const options = { limit: config.get('limit', u32) };
  const ttl = config.or('ttl', undefined, int);
  config.finish();
  if (ttl !== undefined) options.ttl = ttl;
  return options;
}

/** `(config, client, helper) => run(op, args)` for the runner, given its parsing tools. */
function semaphoreSubject(tools) {
  const { Fields, Mismatch, int, string, fail, ORIGIN, U64_MAX } = tools;
  return (config, client, helper) => {
    let semaphore;
    try {
      semaphore = new FleetSemaphore({ client, ...semaphoreOptions(config, tools), prefix: uniquePrefix('conformance'), timeout: 10_000 });
    } catch (error) {
      if (error instanceof RangeError || error instanceof TypeError) fail(`\`config\`: ${error.message}`);
      throw error;
    }
    const holders = new Map();
    const lease = (holder, name) => {
      if (!holders.has(holder)) holders.set(holder, { name, token: crypto.randomBytes(16).toString('hex') });
      const held = holders.get(holder);
      if (held.name !== name) fail(`holder \`${holder}\` holds a lease on \`${held.name}\`, not \`${name}\``);
      return held;
    };
    const at = (args) => {
      const now = args.get('now', int);
      if (now > U64_MAX - ORIGIN) fail(`\`now\`: ${now} is past u64::MAX - ORIGIN, which the runner cannot place`);
      return ORIGIN + now;
    };
    const state = ({ holders: count, nextExpiryIn }) => ({
      holders: count,
      next_expiry_in: nextExpiryIn === null ? null : BigInt(nextExpiryIn) * 1_000_000n,
    });
    const decided = async (op, call) => {
      try {
        return await call();
      } catch (error) {
        if (error?.code === 'ERR_FLEET_UNAVAILABLE') throw new Mismatch(`${op} failed: ${error.message}`);
        throw error;
      }
    };

    return async (op, args) => {
      switch (op) {
        case 'acquire':
        case 'renew':
        case 'release': {
          const holder = args.or('holder', 'a', string);
          const name = args.or('name', 's', string);
          const { token } = lease(holder, name);
          const now = at(args);
          const key = semaphore.redisKey(name);
          if (op === 'acquire') {
            // Through the library's refusal: a full semaphore is a BulkheadFullError.
            const answer = await decided(op, () => semaphore._take(name, key, token, now).catch((error) => (error?.code === 'ERR_BULKHEAD_FULL' ? error : Promise.reject(error))));
            if (answer instanceof Error) {
              if (answer.retryAfter !== null) throw new Mismatch(`a full semaphore's retryAfter is ${answer.retryAfter}, not null`);
              return { acquired: false, ...state(answer) };
            }
            return { acquired: true, ...state(answer) };
          }
          const answer = await decided(op, () => semaphore._call(op, key, token, now));
          return { [op === 'renew' ? 'renewed' : 'released']: answer.ok, ...state(answer) };
        }
        case 'holders': {
          const name = args.or('name', 's', string);
          return state(await decided(op, () => semaphore._call('holders', semaphore.redisKey(name), '', at(args))));
        }
        case 'expires_at': {
          const name = args.or('name', 's', string);
          const millis = await helper.call('PEXPIRETIME', semaphore.redisKey(name));
          if (millis === -2) return { expires_at: null };
          if (millis < 0) throw new Mismatch('the key has no expiry: it would never leave');
          const nanos = BigInt(millis) * 1_000_000n - ORIGIN;
          if (nanos < 0n) throw new Mismatch(`the key expires at ${millis} ms, before the timeline's origin`);
          return { expires_at: nanos };
        }
        case 'validate': {
          const options = semaphoreOptions(args.required('config'), tools);
          try {
            new FleetSemaphore({ client, ...options });
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
  };
}

module.exports = { semaphoreSubject };
