/**
 * A namespace's partition count is fixed at first use and stored in Redis: a key's partition must
 * never change under a running system, so a runtime or publisher configured otherwise must stop.
 */
import type { Redis } from 'ioredis';
import { ConfigError, PartitionsMismatchError } from '../errors.ts';
import type { Keys } from './keys.ts';

/**
 * Default number of partitions for a new namespace. Partitions bound how many processes can share
 * the work (one owner each) and how much per-key parallelism there is; each one costs a stream, a
 * consumer group per function and a read per batch. See README "Choosing partitions".
 */
export const DEFAULT_PARTITIONS = 16;
export const MAX_PARTITIONS = 4096;

/**
 * Returns the namespace's partition count, creating the namespace with `configured`
 * (or {@link DEFAULT_PARTITIONS}) when it is new — unless `create` is false (read-only tools),
 * which then fail with a clear error instead of creating a namespace from a typo.
 */
export async function resolvePartitions(redis: Redis, keys: Keys, configured?: number, opts: { create?: boolean } = {}): Promise<number> {
  if (configured !== undefined && (!Number.isInteger(configured) || configured < 1 || configured > MAX_PARTITIONS)) {
    throw new ConfigError(`partitions must be an integer from 1 to ${MAX_PARTITIONS}, got ${configured}`);
  }
  if (opts.create === false) {
    // Read-only: no HSETNX, so this also works against a replica.
    const existing = await redis.hget(keys.meta, 'partitions');
    if (existing === null) throw new ConfigError(`namespace "${keys.namespace}" does not exist in this Redis (nothing was published or run in it); check --namespace and --redis`);
    if (configured !== undefined && Number(existing) !== configured) throw new PartitionsMismatchError(keys.namespace, Number(existing), configured);
    return Number(existing);
  }
  const wanted = configured ?? DEFAULT_PARTITIONS;
  // HSETNX makes the first writer win when several processes start at once.
  await redis.hsetnx(keys.meta, 'partitions', String(wanted));
  await redis.hsetnx(keys.meta, 'createdAt', String(Date.now()));
  const stored = Number(await redis.hget(keys.meta, 'partitions'));
  if (configured !== undefined && stored !== configured) throw new PartitionsMismatchError(keys.namespace, stored, configured);
  return stored;
}
