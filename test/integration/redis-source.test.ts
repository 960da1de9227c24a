/**
 * A worker's reads, against a real Redis: what each kind costs Redis (counted by Redis itself,
 * INFO commandstats), and that fencing still holds where the partition has a lease.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Keys } from '../../runtime/index.ts';
import { withScripts } from '../../runtime/redis/scripts.ts';
import { redisSource } from '../../runtime/worker/redis-source.ts';
import { useTestEnv } from '../helpers/test-env.ts';

const env = useTestEnv('redis-source', { topology: 'single' });

async function calls(): Promise<{ evalsha: number; xreadgroup: number; multi: number }> {
  const info = await env.redis.client().info('commandstats');
  const count = (name: string) => Number(new RegExp(`cmdstat_${name}:calls=(\\d+)`).exec(info)?.[1] ?? 0);
  return { evalsha: count('evalsha') + count('eval'), xreadgroup: count('xreadgroup'), multi: count('multi') };
}

/** What Redis ran for `read`: the commands counted, and the read's outcome. */
async function counted<T>(read: () => Promise<T>): Promise<{ result: T; ran: { evalsha: number; xreadgroup: number; multi: number } }> {
  const before = await calls();
  const result = await read();
  const after = await calls();
  return { result, ran: { evalsha: after.evalsha - before.evalsha, xreadgroup: after.xreadgroup - before.xreadgroup, multi: after.multi - before.multi } };
}

const idle = { start: async () => {}, waitFor: async () => {}, wakeAll: () => {}, stop: async () => {} };

function sourceOn(namespace: string, token: string, leaseFresh: () => boolean = () => true) {
  const redis = withScripts(env.redis.client());
  const pk = new Keys(namespace).partition(0);
  const source = redisSource({
    redis, pk, partition: 0, group: 'g', members: () => ['f'], startFrom: () => 'earliest', token, leaseFresh, maxEventBytes: 1 << 20,
    watcher: idle, connectionEpoch: () => 0,
  });
  return { redis, pk, source };
}

test('an unfenced read is a plain XREADGROUP, in a MULTI with the stream tip first after the pending list or when it finds nothing: never a script', async () => {
  const { redis, pk, source } = sourceOn('plain', '');
  await redis.xgroup('CREATE', pk.events, 'g', '0', 'MKSTREAM');
  const add = async () => (await redis.xadd(pk.events, '*', 'type', 't', 'data', 'x', 'time', '0'))!;
  const ids = [await add(), await add(), await add()];

  const start = await counted(() => source.read('0-0', 10));
  assert.deepEqual(start.result.entries, [], 'nothing pending at a start');
  const first = await counted(() => source.read('>', 10));
  assert.deepEqual(first.result.entries.map((e) => e.id), ids);
  assert.deepEqual(first.ran, { evalsha: 0, xreadgroup: 1, multi: 1 }, 'first after the pending list: with the tip, at a start most streams are idle');

  const e4 = await add();
  const next = await counted(() => source.read('>', 10));
  assert.deepEqual(next.result.entries.map((e) => e.id), [e4]);
  assert.deepEqual(next.ran, { evalsha: 0, xreadgroup: 1, multi: 0 }, 'later reads: plain');

  const empty = await counted(() => source.read('>', 10));
  assert.deepEqual(empty.result, { entries: [], tipId: e4 }, 'nothing new: where to wait from');
  assert.deepEqual(empty.ran, { evalsha: 0, xreadgroup: 2, multi: 1 }, 'plain found nothing: read again with the tip');

  const pending = await source.read('0-0', 10);
  assert.deepEqual(pending.entries.map((e) => e.id), [...ids, e4], 'the pending list, re-read');
});

test('with a lease, another reader\'s entries make the holder\'s next read overtaken, and the pending list holds them all in id order', async () => {
  const holder = sourceOn('leased', 'me|2');
  const stale = sourceOn('leased', 'old|1'); // a process whose lease ran out, still reading
  const { redis, pk } = holder;
  await redis.xgroup('CREATE', pk.events, 'g', '0', 'MKSTREAM');
  await redis.set(pk.lease, 'me|2');
  const add = async (data: string) => (await redis.xadd(pk.events, '*', 'type', 't', 'data', data, 'time', '0'))!;
  const e1 = await add('1');

  const before = await calls();
  assert.deepEqual((await holder.source.read('>', 10)).entries.map((e) => e.id), [e1]);
  const after = await calls();
  assert.deepEqual({ evalsha: after.evalsha - before.evalsha, xreadgroup: after.xreadgroup - before.xreadgroup }, { evalsha: 0, xreadgroup: 1 }, 'a plain read, no script');

  const e2 = await add('2');
  const e3 = await add('3');
  await stale.source.read('>', 1); // takes e2 into the pending list
  const overtaken = await holder.source.read('>', 10);
  assert.deepEqual(overtaken, { entries: [], tipId: null, overtaken: [e3] }, 'its own entry is given back, none returned');
  assert.deepEqual((await holder.source.read('0-0', 10)).entries.map((e) => e.id), [e1, e2, e3], 'the re-read finds the other reader\'s entry before its own');

  const e4 = await add('4');
  assert.deepEqual((await holder.source.read('>', 10)).entries.map((e) => e.id), [e4], 'after the re-read, reads go on as usual');
});

test('an empty read with a lease runs the fenced script: refused once the lease names another holder', async () => {
  const { redis, pk, source } = sourceOn('fenced', 'me|1');
  await redis.xgroup('CREATE', pk.events, 'g', '0', 'MKSTREAM');
  await redis.set(pk.lease, 'me|1');
  const first = (await redis.xadd(pk.events, '*', 'type', 't', 'data', '1', 'time', '0'))!;
  assert.deepEqual((await source.read('>', 10)).entries.map((e) => e.id), [first]);
  assert.deepEqual(await source.read('>', 10), { entries: [], tipId: first }, 'nothing new: the tip');

  await redis.set(pk.lease, 'other|2');
  await assert.rejects(source.read('>', 10), /FENCED/);
  await assert.rejects(source.read('0-0', 10), /FENCED/, 'a re-read of the pending list too');
});

test('a process that doubts its lease (not renewed for most of a TTL) reads through the fenced script, and gives back what a plain read brought after the doubt began', async () => {
  let fresh = false;
  const { redis, pk, source } = sourceOn('doubt', 'me|1', () => fresh);
  await redis.xgroup('CREATE', pk.events, 'g', '0', 'MKSTREAM');
  await redis.set(pk.lease, 'other|2');
  const e1 = (await redis.xadd(pk.events, '*', 'type', 't', 'data', '1', 'time', '0'))!;
  await assert.rejects(source.read('>', 10), /FENCED/, 'a paused process, resumed: refused, though a plain read would have found the entry');
  assert.equal(((await redis.xpending(pk.events, 'g')) as [number])[0], 0, 'it took nothing');

  await redis.set(pk.lease, 'me|1');
  fresh = true;
  const read = source.read('>', 10);
  fresh = false; // the reply arrives after a pause
  assert.deepEqual(await read, { entries: [], tipId: null, overtaken: [e1] }, 'given back, not run');
});
