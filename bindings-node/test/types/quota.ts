// A typed tour of FleetQuota and QuotaPool with both clients: `tsc --noEmit` must accept it
// (the tests run it), and the `@ts-expect-error` lines must stay errors.
import { Redis, Cluster } from 'ioredis';
import { createClient, createCluster } from 'redis';
import {
  FleetQuota,
  QuotaPool,
  SoldOutError,
  FleetError,
  FleetUnavailableError,
  type QuotaTaken,
} from 'stanchion/redis';
import { StanchionError, SoldOutError as MainSoldOutError } from 'stanchion';

async function tour(): Promise<void> {
  const io = new Redis('redis://127.0.0.1:6379');
  const nodeRedis = createClient({ url: 'redis://127.0.0.1:6379' });

  const stock = new FleetQuota({ client: io, prefix: 'shop:stock:', buckets: 8, idMemory: 3_600_000, timeout: 100n });
  const total: number = await stock.restock('sku-42', 1_000);
  const taken: QuotaTaken = await stock.take('sku-42', { n: 1, requestId: 'order-7781', signal: AbortSignal.timeout(100) });
  const where: [number, number, boolean] = [taken.bucket, taken.remaining, taken.replayed];
  await stock.take('sku-42');
  await stock.take('sku-42', 3);
  const left: number = await stock.remaining('sku-42');
  const one: number = await stock.bucketRemaining('sku-42', 7);
  const key: string = stock.redisKey('sku-42', 7);
  const start: number = stock.startBucket('order-7781');
  const shape: [number, number] = [stock.buckets, stock.batch];
  stock.on('unavailable', (error: FleetUnavailableError) => void error.cause);
  stock.breaker.on('stateChange', ({ from, to }) => void [from, to]);
  void [total, where, left, one, key, start, shape];

  const credits = new FleetQuota({ client: nodeRedis, batch: 100 });
  const pool: QuotaPool = credits.pool('tenant-7');
  await pool.take();
  await pool.take({ n: 2, signal: AbortSignal.timeout(100) });
  const held: number = pool.local;
  const returned: number = await pool.giveBack();
  const closed: number = await pool.close();
  void [held, returned, closed, pool.closed, pool.name];

  new FleetQuota({ client: new Cluster([{ host: '127.0.0.1', port: 7000 }]), buckets: 16 });
  new FleetQuota({ client: createCluster({ rootNodes: [{ url: 'redis://127.0.0.1:7000' }] }) });

  try {
    await stock.take('sku-42');
  } catch (error) {
    if (error instanceof SoldOutError && error instanceof StanchionError) {
      const code: 'ERR_SOLD_OUT' = error.code;
      const counts: [number, number] = [error.requested, error.remaining];
      const wait: null = error.retryAfter;
      void [code, counts, wait];
    }
    if (error instanceof FleetError) void error.cause;
  }
  const same: typeof SoldOutError = MainSoldOutError;
  void same;

  // @ts-expect-error: a quota has no onUnavailable policy: it never falls back
  new FleetQuota({ client: io, onUnavailable: 'allow' });
  // @ts-expect-error: not a Redis client
  new FleetQuota({ client: {} });
  // @ts-expect-error: names are strings
  await stock.take(42);
  // @ts-expect-error: a pool take has no request id
  await pool.take({ requestId: 'order-1' });
  // @ts-expect-error: pools come from a quota
  new QuotaPool();
}
void tour;
