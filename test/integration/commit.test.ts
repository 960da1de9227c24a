/**
 * The commit script and queue against a real Redis: a resent commit (a reconnect that lost the
 * reply, which ioredis answers by sending the command again), fencing, large fan-outs cut into
 * bounded commits, state writes, and the outbox used on a Cluster.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CommitBatch } from '../../runtime/worker/commit-batch.ts';
import { writeCommit, type CommitTarget } from '../../runtime/worker/commit.ts';
import { CommitQueue, MAX_COMMIT_ARGS } from '../../runtime/worker/commit-queue.ts';
import { Keys } from '../../runtime/redis/keys.ts';
import { OutboxRelay, outboxFields } from '../../runtime/worker/outbox-relay.ts';
import { withScripts } from '../../runtime/redis/scripts.ts';
import { silentLogger } from '../../runtime/logger.ts';
import { useTestEnv } from '../helpers/test-env.ts';
import { waitFor } from '../helpers/wait-for.ts';

// Script semantics, not topology: some cases emit straight to another partition's stream, which a Cluster refuses.
const env = useTestEnv('commit', { topology: 'single' });
const fn = { name: 'f', version: 'v1' };

async function pendingBatch(ns: string, group: string, n: number) {
  const redis = withScripts(env.redis.client());
  const keys = new Keys(ns);
  const pk = keys.partition(0);
  await redis.xgroup('CREATE', pk.events, group, '0', 'MKSTREAM');
  const pipeline = redis.pipeline();
  for (let i = 0; i < n; i++) pipeline.xadd(pk.events, '*', 'type', 't', 'key', 'k', 'data', String(i), 'time', '0');
  await pipeline.exec();
  const read = (await redis.xreadgroup('GROUP', group, 'owner', 'COUNT', n, 'STREAMS', pk.events, '>')) as [string, [string, string[]][]][];
  return { redis, keys, pk, ids: read[0]![1].map(([id]) => id) };
}

const pending = async (redis: ReturnType<typeof withScripts>, stream: string, group: string) => ((await redis.xpending(stream, group)) as [number])[0];

for (const marks of [false, true]) {
  test(`a commit sent twice (${marks ? 'marks' : 'acks'}) writes its emits, dead letters and state once`, async () => {
    const { redis, keys, pk, ids } = await pendingBatch(`twice-${marks}`, 'g', 3);
    const target: CommitTarget = { redis, pk, group: 'g', members: marks ? ['f', 'other'] : ['f'], marks };
    const other = keys.partition(1).events;
    const batch = new CommitBatch();
    const part = batch.part(fn.name, fn.version);
    for (const id of ids) {
      if (marks) part.marks.push(id);
      else batch.ack(id);
    }
    part.emits.push({ stream: other, fields: ['type', 'out', 'key', 'k', 'data', '1', 'time', '0'] });
    part.dead.push(['reason', 'x']);
    part.state.set(pk.state('f', 'k'), { hash: pk.state('f', 'k'), writes: new Map([['n', '1'], ['gone', null]]), ttlMs: null });
    await redis.hset(pk.state('f', 'k'), 'gone', '"x"');
    await writeCommit(target, batch, 'c-1', '');
    await writeCommit(target, batch, 'c-1', '');
    assert.equal(await redis.xlen(other), 1);
    assert.equal(await redis.xlen(pk.deadLetters('f')), 1);
    assert.deepEqual(await redis.hgetall(pk.state('f', 'k')), { n: '1' });
    if (!marks) assert.equal(await pending(redis, pk.events, 'g'), 0);
    else assert.equal(await redis.hlen(pk.done('g', 'f')), 3);
  });
}

test('a commit under a lease that moved is refused with FENCED and writes nothing', async () => {
  const { redis, pk, ids } = await pendingBatch('fenced', 'g', 1);
  await redis.set(pk.lease, 'other|2');
  const batch = new CommitBatch();
  batch.ack(ids[0]!);
  batch.part('f', 'v1').emits.push({ stream: pk.events, fields: ['type', 'out', 'data', '1', 'time', '0'] });
  await assert.rejects(writeCommit({ redis, pk, group: 'g', members: ['f'], marks: false }, batch, 'c-1', 'me|1'), /FENCED/);
  assert.equal(await pending(redis, pk.events, 'g'), 1);
  assert.equal(await redis.xlen(pk.events), 1);
});

test('100 events × 200 emits each commit atomically per event, in bounded pieces', async () => {
  const { redis, keys, pk, ids } = await pendingBatch('fanout', 'g', 100);
  const target: CommitTarget = { redis, pk, group: 'g', members: ['f'], marks: false };
  const out = keys.partition(5).events;
  let writes = 0;
  const queue = new CommitQueue({
    write: (batch, id) => { writes++; return writeCommit(target, batch, id, ''); },
    fenced: () => assert.fail('not fenced'), nextCommitId: (() => { let n = 0; return () => `c-${++n}`; })(),
    sleep: (ms) => new Promise((r) => setTimeout(r, ms)), logger: silentLogger, where: {},
  });
  for (const id of ids) {
    const emits = Array.from({ length: 200 }, (_, i) => ({ stream: out, fields: ['type', 'fan.out', 'key', `k${i}`, 'data', `{"i":${i}}`, 'time', '0'], outboxed: false }));
    queue.completed(fn, id, emits, null, false);
    queue.acked(id);
  }
  await queue.flush();
  assert.equal(await redis.xlen(out), 20_000);
  assert.equal(await pending(redis, pk.events, 'g'), 0);
  assert.ok(writes > 1, `cut into several commits of at most ~${MAX_COMMIT_ARGS} arguments (got ${writes})`);
});

test('an emit to another partition through the outbox is relayed once and in order, also after a relay crashed half way', async () => {
  const { redis, keys, pk, ids } = await pendingBatch('outbox', 'g', 2);
  const batch = new CommitBatch();
  for (const id of ids) batch.ack(id);
  for (let i = 0; i < 5; i++) batch.part('f', 'v1').emits.push({ stream: pk.outbox, fields: outboxFields(3, ['type', 'out', 'key', 'k', 'data', String(i), 'time', '0']) });
  await writeCommit({ redis, pk, group: 'g', members: ['f'], marks: false }, batch, 'c-1', '');
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
