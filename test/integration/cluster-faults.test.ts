// A Redis Cluster with replicas and its faults: first the helper (so a failing chaos run points at
// fnrun, not at it), then fnrun's reads and commits meeting a slot migration half-way, where
// Redis answers ASK and TRYAGAIN: they must be redone once the slot has moved, never lost or doubled.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Redis } from 'ioredis';
import { createJsonLogger, Keys, partitionFor, Publisher, Runtime } from '../../runtime/index.ts';
import { consumerGroupName } from '../../runtime/redis/consumer-groups.ts';
import { startRedisCluster, type TestRedisCluster } from '../helpers/redis-cluster.ts';
import { withProbe } from '../helpers/redis-process.ts';
import { Recorder } from '../helpers/recorder.ts';
import { useTestEnv } from '../helpers/test-env.ts';
import { waitFor } from '../helpers/wait-for.ts';

// Only for its temp dir: this file starts its own cluster, with replicas.
const env = useTestEnv('cluster-faults', { topology: 'single' });
const PARTITIONS = 16;
let cluster: TestRedisCluster;
let client: Redis;

before(async () => {
  cluster = await startRedisCluster({ replicas: 1 });
  client = cluster.client();
});
after(async () => {
  await cluster?.stop();
});

/** The master serving `slot`, and another master to move it to. */
async function mastersFor(slot: number): Promise<{ owner: number; other: number }> {
  const masters = (await cluster.nodes()).filter((n) => n.role === 'master');
  const owner = masters.find((m) => m.slots.some(([a, b]) => slot >= a && slot <= b))!;
  return { owner: owner.port, other: masters.find((m) => m !== owner)!.port };
}

test('cluster helper: a graceful failover, a SIGKILLed master and a moved slot keep every replicated write', async () => {
  const written: string[] = [];
  const write = async (tag: string) => {
    for (let i = 0; i < 50; i++) {
      const key = `helper:{${tag}-${i % 8}}:${written.length}`;
      await client.set(key, key);
      written.push(key);
    }
    // WAIT on every master: what a failover may keep is what its replica acknowledged.
    for (const node of (client as unknown as { nodes(role: string): Redis[] }).nodes('master')) assert.equal(await node.wait(1, 5000), 1);
  };
  const allThere = async () => {
    const values = await Promise.all(written.map((k) => client.get(k)));
    assert.deepEqual(written.filter((k, i) => values[i] !== k), [], 'every acknowledged write is still readable');
  };

  await write('a');
  const [first, second] = (await cluster.nodes()).filter((n) => n.role === 'master');
  const { from, to } = await cluster.failover(first!.port);
  assert.equal(from, first!.port);
  const [role, , masterPort] = (await withProbe(from, (p) => p.call('ROLE'))) as [string, string, number];
  assert.deepEqual([role, masterPort], ['slave', to], 'the old master follows its former replica');
  await allThere();

  await write('b');
  const { killed, promoted } = await cluster.killMaster(second!.port);
  assert.equal(killed, second!.port);
  assert.equal(((await withProbe(promoted, (p) => p.call('ROLE'))) as [string])[0], 'master');
  await allThere();

  await write('c');
  const slot = await cluster.keySlot('c-0');
  const { owner, other } = await mastersFor(slot);
  const moved = await cluster.moveSlot(slot, other);
  assert.equal(moved.from, owner);
  assert.ok(moved.keys > 0, 'the slot had keys to move');
  assert.deepEqual(await mastersFor(slot).then((m) => m.owner), other);
  await allThere();
});

// One function that emits `done.mig` with the event's key and seq; `mig.slow` events take a while.
function writeFunction(): string {
  const dir = join(env.dir, 'functions');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'mig.ts'), `export const config = { events: ['mig.event', 'mig.slow'], timeoutMs: 30000 };
export default async function handler(event: { type: string; key: string; data: { seq: number; ms?: number } }, ctx: { emit(t: string, k: string, d: unknown): Promise<void> }) {
  if (event.data.ms) await new Promise((resolve) => setTimeout(resolve, event.data.ms));
  await ctx.emit('done.mig', event.key, { seq: event.data.seq });
}
`);
  return dir;
}

/** The seqs of the `done.mig` entries of `key` in its partition stream, in stream order. */
async function doneSeqs(keys: Keys, key: string): Promise<number[]> {
  const entries = (await client.xrange(keys.partition(partitionFor(key, PARTITIONS)).events, '-', '+')) as [string, string[]][];
  return entries.filter(([, f]) => f[f.indexOf('type') + 1] === 'done.mig' && f[f.indexOf('key') + 1] === key)
    .map(([, f]) => (JSON.parse(f[f.indexOf('data') + 1]!) as { seq: number }).seq);
}

