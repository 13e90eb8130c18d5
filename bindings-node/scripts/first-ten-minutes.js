'use strict';
// Runs the README's "First ten minutes" in a project that has the package installed (see
// test/first-ten-minutes.js); scripts/test-node.sh runs it after installing from a checkout.
//
//   node scripts/first-ten-minutes.js <project folder>

const { run, check } = require('../test/first-ten-minutes');

const dir = process.argv[2];
if (dir === undefined) {
  console.error('usage: node scripts/first-ten-minutes.js <project folder with stanchion installed>');
  process.exit(2);
}
run(dir).then(
  (runs) => {
    check(runs);
    console.log('first ten minutes: ok');
  },
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
