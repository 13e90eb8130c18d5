'use strict';
// The fleet tier's Lua scripts, read from the one folder every binding ships
// (redis/scripts/ in the repository). An installed package carries a copy that `npm pack`
// makes (scripts/prepack.js) under pack/redis/scripts/; a checkout reads the repository's.
// The text is never written into JavaScript: the file is the single source.

const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..', '..');

/**
 * Where the scripts are: the packed copy first. Installed as node_modules/stanchion, the
 * package's `..` is node_modules itself, so a checkout's folder is taken only where the packed
 * one is missing, as it is in the repository.
 */
const FOLDERS = [path.join(root, 'pack', 'redis', 'scripts'), path.join(root, '..', 'redis', 'scripts')];

const loaded = new Map();

/** The folder the scripts are read from. */
function folder() {
  const found = FOLDERS.find((dir) => fs.existsSync(path.join(dir, 'gcra.lua')));
  if (found === undefined) {
    throw new Error(`stanchion/redis: the Lua scripts are missing (looked in ${FOLDERS.join(' and ')}); reinstall the package`);
  }
  return found;
}

/** The script `name` (`'gcra'`): its text and the SHA-1 that EVALSHA names it by. */
function script(name) {
  let entry = loaded.get(name);
  if (entry === undefined) {
    const bytes = fs.readFileSync(path.join(folder(), `${name}.lua`));
    entry = Object.freeze({ name, text: bytes.toString('utf8'), sha: crypto.createHash('sha1').update(bytes).digest('hex') });
    loaded.set(name, entry);
  }
  return entry;
}

module.exports = { script, folder };
