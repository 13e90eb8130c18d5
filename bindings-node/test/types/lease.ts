// A typed tour of the fleet bulkhead and the lock of stanchion/redis with both clients: `tsc
// --noEmit` must accept it (the tests run it), and the `@ts-expect-error` lines must stay errors.
import { Redis } from 'ioredis';
import { createClient } from 'redis';
import {
  FleetLock,
  FleetSemaphore,
  LeaseLostError,
  LockError,
  Redlock,
  BulkheadFullError,
  FleetUnavailableError,
  DEFAULT_LEASE,
  type LockLease,
  type SemaphoreLease,
  type FleetBulkheadFullError,
} from 'stanchion/redis';
import { StanchionError, type ErrorCode } from 'stanchion';

async function tour(): Promise<void> {
  const io = new Redis('redis://127.0.0.1:6379');
  const nodeRedis = createClient({ url: 'redis://127.0.0.1:6379' });

  const slots = new FleetSemaphore({ client: io, limit: 3, ttl: 10_000, prefix: 'app:', timeout: 100 });
  const lease: SemaphoreLease = await slots.acquire('exports', { signal: AbortSignal.timeout(1_000), keep: false });
  const held: boolean = lease.held;
  const holders: number = lease.holders;
  const renewed: boolean = await lease.renew();
  const released: boolean = await lease.release();
  void held, holders, renewed, released;
  const rows: number = await slots.using('exports', async (signal, slot) => (signal.aborted ? 0 : slot.holders));
  const sync: string = await slots.execute('exports', () => 'done', { signal: AbortSignal.timeout(1_000) });
  const state: { holders: number; nextExpiryIn: number | null } = await slots.holders('exports');
  void rows, sync, state, DEFAULT_LEASE;
  try {
    await slots.acquire('exports');
  } catch (error) {
    if (error instanceof BulkheadFullError) {
      const full = error as FleetBulkheadFullError;
      const next: number = full.nextExpiryIn;
      void next;
    }
  }

  const lock = new FleetLock({ client: nodeRedis, ttl: 30_000n * 1_000_000n, wait: Infinity, waitReplicas: [1, 100] });
  const taken: LockLease = await lock.acquire('report', { wait: 5_000 });
  const fence: number = taken.fence;
  const extended: boolean = await taken.extend(60_000);
  taken.on('lost', (error: LeaseLostError) => void error.lost);
  const lost: LeaseLostError = await taken.lost;
  const how: 'gone' | 'failed' = lost.lost;
  void fence, extended, how;
  const value: bigint = await lock.using('report', async (signal, l) => (signal.reason ? 0n : BigInt(l.fence)), { wait: 0 });
  void value;
  const keys: { lock: string; fence: string } = lock.redisKeys('report');
  void keys;

  const redlock = new Redlock({ clients: [io, nodeRedis, io], ttl: 10_000 });
  const quorum: number = redlock.quorum;
  const valid: number = (await redlock.acquire('job')).validity;
  void quorum, valid;

  try {
    await lock.acquire('report');
  } catch (error) {
    if (error instanceof LockError && error instanceof StanchionError) {
      const code: ErrorCode = error.code;
      const retry: number | null = error.retryAfter;
      void code, retry, error.waited, error.acknowledged, error.granted;
    }
    if (error instanceof FleetUnavailableError) void error.cause;
  }

  // @ts-expect-error: limit is required
  new FleetSemaphore({ client: io });
  // @ts-expect-error: waitReplicas is a pair
  new FleetLock({ client: io, waitReplicas: 1 });
  // @ts-expect-error: a Redlock takes clients, not waitReplicas
  new Redlock({ clients: [io], waitReplicas: [1, 10] });
  // @ts-expect-error: fences are numbers
  const wrong: bigint = taken.fence;
  void wrong;
  // @ts-expect-error: the work gets a signal and the lease
  await lock.using('report', async (signal: string) => signal);
}
void tour;