test('a commit and reads that meet a half-done slot migration (ASK, TRYAGAIN) are redone once the slot moved: each event completes once, in order', async () => {
  const namespace = 'mig';
  const keys = new Keys(namespace);
  const recorder = new Recorder();
  const problems: string[] = [];
  const runtime = await Runtime.create({
    redis: cluster.url, namespace, partitions: PARTITIONS, functionsDir: writeFunction(), onInvocation: recorder.record,
    leases: { leaseTtlMs: 10_000 }, logger: createJsonLogger('warn', (line) => problems.push(line)),
  });
  const publisher = await Publisher.connect({ redis: cluster.url, namespace, partitions: PARTITIONS });
  try {
    await runtime.start();
    assert.deepEqual(runtime.loadFailures, []);
    await waitFor(() => runtime.ownedPartitions.length === PARTITIONS, { timeoutMs: 30_000, message: 'the runtime owns every partition' });
    const key = 'thread-7';
    const p = partitionFor(key, PARTITIONS);
    const pk = keys.partition(p);
    const slot = await cluster.keySlot(`{p${p}}`);

    // 1. A batch in flight when the migration starts: its commit meets the stream on the target
    //    and the lease still on the source (TRYAGAIN), fails, and is redone after the move.
    await publisher.publish('mig.slow', key, { seq: 1, ms: 4000 });
    await waitFor(async () => Number(((await client.xpending(pk.events, consumerGroupName('function', 'mig'))) as [number])[0]) === 1,
      { timeoutMs: 20_000, message: 'the slow event is read (pending)' });
    const first = await cluster.beginMigration(slot, (await mastersFor(slot)).other);
    assert.equal(await first.migrate([pk.events]), 1);
    await waitFor(() => problems.some((l) => l.includes('TRYAGAIN')), { timeoutMs: 30_000, message: 'the commit met TRYAGAIN' });
    // 2. Events published while the slot is half-moved: appended on the target (ASK); reads fail
    //    with TRYAGAIN until the move is done.
    for (let seq = 2; seq <= 11; seq++) await publisher.publish('mig.event', key, { seq });
    await first.finish();
    await waitFor(async () => (await doneSeqs(keys, key)).length >= 11, { timeoutMs: 60_000, message: 'every event completed after the move' });
    await waitFor(async () => Number(((await client.xpending(pk.events, consumerGroupName('function', 'mig'))) as [number])[0]) === 0,
      { timeoutMs: 30_000, message: 'nothing left pending' });
    assert.deepEqual(await doneSeqs(keys, key), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], 'each completed once, in publish order');
    const handled = recorder.of('mig', 'ok').filter((r) => r.key === key).length;
    assert.ok(handled >= 11, `every event handled (${handled} handlings, the slow one twice: its first commit failed)`);

    // 3. Back again, the other way round: the stream stays, everything else moves first.
    const back = await cluster.beginMigration(slot, (await mastersFor(slot)).other);
    const rest = (await back.remaining()).filter((k) => k !== pk.events);
    assert.ok(rest.includes(pk.lease), 'the lease is among the keys to move');
    await back.migrate(rest);
    for (let seq = 12; seq <= 16; seq++) await publisher.publish('mig.event', key, { seq });
    await back.finish();
    await waitFor(async () => (await doneSeqs(keys, key)).length >= 16, { timeoutMs: 60_000, message: 'the events published during the second move completed' });
    assert.deepEqual(await doneSeqs(keys, key), Array.from({ length: 16 }, (_, i) => i + 1));
  } finally {
    await publisher.close();
    await runtime.stop();
  }
});

// A hot-path bug this found (then in partition-worker.ts loadPrior; now runtime/worker/redis-source.ts
// prior, which sends separate commands). When a worker re-reads its pending entries it read their
// delivery counts (XPENDING), failure records and done marks (HMGET) in one ioredis pipeline. Once the slot is MIGRATING, the source answers ASK for
// any key it does not have — the done hash, absent for a solo function — and ioredis, seeing one
// kind of error and only read-only successes, resends the WHOLE pipeline with ASKING to the target
// and returns the target's answers for every command: the target has none of the keys yet, so the
// delivery count and the failure record read as absent (and error replies are ignored too).
// Here: an event failed 3 times (attempts hash: 3), its worker stopped; the slot starts migrating,
// no key has moved; the new worker runs the event as attempt 1 instead of 4. So a migration resets
// the attempts of a poison event (crash loops included), and, the same way, forgets the done marks
// of a sequential group's earlier members, which then run again.
test('re-reading pending entries during a slot migration keeps their attempt count', async () => {
  const namespace = 'prior';
  const keys = new Keys(namespace);
  const dir = join(env.dir, 'flaky');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'flaky.ts'), `export const config = { events: ['flaky.event'], retry: { attempts: 10, backoff: 'fixed', initialDelayMs: 2000, maxDelayMs: 2000 } };
export default async function handler() { throw new Error('always fails'); }
`);
  const key = 'poison-1';
  const p = partitionFor(key, PARTITIONS);
  const pk = keys.partition(p);
  const start = async (recorder: Recorder) => {
    const runtime = await Runtime.create({ redis: cluster.url, namespace, partitions: PARTITIONS, functionsDir: dir, onInvocation: recorder.record, logger: createJsonLogger('silent') });
    await runtime.start();
    return runtime;
  };
  const publisher = await Publisher.connect({ redis: cluster.url, namespace, partitions: PARTITIONS });
  const firstRun = new Recorder();
  const runtime = await start(firstRun);
  try {
    await publisher.publish('flaky.event', key, {});
    await waitFor(() => firstRun.of('flaky', 'retry').some((r) => r.attempt === 3), { timeoutMs: 30_000, message: 'three failed attempts' });
  } finally {
    await runtime.stop();
  }
  const [id] = (await client.xrange(pk.events, '-', '+')).map(([entryId]) => entryId);
  assert.equal((JSON.parse((await client.hget(pk.attempts('flaky'), id!))!) as { attempts: number }).attempts, 3, 'three attempts are recorded');

  const slot = await cluster.keySlot(`{p${p}}`);
  const migration = await cluster.beginMigration(slot, (await mastersFor(slot)).other);
  const secondRun = new Recorder();
  const again = await start(secondRun);
  try {
    await waitFor(() => secondRun.of('flaky').length > 0, { timeoutMs: 30_000, message: 'the event is tried again' });
    assert.equal(secondRun.of('flaky')[0]!.attempt, 4, 'the next attempt is the 4th');
  } finally {
    // The move first: the 4th failure's commit cannot land while the slot is half-moved (TRYAGAIN),
    // and a graceful stop waits for it.
    await migration.finish();
    await again.stop();
    await publisher.close();
  }
});
