'use strict';
// Error replies as each client makes them from a reply it parsed, and a stub that makes a
// client's script calls answer with one. The replies that mean the server cannot decide now
// (LOADING, READONLY, CLUSTERDOWN, …) cannot be provoked on the shared test servers without
// disturbing every other test that uses them.

const MODULES = { 'ioredis 6': 'ioredis', 'ioredis 5': 'ioredis5', 'node-redis 6': 'redis', 'node-redis 4': 'redis4' };

/** The error the client `name` (a key of CLIENTS) rejects with for the reply `-<message>`. */
function replyError(name, message) {
  const module = require(MODULES[name]);
  if (module.ReplyError) return new module.ReplyError(message);
  // node-redis 5 and newer: SimpleError (a subclass of ErrorReply); node-redis 4: ErrorReply.
  return new (module.SimpleError ?? module.ErrorReply)(message);
}

const ORIGINALS = Symbol('originals');

/** Makes every script call (EVALSHA, EVAL) through `client` run `call()` instead. */
function stub(client, kind, call) {
  if (!client[ORIGINALS]) client[ORIGINALS] = { evalsha: client.evalsha, eval: client.eval, sendCommand: client.sendCommand };
  const originals = client[ORIGINALS];
  if (kind === 'ioredis') {
    client.evalsha = call;
    client.eval = call;
  } else {
    client.sendCommand = function stubbed(...args) {
      const command = args.find(Array.isArray)?.[0];
      return command === 'EVALSHA' || command === 'EVAL' ? call() : originals.sendCommand.apply(this, args);
    };
  }
}

/** Undoes `stub`. */
function unstub(client) {
  const originals = client[ORIGINALS];
  if (!originals) return;
  Object.assign(client, originals);
  delete client[ORIGINALS];
}

module.exports = { replyError, stub, unstub };
