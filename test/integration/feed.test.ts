import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Cluster, Redis } from 'ioredis';
import { Keys } from '../../runtime/index.ts';
import type { InvocationRecord } from '../../runtime/loading/function-handle.ts';
import { FeedPublisher } from '../../runtime/ops/feed/feed-publisher.ts';
import type { FeedMessage } from '../../runtime/ops/feed/feed-record.ts';
import { subscribeFeed } from '../../runtime/ops/feed/feed-subscriber.ts';
import { isCluster } from '../../runtime/redis/redis.ts';
import { useTestEnv } from '../helpers/test-env.ts';
import { waitFor } from '../helpers/wait-for.ts';

const env = useTestEnv('feed');

const record = (i: number, fn = 'billing'): InvocationRecord => ({
  function: fn, version: '1', partition: i % 4, eventId: `${1000 + i}-0`, type: 'order.placed', key: `k${i}`, attempt: 1, status: 'ok', durationMs: 1,
  logs: Array.from({ length: 80 }, (_, n) => ({ level: 'info', msg: `line ${n}`, time: 1 })),
});

/** PUBLISH calls Redis has served, over every node (INFO commandstats). */
async function publishes(client: Redis): Promise<number> {
  const nodes = isCluster(client) ? (client as unknown as Cluster).nodes('all') : [client];
  let total = 0;
  for (const node of nodes) total += Number(/cmdstat_publish:calls=(\d+)/.exec(await node.info('commandstats'))?.[1] ?? 0);
  return total;
}

test('the feed publishes nothing while nobody listens, batches records to subscribers (with capped logs), and stops when they leave', async () => {
  const client = env.redis.client();
  const keys = new Keys('feed');
  const feed = new FeedPublisher(client, keys, 'proc-1', { checkMs: 50, flushMs: 20 });
  feed.start();
  try {
    const before = await publishes(client);
    for (let i = 0; i < 500; i++) feed.record(record(i));
    assert.equal(feed.listening, false);
    await waitFor(async () => (await publishes(client)) === before, { message: 'nothing published' });

    const messages: FeedMessage[] = [];
    const subscription = await subscribeFeed(env.redis.url, keys, (m) => messages.push(m));
    await waitFor(() => feed.listening, { message: 'the publisher notices the subscriber' });
    for (let i = 0; i < 300; i++) feed.record(record(i, i % 2 === 0 ? 'billing' : 'email'));
    await waitFor(() => messages.flatMap((m) => m.records).length === 300, { message: 'every record delivered' });
    const received = messages.flatMap((m) => m.records);
    assert.ok(messages.length < 300, 'records travel in batches');
    assert.deepEqual(received.map((r) => r.eventId), Array.from({ length: 300 }, (_, i) => `${1000 + i}-0`), 'in order, none from before the subscriber');
    assert.ok(received.every((r) => r.source === 'proc-1' && r.logs!.length === 50 && r.logsDropped === 30 && typeof r.time === 'number'));

    await subscription.close();
    await waitFor(() => !feed.listening, { message: 'the publisher notices nobody listens' });
    const after = await publishes(client);
    for (let i = 0; i < 100; i++) feed.record(record(i));
    await feed.stop(); // flushes whatever was buffered
    assert.equal(await publishes(client), after, 'nothing published once the subscriber left');
  } finally {
    await feed.stop();
  }
});
