/**
 * The commit script against a real Redis: what a resent commit (a reconnect that lost the reply,
 * which ioredis answers by sending the command again) does, and the outbox used on a Cluster.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Commit } from '../../runtime/worker/commit.ts';
import { Keys } from '../../runtime/redis/keys.ts';
import { OutboxRelay } from '../../runtime/worker/outbox-relay.ts';
import { withScripts } from '../../runtime/redis/scripts.ts';
import { silentLogger } from '../../runtime/logger.ts';
import { useTestEnv } from '../helpers/test-env.ts';
import { waitFor } from '../helpers/wait-for.ts';

// Script semantics, not topology: the 'twice' cases emit straight to another partition's stream, which a Cluster refuses.
const env = useTestEnv('commit', { topology: 'single' });

async function pendingBatch(ns: string, group: string, n: number) {
  const redis = withScripts(env.redis.client());
  const keys = new Keys(ns);
  const pk = keys.partition(0);
  await redis.xgroup('CREATE', pk.events, group, '0', 'MKSTREAM');
  for (let i = 0; i < n; i++) await redis.xadd(pk.events, '*', 'type', 't', 'key', 'k', 'data', String(i), 'time', '0');
  const read = (await redis.xreadgroup('GROUP', group, 'owner', 'COUNT', n, 'STREAMS', pk.events, '>')) as [string, [string, string[]][]][];
  return { redis, keys, pk, ids: read[0]![1].map(([id]) => id) };
}

for (const mode of ['ack', 'mark'] as const) {
  test(`a commit sent twice (${mode}) writes its emits and dead letters once`, async () => {
    const { redis, keys, pk, ids } = await pendingBatch(`twice-${mode}`, 'g', 3);
    const target = keys.partition(1).events;
    const send = async () => {
      const commit = new Commit();
      for (const id of ids) commit.settle(id);
      commit.emit(target, ['type', 'out', 'key', 'k', 'data', '1', 'time', '0'], null);
      commit.deadLetter(['reason', 'x']);
      await commit.flush(redis, pk, 'g', { name: 'f', version: 'v1' }, mode, [], '');
    };
    await send();
    await send();
    assert.equal(await redis.xlen(target), 1);
    assert.equal(await redis.xlen(pk.deadLetters('f')), 1);
    if (mode === 'ack') assert.equal(((await redis.xpending(pk.events, 'g')) as [number])[0], 0);
    else assert.equal(await redis.hlen(pk.done('g', 'f')), 3);
  });
}

test('an emit to another partition through the outbox is relayed once and in order, also after a relay crashed half way', async () => {
  const { redis, keys, pk, ids } = await pendingBatch('outbox', 'g', 2);
  const commit = new Commit();
  for (const id of ids) commit.settle(id);
  for (let i = 0; i < 5; i++) commit.emit(keys.partition(3).events, ['type', 'out', 'key', 'k', 'data', String(i), 'time', '0'], { key: pk.outbox, to: 3 });
  assert.equal(await commit.flush(redis, pk, 'g', { name: 'f', version: 'v1' }, 'ack', [], ''), 5);
  assert.equal(await redis.xlen(pk.outbox), 5);

  // A relay that published the first three, then crashed before deleting them from the outbox.
  const left = (await redis.xrange(pk.outbox, '-', '+')) as [string, string[]][];
  for (const [id, fields] of left.slice(0, 3)) {
    await redis.fnrunPublishDedupe(keys.partition(3).events, keys.partition(3).dedupe(`outbox:0:${id}`), 60_000, ...fields.slice(2));
  }
  const relay = new OutboxRelay(redis, keys, silentLogger, () => true);
  relay.kick(0);
  await waitFor(async () => (await redis.xlen(pk.outbox)) === 0, { timeoutMs: 5000, message: 'outbox relayed' });
  await relay.stop();

  const relayed = (await redis.xrange(keys.partition(3).events, '-', '+')) as [string, string[]][];
  assert.deepEqual(relayed.map(([, f]) => f[f.indexOf('data') + 1]), ['0', '1', '2', '3', '4']);
});
