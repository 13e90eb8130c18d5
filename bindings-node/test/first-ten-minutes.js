'use strict';
// Runs the README's "First ten minutes" the way a reader would: its `app.js` against an HTTP
// server on 127.0.0.1 (started here, answering '42'), then with the server stopped, and
// compares what it prints with the README's two output blocks.
//
// test/readme.test.js runs it inside this package; scripts/test-node.sh runs it again, through
// scripts/first-ten-minutes.js, in the project where it installed the package from a checkout
// (`npm install …/bindings-node`).

const assert = require('node:assert/strict');
const http = require('node:http');
const { runScript, readmeBlocks, closedPort } = require('./scripts');

const SECTION = 'First ten minutes';

function section() {
  const blocks = readmeBlocks().filter((b) => b.section === SECTION);
  const app = blocks.filter((b) => b.lang === 'js');
  const outputs = blocks.filter((b) => b.lang === 'text');
  assert.equal(app.length, 1, `"${SECTION}" has one js block (app.js)`);
  assert.equal(outputs.length, 2, `"${SECTION}" has two text blocks (the output with the server up, then down)`);
  assert.match(app[0].code, /process\.env\.PRICE_URL/, 'app.js reads its URL from PRICE_URL');
  return { app: app[0].code, up: outputs[0].code, down: outputs[1].code };
}

function listen(handler) {
  const server = http.createServer(handler);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

/** Runs app.js with the dependency up, then down; resolves to both runs and the README's outputs. */
async function run(dir) {
  const { app, up, down } = section();
  const server = await listen((req, res) => res.end('42'));
  const url = `http://127.0.0.1:${server.address().port}/price`;
  let withServer;
  try {
    withServer = await runScript(app, { name: 'app.js', dir, env: { PRICE_URL: url } });
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
  const withoutServer = await runScript(app, { name: 'app.js', dir, env: { PRICE_URL: `http://127.0.0.1:${await closedPort()}/price` } });
  return { withServer, withoutServer, up, down };
}

function check({ withServer, withoutServer, up, down }) {
  for (const [what, result, expected] of [['up', withServer, up], ['down', withoutServer, down]]) {
    assert.equal(result.killed, false, `dependency ${what}: app.js did not exit on its own`);
    assert.equal(result.status, 0, `dependency ${what}: app.js failed:\n${result.stderr}`);
    assert.equal(result.stdout, expected, `dependency ${what}: app.js printed what the README shows`);
  }
}

module.exports = { run, check };
