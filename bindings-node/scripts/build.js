'use strict';
// Builds the addon from source (npm runs this at install time): `napi build --release` into a
// scratch folder, then native/stanchion.node. The generated declarations are compared with
// the committed native/index.d.ts by the tests and written there only on request
// (`node scripts/build.js --update-types`), so an install never hides a stale file. In the
// repository the crate is a workspace member and finds the core at ../core; a packed
// tarball carries its own manifest and a copy of the core under pack/ (see prepack.js).
// STANCHION_NATIVE_DIR=dir builds into `dir` and leaves native/ alone (the tests use it).

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.join(__dirname, '..');
const packed = path.join(root, 'pack', 'Cargo.toml');
const manifest = fs.existsSync(packed) ? packed : path.join(root, 'Cargo.toml');
const updateTypes = process.argv.includes('--update-types');
const out = process.env.STANCHION_NATIVE_DIR ?? fs.mkdtempSync(path.join(os.tmpdir(), 'stanchion-build-'));

function resolveCli() {
  try {
    return require.resolve('@napi-rs/cli/package.json', { paths: [root] });
  } catch {
    return undefined;
  }
}

let cliPackage = resolveCli();
if (cliPackage === undefined) {
  // `npm install ./bindings-node` links the folder and installs none of its dependencies:
  // fetch the build tool into the folder itself, at the versions of its lock file.
  const npm = process.env.npm_execpath;
  const command = npm && npm.endsWith('.js') ? [process.execPath, npm] : ['npm'];
  const fetched = spawnSync(command[0], [...command.slice(1), 'ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund'], {
    cwd: root,
    stdio: 'inherit',
  });
  if (fetched.status !== 0) process.exit(fetched.status ?? 1);
  cliPackage = resolveCli();
}
const { bin } = require(cliPackage);
const cli = path.join(path.dirname(cliPackage), typeof bin === 'string' ? bin : bin.napi);

const args = [
  cli,
  'build',
  '--release',
  '--manifest-path', manifest,
  '--package-json-path', path.join(root, 'package.json'),
  '--output-dir', out,
  '--dts', 'index.d.ts',
];
const result = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
if (result.error) throw result.error;
if (result.status !== 0) process.exit(result.status ?? 1);

if (process.env.STANCHION_NATIVE_DIR === undefined) {
  fs.mkdirSync(path.join(root, 'native'), { recursive: true });
  fs.copyFileSync(path.join(out, 'stanchion.node'), path.join(root, 'native', 'stanchion.node'));
  if (updateTypes) fs.copyFileSync(path.join(out, 'index.d.ts'), path.join(root, 'native', 'index.d.ts'));
  fs.rmSync(out, { recursive: true, force: true });
}
