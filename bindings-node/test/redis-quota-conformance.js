'use strict';
// The `quota` scenarios of redis/conformance/ (format in its README): one FleetQuota per file,
// driven through its public API and its test-only entry points for injected time
// (`_takeAt`) and starting buckets (`_takeAt`, `_restockFrom`). The runner's own helpers
// (strict fields, integers in their one form, the timeline's origin) come in as `format`.

const { FleetQuota, SoldOutError } = require('stanchion/redis');
const { uniquePrefix } = require('./redis-servers');

// The scenarios' field for each option an argument error names.
const FIELDS = { n: 'n', requestId: 'request_id', bucket: 'bucket', name: 'name' };

/** The file's config as FleetQuota options. */
function quotaOptions(value, format) {
  const config = new format.Fields(value, '`config`');
  const options = {};
  const buckets = config.or('buckets', undefined, format.u32);
  const memory = config.or('id_memory', undefined, format.int);
  config.finish();
  if (buckets !== undefined) options.buckets = buckets;
  if (memory !== undefined) options.idMemory = memory;
  return options;
}

/** The field a refused argument names, or undefined for any other error. */
function refusedField(error) {
  if (!(error instanceof RangeError || error instanceof TypeError)) return undefined;
  return FIELDS[error.option];
}

/**
 * The runner of one file's steps: `(op, args) => observed fields`, on a quota built from the
 * file's `config` under a fresh prefix.
 */
function quotaSubject(value, client, helper, format) {
  const { string, int, u32, fail, Mismatch, ORIGIN, U64_MAX } = format;
  // A generous timeout: a loaded machine must not turn a slow answer into a mismatch.
  const quota = new FleetQuota({ client, ...quotaOptions(value, format), prefix: uniquePrefix('conformance'), timeout: 10_000 });
  const startOf = (args, what) => {
    const start = args.or('start', undefined, u32);
    if (start === undefined && quota.buckets > 1) fail(`a ${what} without an \`id\` on a quota of several buckets starts at a random one: give \`start\``);
    return start ?? 0;
  };
  return async (op, args) => {
    switch (op) {
      case 'take': {
        const name = args.or('name', 'q', string);
        const n = args.get('n', int);
        const id = args.or('id', undefined, string);
        const now = args.or('now', 0n, int);
        if (now > U64_MAX - ORIGIN) fail(`\`now\`: ${now} is past u64::MAX - ORIGIN, which the runner cannot place`);
        let start;
        if (id === undefined) start = startOf(args, 'take');
        else if (args.take('start') !== undefined) fail('`start`: a take with an `id` starts where the id says');
        try {
          const taken = await quota._takeAt(name, Number(n), id, start, ORIGIN + now);
          return { granted: true, bucket: taken.bucket, remaining: taken.remaining, replayed: taken.replayed, error_field: null };
        } catch (error) {
          if (error instanceof SoldOutError) return { granted: false, bucket: null, remaining: error.remaining, replayed: false, error_field: null };
          const field = refusedField(error);
          if (field === undefined) throw new Mismatch(`the take failed: ${error}`);
          return { granted: false, bucket: null, remaining: null, replayed: false, error_field: field };
        }
      }
      case 'restock': {
        const name = args.or('name', 'q', string);
        const n = args.get('n', int);
        const start = startOf(args, 'restock');
        try {
          return { remaining: await quota._restockFrom(name, Number(n), start), error_field: null };
        } catch (error) {
          const field = refusedField(error);
          if (field === undefined) throw new Mismatch(`the restock failed: ${error}`);
          return { remaining: null, error_field: field };
        }
      }
      case 'remaining': {
        const name = args.or('name', 'q', string);
        const bucket = args.or('bucket', undefined, u32);
        try {
          return { remaining: bucket === undefined ? await quota.remaining(name) : await quota.bucketRemaining(name, bucket) };
        } catch (error) {
          throw new Mismatch(`\`remaining\` failed: ${error}`);
        }
      }
      case 'id_expires_at': {
        const name = args.or('name', 'q', string);
        const id = args.get('id', string);
        const bucket = args.or('bucket', 0, u32);
        let key;
        try {
          key = `${quota.redisKey(name, bucket)}:id:${id}`;
        } catch (error) {
          return fail(`\`name\` or \`bucket\`: ${error.message}`);
        }
        const millis = await helper.call('PEXPIRETIME', key);
        if (millis === -2) return { expires_at: null };
        if (millis < 0) throw new Mismatch(`${key} has no expiry: it would never leave`);
        const nanos = BigInt(millis) * 1_000_000n - ORIGIN;
        if (nanos < 0n) throw new Mismatch(`${key} expires at ${millis} ms, before the timeline's origin`);
        return { expires_at: nanos };
      }
      case 'validate': {
        const options = quotaOptions(args.required('config'), format);
        try {
          new FleetQuota({ client, ...options });
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

module.exports = { quotaSubject };
