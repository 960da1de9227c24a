import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { Keys, Publisher } from '../../runtime/index.ts';
import { parseManifest } from '../../runtime/loading/manifest.ts';
import { RateWindow } from '../../runtime/policy/rate-window.ts';
import { Registry } from '../../runtime/deploy/registry.ts';
import { getStatus } from '../../runtime/ops/status.ts';
import { useTestEnv } from '../helpers/test-env.ts';
import { PARTITIONS, stuckScenario } from '../helpers/stuck-scenario.ts';

const env = useTestEnv('status');

test('a function blocked on a failing key: lag and pending behind, its stuck key, one retry in flight; the healthy one at 0; DLQ sizes; rates from two samples', async () => {
  const client = env.redis.client();
  const rates = new RateWindow();
  const keys = new Keys('blocked');
  const scenario = await stuckScenario(env.redis, 'blocked', async () => {
    const first = await getStatus(client, keys, { rates });
    assert.equal(first.rateWindowMs, null, 'one sample has no rate');
    assert.ok(first.functions.every((f) => f.eventsPerSecond === null));
  });
  try {
    const s = scenario.settled;
    const fn = (name: string) => s.functions.find((f) => f.name === name)!;
    assert.deepEqual(s.functions.map((f) => f.name), ['doomed', 'healthy', 'stuck']);
    assert.equal(s.partitionCount, PARTITIONS);
    assert.equal(s.partitions.reduce((n, p) => n + p.length, 0), scenario.published);
    assert.ok(s.partitions.every((p) => p.owner === null), 'a runtime without leases holds none');

    const stuck = fn('stuck');
    assert.equal(stuck.group, 'fn:stuck');
    assert.equal(stuck.deployed, false, 'run from a folder, not deployed');
    assert.equal(stuck.committedVersions.length, 1, 'it committed the events of the other partitions');
    assert.ok(stuck.lag! > 0 && stuck.pending >= 1, `behind: lag ${stuck.lag}, pending ${stuck.pending}`);
    assert.equal(stuck.lagEstimated, false);
    // Blocked behind its poison key at the bound of what it reads ahead, it acknowledged nothing there: read or not, every entry is behind.
    assert.equal(stuck.lag! + stuck.pending, s.partitions[scenario.poison.partition]!.length);
    assert.equal(stuck.oldestPending?.id, scenario.poison.id);
    assert.equal(stuck.oldestPending?.partition, scenario.poison.partition);
    assert.ok(stuck.oldestPending!.ageMs > 0);
    assert.equal(stuck.retriesInFlight, 1);
    assert.equal(stuck.stuck.length, 1);
    const [event] = stuck.stuck;
    assert.equal(event!.key, 'poison');
    assert.equal(event!.type, 'job.run');
    assert.equal(event!.id, scenario.poison.id);
    assert.equal(event!.attempts, 1);
    assert.equal(event!.deliveries, 1);
    assert.ok(event!.lastFailureAt >= event!.firstFailureAt && event!.firstFailureAt > 0);

    const healthy = fn('healthy');
    assert.deepEqual([healthy.lag, healthy.pending, healthy.oldestPending, healthy.retriesInFlight, healthy.deadLetters, healthy.stuck], [0, 0, null, 0, 0, []]);
    const doomed = fn('doomed');
    assert.deepEqual([doomed.lag, doomed.pending, doomed.retriesInFlight, doomed.deadLetters], [0, 0, 0, 2]);

    assert.deepEqual(s.groups.map((g) => [g.name, g.functions, g.partitions]), [
      ['fn:doomed', ['doomed'], PARTITIONS], ['fn:healthy', ['healthy'], PARTITIONS], ['fn:stuck', ['stuck'], PARTITIONS],
    ]);

    // A second sample with the same window: healthy read every event since the first one.
    const second = await getStatus(client, keys, { rates });
    assert.ok(second.rateWindowMs! > 0);
    assert.ok(second.functions.find((f) => f.name === 'healthy')!.eventsPerSecond! > 0);
    assert.ok(second.partitions.reduce((n, p) => n + (p.publishedPerSecond ?? 0), 0) > 0);
  } finally {
    await scenario.stop();
  }
});

/** The registry stores bundles as data: a synthetic one is enough here. */
function bundle(name: string) {
  const code = `/* ${name} */`;
  const sourceMap = JSON.stringify({ version: 3, sources: [`functions/${name}.ts`], mappings: '' });
  return { name, entry: `functions/${name}.ts`, code, sourceMap, filename: `fnrun:///functions/${name}.js`, hash: createHash('sha256').update(code).digest('hex'), warnings: [] };
}

test('deployed functions before any runtime; groups found on the streams; a dev group member deduced; lag estimated when Redis cannot count it', async () => {
  const client = env.redis.client();
  const keys = new Keys('mixed');
  await (await Publisher.connect({ redis: client, namespace: 'mixed', partitions: 1 })).close();
  const registry = new Registry(client, keys);
  await registry.deploy(bundle('solo'), parseManifest('solo.ts', { events: ['a.b'] }));
  await registry.deploy(bundle('member'), parseManifest('member.ts', { events: ['a.b'], group: 'billing' }));

  let s = await getStatus(client, keys);
  assert.deepEqual(s.functions.map((f) => [f.name, f.deployed, f.version, f.group, f.lag]), [
    ['member', true, '1', 'group:billing', null],
    ['solo', true, '1', 'fn:solo', null],
  ]);
  assert.deepEqual(s.groups.map((g) => [g.name, g.functions, g.partitions]), [['fn:solo', ['solo'], 0], ['group:billing', ['member'], 0]]);

  // What `fnrun dev` leaves: a shared group on the stream, and its member in the versions hash.
  const pk = keys.partition(0);
  const ids = [];
  for (let i = 0; i < 4; i++) ids.push(await client.xadd(pk.events, '*', 'type', 'a.b', 'data', '{}'));
  await client.xgroup('CREATE', pk.events, 'group:pair', '0');
  await client.xgroup('CREATE', pk.events, 'fn:solo', ids[0]!);
  await client.hset(pk.activeVersions, 'left', 'abc123');
  // A group created at an arbitrary id, and an entry deleted past its cursor: Redis cannot count the
  // lag (null), so status falls back to an upper bound — the stream's length, 3 (the real lag is 2).
  await client.xdel(pk.events, ids[2]!);

  s = await getStatus(client, keys);
  const left = s.functions.find((f) => f.name === 'left')!;
  assert.deepEqual([left.deployed, left.version, left.committedVersions, left.group, left.lag], [false, null, ['abc123'], 'group:pair', 3]);
  const solo = s.functions.find((f) => f.name === 'solo')!;
  assert.deepEqual([solo.lag, solo.lagEstimated], [3, true]);

  // What `fnrun start` leaves: a heartbeat and a lease `<member>|<epoch>`.
  await client.zadd(keys.members, String(s.time), 'host:42:abc');
  await client.set(pk.lease, 'host:42:abc|3', 'PX', 60_000);
  s = await getStatus(client, keys);
  assert.deepEqual(s.members.map((m) => m.id), ['host:42:abc']);
  const [p0] = s.partitions;
  assert.deepEqual([p0!.owner, p0!.epoch, p0!.length], ['host:42:abc', 3, 3]);
  assert.ok(p0!.leaseTtlMs! > 0 && p0!.leaseTtlMs! <= 60_000);
});

test('a namespace that does not exist is a clear error', async () => {
  await assert.rejects(getStatus(env.redis.client(), new Keys('nope')), /namespace "nope" does not exist/);
});
