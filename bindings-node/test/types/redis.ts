// A typed tour of stanchion/redis with both clients: `tsc --noEmit` must accept it (the tests
// run it), and the `@ts-expect-error` lines must stay errors.
import { Redis, Cluster } from 'ioredis';
import { createClient, createCluster } from 'redis';
import * as redis4 from 'redis4';
import IORedis5 from 'ioredis5';
import { FleetLimiter, FleetError, FleetUnavailableError, RateLimitedError, type FleetAnswer } from 'stanchion/redis';
import { StanchionError } from 'stanchion';

async function tour(): Promise<void> {
  const io = new Redis('redis://127.0.0.1:6379');
  const ioCluster = new Cluster([{ host: '127.0.0.1', port: 7000 }]);
  const nodeRedis = createClient({ url: 'redis://127.0.0.1:6379' });
  const nodeCluster = createCluster({ rootNodes: [{ url: 'redis://127.0.0.1:7000' }] });

  const limiter = new FleetLimiter({ client: io, capacity: 100, refillAmount: 100, refillEvery: 1_000 });
  const answer: FleetAnswer = await limiter.tryAcquire('tenant-7');
  if (answer.ok) {
    const left: number = answer.remaining;
    void left;
  } else {
    const wait: number | null = answer.retryAfter;
    const code: 'ERR_RATE_LIMITED' | 'ERR_INSUFFICIENT_CAPACITY' = answer.code;
    void wait, code;
  }
  await limiter.peek('tenant-7', { n: 5, signal: AbortSignal.timeout(100) });
  const value: string = await limiter.execute('tenant-7', async (signal) => (signal ? 'x' : 'y'), { n: 2 });
  void value;

  const exact = new FleetLimiter({ client: nodeRedis, capacity: 10, unit: 'ns', onUnavailable: 'local', localShare: 0.25 });
  const ns = await exact.tryAcquire('k', 1);
  const reset: bigint = ns.resetAfter;
  void reset;
  exact.on('unavailable', (error: FleetUnavailableError) => void error.cause);
  exact.on('reject', (refusal) => void refusal.retryAfter);
  exact.breaker.on('stateChange', ({ from, to }) => void [from, to]);

  new FleetLimiter({ client: ioCluster, capacity: 1, timeout: 100n, prefix: 'app:' });
  new FleetLimiter({ client: nodeCluster, capacity: 1, onUnavailable: 'deny' });
  // The oldest majors the peer ranges accept.
  new FleetLimiter({ client: redis4.createClient(), capacity: 1 });
  new FleetLimiter({ client: redis4.createCluster({ rootNodes: [] }), capacity: 1 });
  new FleetLimiter({ client: new IORedis5(), capacity: 1 });
  new FleetLimiter({ client: new IORedis5.Cluster([]), capacity: 1 });

  try {
    await limiter.execute('k', () => 1);
  } catch (error) {
    if (error instanceof RateLimitedError) void error.retryAfter;
    if (error instanceof FleetUnavailableError && error instanceof StanchionError) void error.code;
    if (error instanceof FleetError) {
      const code: 'ERR_FLEET' | 'ERR_FLEET_UNAVAILABLE' = error.code;
      void [code, error.cause];
    }
  }

  // @ts-expect-error: not a Redis client
  new FleetLimiter({ client: {}, capacity: 1 });
  // @ts-expect-error: not a policy
  new FleetLimiter({ client: io, capacity: 1, onUnavailable: 'open' });
  // @ts-expect-error: capacity is required
  new FleetLimiter({ client: io });
  // @ts-expect-error: keys are strings
  await limiter.tryAcquire(42);
}
void tour;
