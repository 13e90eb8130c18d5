'use strict';
// Waiting that never keeps the process alive on its own, and that an AbortSignal cuts short.

const { abortReason } = require('./errors');

/** Resolves after `ms` (an unref'd timer), or rejects with the signal's reason on abort. */
function sleep(ms, signal) {
  if (signal?.aborted) return Promise.reject(abortReason(signal));
  if (!(ms > 0)) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortReason(signal));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    timer.unref?.();
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Runs `handler` when `signal` aborts, or at once if it already has (a listener added after
 * the abort would never run); returns the function that stops listening.
 */
function onAbort(signal, handler) {
  if (!signal) return noop;
  if (signal.aborted) {
    handler();
    return noop;
  }
  signal.addEventListener('abort', handler, { once: true });
  return () => signal.removeEventListener('abort', handler);
}

function noop() {}

/** Checks an options object's `signal`. */
function signalOf(options) {
  const signal = options?.signal;
  if (signal !== undefined && signal !== null && typeof signal.aborted !== 'boolean') {
    throw new TypeError('option `signal` must be an AbortSignal');
  }
  return signal ?? undefined;
}

module.exports = { sleep, onAbort, signalOf, noop };
