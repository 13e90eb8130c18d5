'use strict';
// Builds the addon from source (npm runs this at install time): `napi build --release`, into
// native/stanchion.node, regenerating native/index.d.ts. In the repository the crate is a
// workspace member and finds the core at ../core; a packed tarball carries its own manifest
// and a copy of the core under pack/ (see prepack.js), which is used when present.

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const packed = path.join(root, 'pack', 'Cargo.toml');
const manifest = fs.existsSync(packed) ? packed : path.join(root, 'Cargo.toml');

const cliPackage = require.resolve('@napi-rs/cli/package.json');
const { bin } = require(cliPackage);
const cli = path.join(path.dirname(cliPackage), typeof bin === 'string' ? bin : bin.napi);

const args = [
  cli,
  'build',
  '--release',
  '--manifest-path', manifest,
  '--package-json-path', path.join(root, 'package.json'),
  // The tests build into a scratch folder to compare its index.d.ts with the committed one.
  '--output-dir', process.env.STANCHION_NATIVE_DIR ?? path.join(root, 'native'),
  '--dts', 'index.d.ts',
  ...process.argv.slice(2),
];
const result = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
if (result.error) throw result.error;
process.exitCode = result.status ?? 1;
