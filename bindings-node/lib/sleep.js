'use strict';
// Waiting that an AbortSignal cuts short. A wait that a caller awaits keeps the process alive,
// as Node's own timers do: a script whose only pending work is a backoff runs to its end. Only
// a timer nobody awaits may be unref'd, and this package has none.

const { abortReason } = require('./errors');
const opt = require('./options');

// The longest delay setTimeout keeps; it turns a longer one into 1 ms.
const MAX_TIMER = 2 ** 31 - 1;

/**
 * Calls `fn` after `ms`, in steps when that is longer than a Node timer can wait; returns the
 * function that cancels it.
 */
function after(ms, fn) {
  let timer;
  const step = (left) => {
    timer = left > MAX_TIMER ? setTimeout(step, MAX_TIMER, left - MAX_TIMER) : setTimeout(fn, left);
  };
  step(ms);
  return () => clearTimeout(timer);
}

/**
 * Resolves after `ms`, or rejects with the signal's reason on abort (which clears the timer,
 * so an abandoned wait holds the process no longer).
 */
function sleep(ms, signal) {
  if (signal?.aborted) return Promise.reject(abortReason(signal));
  if (!(ms > 0)) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      cancel();
      reject(abortReason(signal));
    };
    const cancel = after(ms, () => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    });
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

const checkExecute = opt.declare('execute', ['signal']);

/**
 * The `signal` of a method's options object (undefined and null mean none), after `check`
 * (a checker from `opt.declare`) has refused any name that is not an option of the method.
 */
function signalOf(options, check = checkExecute) {
  if (options === undefined || options === null) return undefined;
  opt.options(options); // a TypeError unless it is an object
  check(options);
  const signal = options.signal;
  if (signal !== undefined && signal !== null && typeof signal.aborted !== 'boolean') {
    throw opt.typeError('signal', opt.words('signal'), signal);
  }
  return signal ?? undefined;
}

module.exports = { sleep, after, onAbort, signalOf, noop };
