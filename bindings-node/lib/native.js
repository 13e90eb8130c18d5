'use strict';
// The addon built from ../src at install time (scripts/build.js).
module.exports = require('../native/stanchion.node');
