// The ES module entry gives the same objects as the CommonJS one.
import test from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import stanchion, { AdaptiveLimiter, AdaptivePermit, CircuitBreaker, CircuitOpenError, Policy } from 'stanchion';

const require = createRequire(import.meta.url);

test('import and require load one module', async () => {
  const cjs = require('stanchion');
  assert.equal(CircuitBreaker, cjs.CircuitBreaker);
  assert.equal(stanchion.Policy, Policy);
  const breaker = new CircuitBreaker();
  breaker.forceOpen();
  await assert.rejects(breaker.execute(() => 1), cjs.CircuitOpenError);
  assert.equal(CircuitOpenError, cjs.CircuitOpenError);
  assert.equal(AdaptiveLimiter, cjs.AdaptiveLimiter);
  assert.ok(new AdaptiveLimiter().tryAcquire() instanceof cjs.AdaptivePermit);
  assert.equal(AdaptivePermit, cjs.AdaptivePermit);
});
