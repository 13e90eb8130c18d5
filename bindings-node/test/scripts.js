'use strict';
// Runs code as its own Node process, the way a user runs a script, and reads the README's
// code blocks. Scripts are written into a scratch folder inside the package, so that
// `require('stanchion')` and `import 'stanchion'` resolve to this package (a self-reference).
// Children are spawned asynchronously: a test may serve HTTP to them from its own event loop.

const fs = require('node:fs');
const path = require('node:path');
const { execFile } = require('node:child_process');

const root = path.join(__dirname, '..');

/**
 * Runs `code` as `name` (`.cjs`, `.mjs` or `.js`: CommonJS in this package) and resolves to
 * `{ status, stdout, stderr, killed }`. It runs in a scratch folder inside this package, or
 * in `dir` (a project with the package installed), with Node's `flags` (`['--expose-gc']`).
 * `timeout` only bounds a failure (a process that would never exit); nothing is asserted
 * about how long a run takes.
 */
function runScript(code, { name = 'script.cjs', env = {}, timeout = 120_000, dir, flags = [] } = {}) {
  const scratch = dir === undefined ? fs.mkdtempSync(path.join(__dirname, '.run-')) : undefined;
  const file = path.join(dir ?? scratch, name);
  fs.writeFileSync(file, code);
  return new Promise((resolve) => {
    execFile(process.execPath, [...flags, file], { env: { ...process.env, ...env }, timeout, encoding: 'utf8' }, (error, stdout, stderr) => {
      if (scratch !== undefined) fs.rmSync(scratch, { recursive: true, force: true });
      resolve({ status: error ? (error.code ?? null) : 0, stdout, stderr, killed: error?.killed ?? false });
    });
  });
}

/** Every fenced code block of the package README: `{ lang, code, section }` (section: the last `##`/`###` heading). */
function readmeBlocks() {
  const text = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
  const blocks = [];
  let section = '';
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const heading = /^#{2,4} (.*)$/.exec(lines[i]);
    if (heading) section = heading[1];
    const fence = /^```(\w*)\s*$/.exec(lines[i]);
    if (!fence) continue;
    const start = i + 1;
    while (i + 1 < lines.length && !/^```\s*$/.test(lines[++i]));
    blocks.push({ lang: fence[1], code: `${lines.slice(start, i).join('\n')}\n`, section });
  }
  return blocks;
}

/** A TypeScript example as an ES module Node runs (types stripped by the TypeScript compiler). */
function transpile(code) {
  const ts = require('typescript');
  return ts.transpileModule(code, {
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: false },
  }).outputText;
}

/** A port on 127.0.0.1 that nothing listens on (taken, then given back). */
function closedPort() {
  const net = require('node:net');
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

module.exports = { runScript, readmeBlocks, transpile, closedPort, root };
