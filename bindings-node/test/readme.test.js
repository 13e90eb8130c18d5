'use strict';
// The README says what the package does: each options table lists exactly the options its
// class accepts (as lib/options.js declares them and lib/index.d.ts types them), and every
// example runs, as a script of its own, to a clean exit. (test/types.test.js type-checks the
// TypeScript ones.)
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
require('..'); // every class declares its option names as it loads
const { NAMES } = require('../lib/options');
const { runScript, readmeBlocks, transpile, closedPort, root } = require('./scripts');
const firstTenMinutes = require('./first-ten-minutes');

const CLASSES = ['CircuitBreaker', 'RateLimiter', 'KeyedRateLimiter', 'Bulkhead', 'AdaptiveLimiter', 'Backoff', 'RetryBudget', 'Retry', 'Policy', 'Deadline'];

/** The README's options tables: class name → the option names in its table's first column. */
function readmeTables() {
  const text = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
  const options = text.slice(text.indexOf('\n## Options\n'), text.indexOf('\n## ', text.indexOf('\n## Options\n') + 1));
  const tables = {};
  for (const part of options.split(/\n### /).slice(1)) {
    const name = /^`(\w+)`/.exec(part)?.[1];
    assert.ok(name, `an options heading names its class: ${part.split('\n')[0]}`);
    tables[name] = [...part.matchAll(/^\| `(\w+)` \|/gm)].map((m) => m[1]);
  }
  return tables;
}

/** The option names the .d.ts accepts for each class's constructor, from the TypeScript compiler. */
function typedOptions() {
  const ts = require('typescript');
  const file = path.join(root, 'lib', 'index.d.ts');
  const program = ts.createProgram([file], { strict: true, noEmit: true, module: ts.ModuleKind.Node16, moduleResolution: ts.ModuleResolutionKind.Node16 });
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(file);
  const exports = checker.getExportsOfModule(checker.getSymbolAtLocation(source));
  const typed = {};
  for (const name of CLASSES) {
    const symbol = exports.find((e) => e.name === name);
    const [signature] = checker.getTypeOfSymbolAtLocation(symbol, source).getConstructSignatures();
    const options = checker.getNonNullableType(checker.getTypeOfSymbolAtLocation(signature.getParameters()[0], source));
    const variants = options.isUnion() ? options.types : [options];
    typed[name] = [...new Set(variants.flatMap((t) => checker.getPropertiesOfType(t).map((p) => p.name)))];
  }
  return typed;
}

const sorted = (names) => [...names].sort();

test('each README options table lists exactly the options its class accepts', () => {
  const tables = readmeTables();
  assert.deepEqual(sorted(Object.keys(tables)), sorted(CLASSES), 'one table per class');
  for (const name of CLASSES) {
    assert.ok(NAMES[name], `${name} declares its options`);
    assert.deepEqual(sorted(tables[name]), sorted(NAMES[name]), `README table of ${name} vs the options it accepts`);
    assert.equal(new Set(tables[name]).size, tables[name].length, `${name}: no option listed twice`);
  }
});

test('the .d.ts types the same options as each class accepts', () => {
  const typed = typedOptions();
  for (const name of CLASSES) assert.deepEqual(sorted(typed[name]), sorted(NAMES[name]), `index.d.ts options of ${name}`);
});

test('the API table lists every option of Policy', () => {
  const row = fs.readFileSync(path.join(root, 'README.md'), 'utf8').split('\n').find((line) => line.startsWith('| `Policy` |'));
  for (const name of NAMES.Policy) assert.ok(row.includes(`\`${name}\``), `the API table's Policy row names ${name}`);
});

test('every README example runs as a script and exits cleanly', async () => {
  const blocks = readmeBlocks().filter((b) => (b.lang === 'ts' || b.lang === 'js') && b.section !== 'First ten minutes');
  assert.ok(blocks.filter((b) => b.lang === 'js').length >= 1, 'a CommonJS example');
  assert.ok(blocks.filter((b) => b.lang === 'ts').length >= 5, 'the ESM examples');
  // Examples call a dependency at 127.0.0.1:8080; here it is down, whatever runs on 8080.
  const down = `http://127.0.0.1:${await closedPort()}`;
  for (const [i, block] of blocks.entries()) {
    const code = block.code.replaceAll('http://127.0.0.1:8080', down);
    const script = block.lang === 'ts' ? { code: transpile(code), name: `example-${i}.mjs` } : { code, name: `example-${i}.cjs` };
    // The fleet tier's examples reach the test server (scripts/test-node.sh passes its URL).
    const env = process.env.STANCHION_REDIS_URL ? { REDIS_URL: process.env.STANCHION_REDIS_URL } : {};
    if (process.env.STANCHION_REDIS_REDLOCK_URLS) env.REDLOCK_URLS = process.env.STANCHION_REDIS_REDLOCK_URLS;
    const result = await runScript(script.code, { name: script.name, env });
    const where = `README example ${i + 1} (${block.lang}, in "${block.section}")`;
    assert.equal(result.killed, false, `${where} did not exit on its own`);
    assert.equal(result.status, 0, `${where} failed:\n${result.stderr}`);
    assert.equal(result.stderr, '', `${where} wrote to stderr`);
    if (block.lang === 'js' && block.section === 'Examples') {
      assert.equal(result.stdout, 'retry 1 in 50 ms\nretry 2 in 100 ms\nok after 3 calls\n', where);
    }
  }
});

test('"First ten minutes" against a local HTTP server: up, then down', async () => {
  firstTenMinutes.check(await firstTenMinutes.run(undefined));
});
