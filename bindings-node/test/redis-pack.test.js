'use strict';
// The npm tarball carries the fleet tier's Lua scripts, byte for byte the repository's
// redis/scripts/, and stanchion/redis reads them from there: the scripts have one source, and
// no JavaScript file holds a copy of their text. `npm pack` runs in a copy of the parts of the
// repository it reads, so its prepack and postpack steps never touch this checkout's pack/
// while other tests build from it.
const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

const root = path.join(__dirname, '..');
const repo = path.join(root, '..');
const SKIP = new Set(['node_modules', 'pack', 'target', '.git']);

function copy(from, to) {
  fs.mkdirSync(to, { recursive: true });
  for (const entry of fs.readdirSync(from, { withFileTypes: true })) {
    if (SKIP.has(entry.name) || entry.name.endsWith('.node') || entry.name.startsWith('.run-') || entry.name.endsWith('.tgz')) continue;
    const source = path.join(from, entry.name);
    if (entry.isDirectory()) copy(source, path.join(to, entry.name));
    else if (entry.isFile()) fs.copyFileSync(source, path.join(to, entry.name));
  }
}

function luaFiles(dir) {
  return fs
    .readdirSync(dir)
    .filter((name) => name.endsWith('.lua'))
    .sort();
}

function jsFiles(dir) {
  return fs.readdirSync(dir, { withFileTypes: true, recursive: true }).filter((e) => e.isFile() && /\.(c|m)?js$/.test(e.name)).map((e) => path.join(e.parentPath ?? e.path, e.name));
}

test('npm pack ships redis/scripts/*.lua unchanged, and stanchion/redis reads them from the tarball', { timeout: 300_000 }, () => {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'stanchion-pack-'));
  try {
    const tree = path.join(scratch, 'repo');
    for (const file of ['Cargo.toml', 'Cargo.lock']) {
      fs.mkdirSync(tree, { recursive: true });
      fs.copyFileSync(path.join(repo, file), path.join(tree, file));
    }
    for (const dir of ['core', path.join('redis', 'scripts'), 'bindings-node']) copy(path.join(repo, dir), path.join(tree, dir));
    const out = path.join(scratch, 'out');
    fs.mkdirSync(out);
    execFileSync('npm', ['pack', '--pack-destination', out], { cwd: path.join(tree, 'bindings-node'), stdio: ['ignore', 'ignore', 'pipe'] });
    const [tarball] = fs.readdirSync(out);
    execFileSync('tar', ['-xzf', path.join(out, tarball), '-C', out]);
    const packed = path.join(out, 'package');

    const scripts = path.join(repo, 'redis', 'scripts');
    const shipped = path.join(packed, 'pack', 'redis', 'scripts');
    assert.ok(luaFiles(scripts).includes('gcra.lua'));
    assert.deepEqual(luaFiles(shipped), luaFiles(scripts), 'every script, and nothing else');
    for (const name of luaFiles(scripts)) {
      assert.ok(fs.readFileSync(path.join(shipped, name)).equals(fs.readFileSync(path.join(scripts, name))), `${name} is the repository's`);
    }

    const loader = require(path.join(packed, 'lib', 'redis', 'scripts.js'));
    assert.equal(loader.folder(), shipped, 'the installed package reads its own copy');
    const sha = crypto.createHash('sha1').update(fs.readFileSync(path.join(scripts, 'gcra.lua'))).digest('hex');
    assert.equal(loader.script('gcra').sha, sha);

    // The longest line of each script appears in no JavaScript file of the package.
    for (const name of luaFiles(scripts)) {
      const line = fs
        .readFileSync(path.join(scripts, name), 'utf8')
        .split('\n')
        .reduce((a, b) => (b.trim().length > a.trim().length ? b : a));
      for (const file of jsFiles(packed)) assert.ok(!fs.readFileSync(file, 'utf8').includes(line.trim()), `${file} copies ${name}`);
    }
    assert.ok(fs.existsSync(path.join(packed, 'lib', 'redis', 'index.d.ts')), 'the types of stanchion/redis');
    const manifest = JSON.parse(fs.readFileSync(path.join(packed, 'package.json'), 'utf8'));
    assert.deepEqual(manifest.exports['./redis'], { types: './lib/redis/index.d.ts', import: './lib/redis/index.mjs', require: './lib/redis/index.js' });
    assert.deepEqual(manifest.peerDependenciesMeta, { ioredis: { optional: true }, redis: { optional: true } });
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
});
