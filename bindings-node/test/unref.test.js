'use strict';
// Waiting never keeps the process alive on its own: a script whose only pending work is an
// hour-long wait (a limiter reservation, a retry backoff, a policy timeout) exits at once.
const test = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const entry = JSON.stringify(path.join(__dirname, '..'));

test('pending waits do not keep the process alive', () => {
  const script = `
    const s = require(${entry});
    const hour = 3_600_000;
    const limiter = new s.RateLimiter({ capacity: 1, refillEvery: hour });
    limiter.tryAcquire();
    limiter.acquire().then(() => process.exit(3));
    const retry = new s.Retry({ backoff: { schedule: 'constant', delay: hour } });
    retry.execute(() => { throw new Error('x'); }).catch(() => process.exit(4));
    new s.Policy({ timeout: hour }).execute(() => new Promise(() => {})).catch(() => process.exit(5));
    process.on('exit', (code) => { if (code === 0) console.log('exited with waits pending'); });
  `;
  // The timeout only bounds a failure: a wait that kept the process alive would take an hour.
  const run = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(run.status, 0, run.stderr);
  assert.match(run.stdout, /exited with waits pending/);
});
