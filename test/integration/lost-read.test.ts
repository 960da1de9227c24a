/**
 * A failover that loses a read but not the commit after it (asynchronous replication: the read's
 * pending entry had not reached the replica, the resent commit lands on the promoted one). The new
 * primary delivers the event again; it must be acknowledged, not run a second time. Reproduced
 * without a failover: the commit of an event no read delivered, exactly what the promoted replica
 * receives.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Keys, Publisher, Runtime, createJsonLogger } from '../../runtime/index.ts';
import { CommitBatch } from '../../runtime/worker/commit-batch.ts';
import { writeCommit } from '../../runtime/worker/commit.ts';
import { withScripts } from '../../runtime/redis/scripts.ts';
import { NoReplyError } from '../../runtime/redis/reply-deadline.ts';
import { redisSource } from '../../runtime/worker/redis-source.ts';
import { fixtureFunctions } from '../helpers/fixtures.ts';
import { Recorder } from '../helpers/recorder.ts';
import { useTestEnv } from '../helpers/test-env.ts';
import { waitFor } from '../helpers/wait-for.ts';

const env = useTestEnv('lost-read');

test('the commit script records an ack of an event that is not pending, and says how many it recorded', async () => {
  const redis = withScripts(env.redis.client());
  const pk = new Keys('script').partition(0);
  await redis.xgroup('CREATE', pk.events, 'g', '0', 'MKSTREAM');
  const lost = (await redis.xadd(pk.events, '*', 'type', 't', 'data', '1', 'time', '0'))!;
  const next = (await redis.xadd(pk.events, '*', 'type', 't', 'data', '2', 'time', '0'))!;
  const batch = new CommitBatch();
  batch.ack(lost);
  batch.part('f', 'v1').emits.push({ stream: pk.events, fields: ['type', 'out', 'data', '3', 'time', '0'] });
  assert.equal(await writeCommit({ redis, pk, group: 'g', members: ['f'], marks: false }, batch, 'c-1', ''), 1);
  assert.deepEqual(await redis.hkeys(pk.settled('g')), [lost]);
  assert.ok((await redis.pttl(pk.settled('g'))) > 0, 'the record expires');

  // A commit whose acks were all pending records nothing.
  const again = new CommitBatch();
  again.ack(next);
  await redis.xreadgroup('GROUP', 'g', 'owner', 'STREAMS', pk.events, '>');
  assert.equal(await writeCommit({ redis, pk, group: 'g', members: ['f'], marks: false }, again, 'c-2', ''), 0);
  assert.deepEqual(await redis.hkeys(pk.settled('g')), [lost]);
});

test('a runtime acknowledges an event whose completion a failover kept but whose read it lost, without running it again', async () => {
  const recorder = new Recorder();
  const options = { redis: env.redis.url, namespace: 'lost', partitions: 1, functionsDir: fixtureFunctions('order'), logger: createJsonLogger('silent'), onInvocation: recorder.record };
  let runtime = await Runtime.create(options);
  const publisher = await Publisher.connect({ redis: env.redis.url, namespace: 'lost' });
  const redis = withScripts(env.redis.client());
  const pk = new Keys('lost').partition(0);
  try {
    await runtime.start();
    const first = await publisher.publish('order.placed', 'k', { n: 1 });
    await waitFor(() => recorder.count('solo') === 1 && recorder.count('second') === 1, { timeoutMs: 20_000, message: 'first event handled' });
    await runtime.stop();

    // While no process reads: `solo`'s completion of `lost` is committed, as the promoted replica
    // receives it, though no read of it reached that replica.
    const lost = await publisher.publish('order.placed', 'k', { n: 2 });
    const batch = new CommitBatch();
    batch.ack(lost.id);
    await writeCommit({ redis, pk, group: 'fn:solo', members: ['solo'], marks: false }, batch, 'failover-1', '');
    const later = await publisher.publish('order.placed', 'k', { n: 3 });

    runtime = await Runtime.create(options);
    await runtime.start();
    await waitFor(() => recorder.count('solo') === 2 && recorder.count('second') === 3, { timeoutMs: 20_000, message: 'later event handled' });
    assert.deepEqual(recorder.of('solo').map((r) => r.eventId), [first.id, later.id], 'solo did not run the event it had completed');
    assert.deepEqual(recorder.of('first').map((r) => r.eventId), [first.id, lost.id, later.id], 'the other group, which had not completed it, did');
    await waitFor(async () => ((await redis.xpending(pk.events, 'fn:solo')) as [number])[0] === 0, { timeoutMs: 10_000, message: 'solo acked everything' });
  } finally {
    await runtime.stop();
    await publisher.close();
  }
});

test('a read with no reply by its deadline fails with NoReplyError, and its late reply counts as a reconnect, so the worker re-reads the pending list it filled', async () => {
  const redis = withScripts(env.redis.client());
  const pk = new Keys('deadline').partition(0);
  await redis.xgroup('CREATE', pk.events, 'g', '0', 'MKSTREAM');
  await redis.xadd(pk.events, '*', 'type', 't', 'data', '1', 'time', '0');
  const idle = { start: async () => {}, waitFor: async () => {}, wakeAll: () => {}, stop: async () => {} };
  const source = redisSource({
    redis, pk, partition: 0, group: 'g', members: () => ['f'], startFrom: () => 'earliest', token: '', leaseFresh: () => true, maxEventBytes: 1 << 20,
    watcher: idle, connectionEpoch: () => 0, replyTimeoutMs: 100,
  });
  // Redis holds every client's commands for a second: the read's reply comes after its deadline.
  await env.redis.client().client('PAUSE', 1000, 'ALL');
  const epoch = source.connectionEpoch();
  await assert.rejects(source.read('>', 10), (error: Error) => error instanceof NoReplyError && /no reply from Redis to a read of partition 0 within 0.1 s/.test(error.message));
  await waitFor(() => source.connectionEpoch() !== epoch, { timeoutMs: 10_000, message: 'the late reply is noticed' });
  assert.equal(((await redis.xpending(pk.events, 'g')) as [number])[0], 1, 'the late read did deliver the entry: it waits in the pending list');
});
