'use strict';
// Before `npm pack`: makes the package buildable outside the repository. It writes pack/ with
// a self-contained Cargo manifest for the addon (its sources stay in src/), a copy of the
// core crate (pack/core) whose manifest no longer inherits from the workspace, and the
// repository's Cargo.lock, so a packed install builds the same versions, and a copy of the
// fleet tier's Lua scripts (pack/redis/scripts, read by lib/redis/scripts.js), which live in
// the repository's redis/scripts/ for every binding. `--clean` removes it again (postpack).

const fs = require('node:fs');
const path = require('node:path');

const here = path.join(__dirname, '..');
const repo = path.join(here, '..');
const pack = path.join(here, 'pack');

fs.rmSync(pack, { recursive: true, force: true });
if (process.argv.includes('--clean')) process.exit(0);

/** The `[section]` tables of a simple TOML file: name -> lines. */
function sections(text) {
  const out = new Map([['', []]]);
  let current = '';
  for (const line of text.split('\n')) {
    const header = /^\[(.+)\]\s*$/.exec(line);
    if (header) {
      current = header[1];
      out.set(current, []);
    } else out.get(current).push(line);
  }
  return out;
}

const workspace = sections(fs.readFileSync(path.join(repo, 'Cargo.toml'), 'utf8'));
const inherited = new Map();
for (const line of workspace.get('workspace.package')) {
  const m = /^(\S+)\s*=\s*(.+)$/.exec(line);
  if (m) inherited.set(m[1], m[2]);
}
const sharedDeps = new Map();
for (const line of workspace.get('workspace.dependencies')) {
  const m = /^(\S+)\s*=\s*(.+)$/.exec(line);
  if (m) sharedDeps.set(m[1], m[2]);
}

/** `{ a = 1, features = [..] }` as [fields without features, features]. */
function inline(spec) {
  if (spec.startsWith('"')) return [[`version = ${spec}`], []];
  const body = spec.replace(/^\{\s*/, '').replace(/\s*\}$/, '');
  const features = /features\s*=\s*\[([^\]]*)\]/.exec(body);
  const rest = body.replace(/,?\s*features\s*=\s*\[[^\]]*\]/, '').split(',').map((s) => s.trim()).filter(Boolean);
  return [rest, features ? features[1].split(',').map((s) => s.trim()).filter(Boolean) : []];
}

/** A crate manifest with every `workspace = true` resolved; `drop` lists sections to leave out. */
function standalone(file, drop, overrides) {
  const out = [];
  for (const [name, lines] of sections(fs.readFileSync(file, 'utf8'))) {
    if (drop.some((d) => name === d || name.startsWith(`${d}`))) continue;
    if (name) out.push(`[${name}]`);
    for (const line of lines) {
      const field = /^(\S+)\.workspace\s*=\s*true\s*$/.exec(line);
      const dep = /^(\S+)\s*=\s*(\{.*workspace\s*=\s*true.*\})\s*$/.exec(line);
      if (field) out.push(`${field[1]} = ${inherited.get(field[1])}`);
      else if (dep && overrides[dep[1]]) out.push(`${dep[1]} = ${overrides[dep[1]]}`);
      else if (dep) {
        const [own, ownFeatures] = inline(dep[2]);
        const [shared, sharedFeatures] = inline(sharedDeps.get(dep[1]));
        const fields = [...shared, ...own.filter((f) => !f.startsWith('workspace'))];
        const features = [...new Set([...sharedFeatures, ...ownFeatures])];
        if (features.length) fields.push(`features = [${features.join(', ')}]`);
        out.push(`${dep[1]} = { ${fields.join(', ')} }`);
      } else out.push(line);
    }
  }
  return out.join('\n');
}

function copy(from, to) {
  fs.mkdirSync(to, { recursive: true });
  for (const entry of fs.readdirSync(from, { withFileTypes: true })) {
    const src = path.join(from, entry.name);
    if (entry.isDirectory()) copy(src, path.join(to, entry.name));
    else fs.copyFileSync(src, path.join(to, entry.name));
  }
}

fs.mkdirSync(path.join(pack, 'core'), { recursive: true });
copy(path.join(repo, 'core', 'src'), path.join(pack, 'core', 'src'));
fs.writeFileSync(
  path.join(pack, 'core', 'Cargo.toml'),
  `${standalone(path.join(repo, 'core', 'Cargo.toml'), ["target.'cfg(loom)'", 'dev-dependencies', 'lints'], {}).trimEnd()}\n\n` +
    `[lints.rust]\n${workspace.get('workspace.lints.rust').find((l) => l.startsWith('unexpected_cfgs'))}\n`,
);

let addon = standalone(path.join(here, 'Cargo.toml'), ['lints'], {
  stanchion: '{ path = "core", default-features = false }',
});
addon = addon
  .replace('[package]', '[package]\nbuild = "../build.rs"')
  .replace('[lib]', '[lib]\npath = "../src/lib.rs"');
fs.writeFileSync(path.join(pack, 'Cargo.toml'), `${addon.trimEnd()}\n\n# Its own workspace: never part of one around the folder it is installed in.\n[workspace]\n`);
fs.copyFileSync(path.join(repo, 'Cargo.lock'), path.join(pack, 'Cargo.lock'));

const scripts = path.join(repo, 'redis', 'scripts');
fs.mkdirSync(path.join(pack, 'redis', 'scripts'), { recursive: true });
for (const name of fs.readdirSync(scripts).filter((f) => f.endsWith('.lua'))) {
  fs.copyFileSync(path.join(scripts, name), path.join(pack, 'redis', 'scripts', name));
}
