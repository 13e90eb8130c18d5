'use strict';
// What the tests of the fleet bulkhead and the lock share, beside redis-servers.js: where the
// replica and the RedLock servers are (scripts/test-node.sh starts them), a proxy that delays
// every byte, a spy on the lease scripts a client sends, the server's clock, and worker
// processes that speak by messages.

const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const { fork } = require('node:child_process');
const { once } = require('node:events');
const { Proxy, env } = require('./redis-servers');

const replicaUrl = () => env('STANCHION_REDIS_REPLICA_URL');
const redlockUrls = () => env('STANCHION_REDIS_REDLOCK_URLS').split(',');

/**
 * A Proxy (redis-servers.js) that can also hold every chunk for `lag` ms before passing it on,
 * both ways, in order: a network slower than a lease is long.
 */
class LagProxy extends Proxy {
  constructor(target) {
    super(target);
    this.lag = 0;
  }

  _accept(client) {
    client.on('error', () => {});
    if (this.mode === 'refuse') return client.resetAndDestroy();
    const upstream = net.connect(this.target);
    upstream.on('error', () => {});
    const pair = { client, upstream, lost: false };
    this.pairs.add(pair);
    const pass = (to) => (data) => {
      if (this.mode !== 'forward' || pair.lost) {
        pair.lost = true;
        return;
      }
      if (this.lag === 0) to.write(data);
      else setTimeout(() => to.destroyed || to.write(data), this.lag);
    };
    client.on('data', pass(upstream));
    upstream.on('data', pass(client));
    const end = () => this._drop(pair);
    client.on('close', end);
    upstream.on('close', end);
  }
}

/**
 * Records the operation of every lease script call `client` sends (`acquire`, `renew`,
 * `extend`, `release`, …), in order, as `ops`; `hold(op)` makes the next calls of `op` wait
 * until `open()` before they are sent, and `held` is how many wait now.
 */
function spyOps(client, kind) {
  const spy = { ops: [], held: 0, gate: null, holding: new Set() };
  let release;
  spy.hold = (op) => {
    spy.holding.add(op);
    spy.gate = new Promise((resolve) => {
      release = resolve;
    });
  };
  spy.open = () => {
    spy.holding.clear();
    release?.();
  };
  const through = (op, send) => {
    if (!spy.holding.has(op)) {
      spy.ops.push(op);
      return send();
    }
    spy.held++;
    return spy.gate.then(() => {
      spy.held--;
      spy.ops.push(op);
      return send();
    });
  };
  if (kind === 'ioredis') {
    for (const name of ['evalsha', 'eval']) {
      const original = client[name];
      client[name] = function spied(...args) {
        const op = args[2 + Number(args[1])];
        return through(op, () => original.apply(this, args));
      };
    }
  } else {
    const original = client.sendCommand;
    client.sendCommand = function spied(...args) {
      const words = args.find(Array.isArray);
      if (words?.[0] !== 'EVALSHA' && words?.[0] !== 'EVAL') return original.apply(this, args);
      const op = words[3 + Number(words[2])];
      return through(op, () => original.apply(this, args));
    };
  }
  return spy;
}

/** The server's clock in milliseconds (TIME), through an ioredis client. */
async function serverMillis(helper) {
  const [seconds, micros] = await helper.call('TIME');
  return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
}

/** Resolves once the server's clock has passed `ms` (its own milliseconds). */
async function untilServer(helper, ms) {
  for (;;) {
    const now = await serverMillis(helper);
    if (now > ms) return;
    await new Promise((resolve) => setTimeout(resolve, Math.min(50, ms - now + 1)));
  }
}

/**
 * A worker process (redis-lease-worker.js) doing `task`; `next()` resolves to its next
 * message, `send(message)` writes one, and it is killed when the test ends if still running.
 */
function worker(t, task) {
  const child = fork(path.join(__dirname, 'redis-lease-worker.js'), [JSON.stringify(task)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const queue = [];
  const waiting = [];
  child.on('message', (message) => (waiting.length ? waiting.shift()(message) : queue.push(message)));
  child.on('exit', (code, signal) => {
    const ended = { exited: code, signal };
    while (waiting.length) waiting.shift()(ended);
    queue.push(ended);
  });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGCONT');
      child.kill('SIGKILL');
    }
  });
  return {
    child,
    next: () => (queue.length ? Promise.resolve(queue.shift()) : new Promise((resolve) => waiting.push(resolve))),
    send: (message) => child.send(message),
    exited: () => (child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : once(child, 'exit')),
  };
}

/** The option names in the first column of the options table of the README's `## heading` section. */
function readmeOptions(heading) {
  const text = fs.readFileSync(path.join(__dirname, '..', 'README.md'), 'utf8');
  const start = text.indexOf(`\n## ${heading}\n`);
  if (start < 0) throw new Error(`the README has no section ${heading}`);
  const section = text.slice(start, text.indexOf('\n## ', start + 1));
  const table = section.slice(section.indexOf('| option |'));
  return [...table.matchAll(/^\| `(\w+)` \|/gm)].map((m) => m[1]);
}

/** The property names of the interface `name` exported by stanchion/redis's .d.ts. */
function typedOptions(name) {
  const ts = require('typescript');
  const file = path.join(__dirname, '..', 'lib', 'redis', 'index.d.ts');
  const program = ts.createProgram([file], { strict: true, noEmit: true, module: ts.ModuleKind.Node16, moduleResolution: ts.ModuleResolutionKind.Node16 });
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(file);
  const symbol = checker.getExportsOfModule(checker.getSymbolAtLocation(source)).find((e) => e.name === name);
  if (symbol === undefined) throw new Error(`stanchion/redis does not export ${name}`);
  return checker.getPropertiesOfType(checker.getDeclaredTypeOfSymbol(symbol)).map((p) => p.name);
}

module.exports = { replicaUrl, redlockUrls, LagProxy, spyOps, serverMillis, untilServer, worker, readmeOptions, typedOptions };
