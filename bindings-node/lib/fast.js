'use strict';
// The register file of the addon's hot path (see src/fast.rs), one per thread: hot
// operations write a handle and their arguments here and call an argument-free function.
// NaN as an instant means "read the native clock", calibrated here to performance.now().

const { performance } = require('node:perf_hooks');
const native = require('./native');

const registers = new Float64Array(new ArrayBuffer(8 * 8));
native.setRegisters(registers);
native.calibrate(performance.now());

module.exports = { R: registers, nativeNow: native.now };
