/**
 * A worker's reads, against a real Redis: what each kind costs Redis (counted by Redis itself,
 * INFO commandstats), and that fencing still holds where the partition has a lease.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Keys } from '../../runtime/index.ts';
import { withScripts } from '../../runtime/redis/scripts.ts';
import { CONSUMER_NAME } from '../../runtime/redis/keys.ts';
import { redisSource } from '../../runtime/worker/redis-source.ts';
import { useTestEnv } from '../helpers/test-env.ts';

const env = useTestEnv('redis-source', { topology: 'single' });

async function calls(): Promise<{ evalsha: number; xreadgroup: number }> {
  const info = await env.redis.client().info('commandstats');
  const count = (name: string) => Number(new RegExp(`cmdstat_${name}:calls=(\\d+)`).exec(info)?.[1] ?? 0);
  return { evalsha: count('evalsha') + count('eval'), xreadgroup: count('xreadgroup') };
}

const idle = { start: async () => {}, waitFor: async () => {}, wakeAll: () => {}, stop: async () => {} };

function sourceOn(namespace: string, token: string) {
  const redis = withScripts(env.redis.client());
  const pk = new Keys(namespace).partition(0);
  const source = redisSource({
    redis, pk, partition: 0, group: 'g', members: () => ['f'], startFrom: () => 'earliest', token, maxEventBytes: 1 << 20,
    watcher: idle, connectionEpoch: () => 0,
  });
  return { redis, pk, source };
}

test('an unfenced read of new entries is one plain XREADGROUP; only a read that finds nothing runs the script, which returns the stream tip', async () => {
  const { redis, pk, source } = sourceOn('plain', '');
  await redis.xgroup('CREATE', pk.events, 'g', '0', 'MKSTREAM');
  const ids: string[] = [];
  for (let i = 0; i < 3; i++) ids.push((await redis.xadd(pk.events, '*', 'type', 't', 'data', String(i), 'time', '0'))!);

  const before = await calls();
  const read = await source.read('>', 10);
  const after = await calls();
  assert.deepEqual(read.entries.map((e) => e.id), ids);
  assert.equal(read.tipId, null);
  assert.deepEqual({ evalsha: after.evalsha - before.evalsha, xreadgroup: after.xreadgroup - before.xreadgroup }, { evalsha: 0, xreadgroup: 1 });

  const empty = await source.read('>', 10);
  assert.deepEqual(empty, { entries: [], tipId: ids[2] }, 'nothing new: where to wait from');
  assert.equal((await calls()).evalsha - after.evalsha, 1, 'the tip comes from the script');

  const pending = await source.read('0-0', 10);
  assert.deepEqual(pending.entries.map((e) => e.id), ids, 'the pending list, re-read');
});

test('a fenced read is refused once the lease names another holder, and moves nothing into the pending list', async () => {
  const { redis, pk, source } = sourceOn('fenced', 'me|1');
  await redis.xgroup('CREATE', pk.events, 'g', '0', 'MKSTREAM');
  const first = (await redis.xadd(pk.events, '*', 'type', 't', 'data', '1', 'time', '0'))!;
  await redis.set(pk.lease, 'me|1');
  assert.deepEqual((await source.read('>', 10)).entries.map((e) => e.id), [first]);

  await redis.set(pk.lease, 'other|2');
  await redis.xadd(pk.events, '*', 'type', 't', 'data', '2', 'time', '0');
  await assert.rejects(source.read('>', 10), /FENCED/);
  const pending = (await redis.xpending(pk.events, 'g', '-', '+', 10, CONSUMER_NAME)) as [string][];
  assert.deepEqual(pending.map((row) => row[0]), [first], 'the refused read took nothing');
});
