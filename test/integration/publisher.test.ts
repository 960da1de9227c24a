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

test('a dedupe id is scoped per (type, key): other keys of the partition and other types are not dropped', async () => {
  const publisher = await Publisher.connect({ redis: env.redis.url, namespace: 'dedupe-scope', partitions: 4 });
  try {
    // Two keys of one partition: with per-partition dedupe ids, the second would be dropped.
    const a = 'order-1';
    const b = Array.from({ length: 100 }, (_, i) => `order-${i + 2}`).find((k) => partitionFor(k, 4) === partitionFor(a, 4))!;
    const first = await publisher.publish('pay.settled', a, { n: 1 }, { dedupeId: 'retry-1' });
    const otherKey = await publisher.publish('pay.settled', b, { n: 2 }, { dedupeId: 'retry-1' });
    const otherType = await publisher.publish('pay.refunded', a, { n: 3 }, { dedupeId: 'retry-1' });
    assert.deepEqual([otherKey.duplicate, otherType.duplicate], [false, false]);
    assert.equal(otherKey.partition, first.partition);
    const again = await publisher.publish('pay.settled', a, { n: 1 }, { dedupeId: 'retry-1' });
    assert.deepEqual([again.duplicate, again.id], [true, first.id]);
    // A key that imitates the scope's encoding is a key of its own.
    const tricky = await publisher.publish('pay.settled', `${a}","retry-1`, { n: 4 }, { dedupeId: 'x' });
    assert.equal(tricky.duplicate, false);
    assert.equal(await env.redis.client().xlen(new Keys('dedupe-scope').partition(first.partition).events), 3 + Number(tricky.partition === first.partition));
  } finally {
    await publisher.close();
  }
});

test('a keyless event with a dedupe id goes to the partition of its id, so a retried publish is still a no-op', async () => {
  const publisher = await Publisher.connect({ redis: env.redis.url, namespace: 'dedupe-keyless', partitions: 16 });
  try {
    const first = await publisher.publish('report.ready', null, {}, { dedupeId: 'report-7' });
    assert.equal(first.partition, partitionFor('report-7', 16));
    for (let i = 0; i < 20; i++) {
      const again = await publisher.publish('report.ready', null, {}, { dedupeId: 'report-7' });
      assert.deepEqual([again.duplicate, again.id, again.partition], [true, first.id, first.partition]);
    }
  } finally {
    await publisher.close();
  }
});

test('the key and the headers count toward maxEventBytes; nothing is appended', async () => {
  const publisher = await Publisher.connect({ redis: env.redis.url, namespace: 'limits-key', maxEventBytes: 100, partitions: 1 });
  const stream = new Keys('limits-key').partition(0).events;
  try {
    await assert.rejects(publisher.publish('a.b', 'k'.repeat(99), {}), {
      name: 'PayloadTooLargeError', code: 'ERR_PAYLOAD_TOO_LARGE', message: 'event is 101 bytes (data 2, key 99), over the 100-byte limit (maxEventBytes)',
    });
    await assert.rejects(publisher.publish('a.b', 'k', {}, { headers: { trace: 'x'.repeat(86) } }), {
      code: 'ERR_PAYLOAD_TOO_LARGE', message: 'event is 101 bytes (data 2, key 1, headers 98), over the 100-byte limit (maxEventBytes)',
    });
    // A part longer than the limit is not even counted: its length says enough.
    await assert.rejects(publisher.publish('a.b', 'k'.repeat(5000), {}), {
      code: 'ERR_PAYLOAD_TOO_LARGE', message: 'event is at least 5002 bytes (data 2, key at least 5000), over the 100-byte limit (maxEventBytes)',
    });
    assert.equal(await env.redis.client().exists(stream), 0);
    await publisher.publish('a.b', 'k'.repeat(98), {});
    assert.equal(await env.redis.client().xlen(stream), 1);
  } finally {
    await publisher.close();
  }
});

test('a namespace that could collide with another namespace\'s keys is refused', async () => {
  for (const namespace of ['fnrun:{p0}', 'a b', 'a{b}', 'tab\there', 'esc\u001b[31m', '', 'x'.repeat(65), 'glob*']) {
    await assert.rejects(Publisher.connect({ redis: env.redis.url, namespace }), { code: 'ERR_CONFIG', message: /^invalid namespace .*: it (contains|is)/ }, JSON.stringify(namespace));
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
