import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Keys, Publisher, partitionFor } from '../../runtime/index.ts';
import { useTestEnv } from '../helpers/test-env.ts';

const env = useTestEnv('publisher');

test('publish routes by key and writes the documented wire format', async () => {
  const publisher = await Publisher.connect({ redis: env.redis.url, namespace: 'wire', partitions: 16 });
  try {
    const { id, partition, duplicate } = await publisher.publish('post.created', 'thread-42', { postId: 7 }, { headers: { trace: 't1' } });
    assert.equal(partition, partitionFor('thread-42', 16));
    assert.equal(duplicate, false);
    const [entry] = (await env.redis.client().xrange(new Keys('wire').partition(partition).events, id, id)) as [string, string[]][];
    const fields = entry![1];
    assert.deepEqual(fields.filter((_, i) => i % 2 === 0), ['type', 'key', 'data', 'time', 'headers']);
    assert.equal(fields[5], '{"postId":7}');
    assert.ok(Math.abs(Number(fields[7]) - Date.now()) < 60_000);
  } finally {
    await publisher.close();
  }
});

test('a dedupe id makes a repeated publish a no-op that returns the first id', async () => {
  const publisher = await Publisher.connect({ redis: env.redis.url, namespace: 'dedupe' });
  try {
    const first = await publisher.publish('pay.settled', 'order-1', { n: 1 }, { dedupeId: 'pay-1' });
    const again = await publisher.publish('pay.settled', 'order-1', { n: 1 }, { dedupeId: 'pay-1' });
    assert.equal(again.id, first.id);
    assert.equal(again.duplicate, true);
    assert.equal(await env.redis.client().xlen(new Keys('dedupe').partition(first.partition).events), 1);
  } finally {
    await publisher.close();
  }
});

test('oversize payloads and bad types are refused with a clear error', async () => {
  const publisher = await Publisher.connect({ redis: env.redis.url, namespace: 'limits', maxEventBytes: 100 });
  try {
    await assert.rejects(publisher.publish('a.b', 'k', { blob: 'x'.repeat(200) }), { code: 'ERR_PAYLOAD_TOO_LARGE', message: /over the 100-byte limit/ });
    await assert.rejects(publisher.publish('not a type', 'k', {}), { code: 'ERR_INVALID_EVENT' });
    await assert.rejects(publisher.publish('a.b', 'k', () => 1), { code: 'ERR_INVALID_EVENT' });
  } finally {
    await publisher.close();
  }
});

test('the partition count is fixed at first use', async () => {
  const first = await Publisher.connect({ redis: env.redis.url, namespace: 'pcount', partitions: 32 });
  await first.close();
  const stored = await Publisher.connect({ redis: env.redis.url, namespace: 'pcount' });
  assert.equal(stored.partitions, 32);
  await stored.close();
  await assert.rejects(Publisher.connect({ redis: env.redis.url, namespace: 'pcount', partitions: 8 }), { code: 'ERR_PARTITIONS_MISMATCH' });
});
