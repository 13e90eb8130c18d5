'use strict';
// The register file of the addon's hot path (see src/fast.rs), one per thread: hot
// operations write a handle and their arguments here and call an argument-free function.
// NaN as an instant means "read the native clock", calibrated here to performance.now().
//
// The file is kept on the addon's exports object, which Node loads once per thread: if this
// module is evaluated again in the same thread (a test runner's fresh module registry), it
// shares the one file instead of replacing it under instances made earlier.

const { performance } = require('node:perf_hooks');
const native = require('./native');

const KEY = Symbol.for('stanchion.registers');
if (native[KEY] === undefined) {
  const registers = new Float64Array(new ArrayBuffer(8 * 8));
  native.setRegisters(registers);
  native.calibrate(performance.now());
  Object.defineProperty(native, KEY, { value: registers });
}

module.exports = { R: native[KEY], nativeNow: native.now };
