/**
 * Partition leases through a real Redis: a partition this process let go of is taken again with a
 * new fencing token, even while its lease key was still this process's, so that the workers still
 * finishing with the old token are fenced instead of committing next to the new ones; a fence
 * reported by such a worker does not drop the new holding.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createJsonLogger } from '../../runtime/logger.ts';
import { PartitionOwnership } from '../../runtime/ownership/partition-ownership.ts';
import { Keys } from '../../runtime/redis/keys.ts';
import { withScripts } from '../../runtime/redis/scripts.ts';
import { useTestEnv } from '../helpers/test-env.ts';
import { waitFor } from '../helpers/wait-for.ts';

const env = useTestEnv('ownership');

test('a partition let go of and taken again gets a new token though its lease never expired; the old token is fenced', async () => {
  const redis = withScripts(env.redis.client());
  const keys = new Keys('own');
  const tokens: [number, string][] = [];
  const released: number[] = [];
  const ownership = new PartitionOwnership(redis, keys, 2, {
    acquired: async (p, token) => { tokens.push([p, token]); },
    released: async (p) => { released.push(p); },
  }, createJsonLogger('silent'), { leaseTtlMs: 60_000, heartbeatMs: 100 });
  try {
    await ownership.start();
    await waitFor(() => tokens.length === 2, { timeoutMs: 10_000, message: 'both partitions taken' });
    const first = tokens.find(([p]) => p === 0)![1];
    assert.equal(await redis.get(keys.partition(0).lease), first);

    // What a worker whose write was fenced, or the self-fencing guard, does: let the partition go.
    // The lease key (TTL 60 s) is still this member's when the next round takes the partition again.
    ownership.lost(0, first);
    assert.deepEqual(released, [0]);
    await waitFor(() => tokens.filter(([p]) => p === 0).length === 2, { timeoutMs: 10_000, message: 'partition 0 taken again' });
    const second = tokens.filter(([p]) => p === 0)[1]![1];
    assert.notEqual(second, first, 'a new token');
    assert.equal(await redis.get(keys.partition(0).lease), second);
    // The old workers' reads and commits compare their token with the lease: fenced.
    assert.notEqual(await redis.get(keys.partition(0).lease), first);
    // A renewal keeps the token.
    const renewedBefore = tokens.length;
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(tokens.length, renewedBefore, 'renewals acquire nothing new');
    assert.equal(await redis.get(keys.partition(0).lease), second);

    // A worker of the first holding, still finishing, is fenced now: that says nothing about the
    // second holding, which goes on (dropping it would re-run its events, holding after holding).
    ownership.lost(0, first);
    assert.deepEqual(released, [0], 'a stale fence drops nothing');
    assert.equal(ownership.owned.get(0), second);
    ownership.lost(0, second);
    assert.deepEqual(released, [0, 0], 'a fence of the current holding drops it');
  } finally {
    await ownership.stop();
  }
});
