'use strict';
// What the tests of stanchion/redis share: where the servers are (scripts/test-node.sh starts
// them on free loopback ports and passes their URLs), the four clients every test runs with,
// fresh key prefixes, call counters, and a TCP proxy that can stop answering.

const net = require('node:net');
const { once } = require('node:events');

const HOW = 'run scripts/test-node.sh, which starts Redis servers on free loopback ports and passes their URLs';

/** An environment variable the script sets; tests that need Redis fail without it rather than skip. */
function env(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: ${HOW}`);
  return value;
}

const standaloneUrl = () => env('STANCHION_REDIS_URL');
const clusterUrls = () => env('STANCHION_REDIS_CLUSTER_URLS').split(',');

function hostPort(url) {
  const u = new URL(url);
  return { host: u.hostname, port: Number(u.port) };
}

// Every client error is the test's to see through the limiter's answers; without a listener
// an `error` event would end the process.
const quiet = (client) => {
  client.on('error', () => {});
  return client;
};

/** Each client the package supports, standalone and cluster, at the newest and oldest major. */
const CLIENTS = {
  'ioredis 6': ioredis(() => require('ioredis')),
  'ioredis 5': ioredis(() => require('ioredis5')),
  'node-redis 6': nodeRedis(() => require('redis')),
  'node-redis 4': nodeRedis(() => require('redis4')),
};

// Each package is loaded when first used: a worker process loads only its own.
function ioredis(load) {
  return {
    kind: 'ioredis',
    async standalone(url) {
      const IORedis = load();
      const client = quiet(new IORedis(url, { lazyConnect: true }));
      await client.connect();
      return client;
    },
    async cluster(urls) {
      const IORedis = load();
      const client = quiet(new IORedis.Cluster(urls.map(hostPort), { lazyConnect: true }));
      await client.connect();
      return client;
    },
    ready: (client) => client.status === 'ready',
    close: (client) => client.disconnect(),
  };
}

function nodeRedis(load) {
  return {
    kind: 'node-redis',
    async standalone(url) {
      const redis = load();
      const client = quiet(redis.createClient({ url }));
      await client.connect();
      return client;
    },
    async cluster(urls) {
      const redis = load();
      const client = quiet(redis.createCluster({ rootNodes: urls.map((url) => ({ url })) }));
      await client.connect();
      return client;
    },
    ready: (client) => client.isReady !== false,
    close: (client) => (typeof client.destroy === 'function' ? client.destroy() : client.disconnect()),
  };
}

/** A key prefix no other test and no earlier run has used. */
let count = 0;
function uniquePrefix(tag) {
  return `test:${tag}:${process.pid}:${process.hrtime.bigint()}:${count++}:`;
}

/**
 * Counts the script calls made through `client` (EVALSHA and EVAL, as the limiter makes them:
 * ioredis's methods, node-redis's sendCommand) by wrapping its methods; `calls` is the total.
 */
function countCalls(client, kind) {
  const counter = { calls: 0, evalsha: 0, eval: 0 };
  const seen = (name) => {
    counter.calls++;
    counter[name]++;
  };
  if (kind === 'ioredis') {
    for (const name of ['evalsha', 'eval']) {
      const original = client[name];
      client[name] = function counted(...args) {
        seen(name);
        return original.apply(this, args);
      };
    }
  } else {
    const original = client.sendCommand;
    client.sendCommand = function counted(...args) {
      const command = args.find(Array.isArray)?.[0];
      if (command === 'EVALSHA' || command === 'EVAL') seen(command.toLowerCase());
      return original.apply(this, args);
    };
  }
  return counter;
}

/** Resolves once `predicate()` holds, checking every few ms (bounded by the test's timeout). */
async function until(predicate) {
  while (!(await predicate())) await new Promise((resolve) => setTimeout(resolve, 10));
}

/**
 * A TCP proxy on 127.0.0.1 in front of a Redis server. `forward` passes bytes both ways;
 * `blackhole` keeps connections open and passes nothing (a network path that stopped
 * answering: calls hang); `refuse` resets every connection, new ones included. A connection
 * that lost bytes to the blackhole is reset when forwarding resumes, as a dead TCP path ends,
 * so no client reads a reply meant for another command.
 */
class Proxy {
  constructor(target) {
    this.target = hostPort(target);
    this.mode = 'forward';
    this.pairs = new Set();
    this.server = net.createServer((socket) => this._accept(socket));
  }

  async start() {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    this.url = `redis://127.0.0.1:${this.server.address().port}/`;
    return this;
  }

  _accept(client) {
    client.on('error', () => {});
    if (this.mode === 'refuse') return client.resetAndDestroy();
    const upstream = net.connect(this.target);
    upstream.on('error', () => {});
    const pair = { client, upstream, lost: false };
    this.pairs.add(pair);
    const pass = (to) => (data) => {
      if (this.mode === 'forward' && !pair.lost) to.write(data);
      else pair.lost = true;
    };
    client.on('data', pass(upstream));
    upstream.on('data', pass(client));
    const end = () => this._drop(pair);
    client.on('close', end);
    upstream.on('close', end);
  }

  _drop(pair) {
    this.pairs.delete(pair);
    if (!pair.client.destroyed) pair.client.resetAndDestroy();
    pair.upstream.destroy();
  }

  set(mode) {
    this.mode = mode;
    for (const pair of [...this.pairs]) {
      if (mode === 'refuse' || (mode === 'forward' && pair.lost)) this._drop(pair);
    }
  }

  async close() {
    this.set('refuse');
    await new Promise((resolve) => this.server.close(resolve));
  }
}

module.exports = { CLIENTS, standaloneUrl, clusterUrls, uniquePrefix, countCalls, until, Proxy, env, hostPort };
