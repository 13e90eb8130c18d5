'use strict';
// Types: the README's TypeScript examples and test/types/usage.ts must pass `tsc --noEmit`, and
// a rebuild of the addon must give the committed native/index.d.ts byte for byte.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

const root = path.join(__dirname, '..');
const readmeDir = path.join(__dirname, 'types', 'readme');

test('README examples and the typed usage file type-check', () => {
  const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
  const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]);
  assert.ok(blocks.length >= 4, `found ${blocks.length} TypeScript examples in the README`);
  fs.rmSync(readmeDir, { recursive: true, force: true });
  fs.mkdirSync(readmeDir);
  try {
    // Each example is its own module, so their top-level names do not clash.
    blocks.forEach((code, i) => fs.writeFileSync(path.join(readmeDir, `example-${i + 1}.mts`), `${code}\nexport {};\n`));
    const tsc = require.resolve('typescript/bin/tsc');
    try {
      execFileSync(process.execPath, [tsc, '-p', path.join(__dirname, 'types')], { encoding: 'utf8' });
    } catch (error) {
      assert.fail(`tsc --noEmit failed:\n${error.stdout}${error.stderr}`);
    }
  } finally {
    fs.rmSync(readmeDir, { recursive: true, force: true });
  }
});

test('a rebuild gives the committed native/index.d.ts', { timeout: 600_000 }, () => {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'stanchion-dts-'));
  try {
    execFileSync(process.execPath, [path.join(root, 'scripts', 'build.js')], {
      env: { ...process.env, STANCHION_NATIVE_DIR: scratch },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const rebuilt = fs.readFileSync(path.join(scratch, 'index.d.ts'), 'utf8');
    const committed = fs.readFileSync(path.join(root, 'native', 'index.d.ts'), 'utf8');
    assert.equal(rebuilt, committed, 'native/index.d.ts is stale: rebuild and commit it');
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
});
