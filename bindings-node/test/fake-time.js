'use strict';
// Fake time for tests: a clock the test advances, and node:test's mock timers moved with it,
// so waits and timeouts run without sleeping.

/** Lets pending promise callbacks run (setImmediate is not mocked). */
function settle() {
  return new Promise((resolve) => setImmediate(resolve));
}

function fakeTime(t) {
  try {
    t.mock.timers.enable({ apis: ['setTimeout'] });
  } catch {
    t.mock.timers.enable(['setTimeout']); // Node 18's form
  }
  let now = 1000;
  return {
    clock: () => now,
    get now() {
      return now;
    },
    /** Lets pending work schedule its timers, then moves the clock and the timers by `ms`. */
    async advance(ms) {
      await settle();
      now += ms;
      t.mock.timers.tick(ms);
      await settle();
    },
  };
}

module.exports = { fakeTime, settle };
