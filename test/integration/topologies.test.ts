// Proves the Cluster and Sentinel test helpers, so a failing topology test points at fnrun, not at them.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import { startRedisCluster, type TestRedisCluster } from '../helpers/redis-cluster.ts';
import { startRedisSentinel, type TestRedisSentinel } from '../helpers/redis-sentinel.ts';

let cluster: TestRedisCluster;
let sentinel: TestRedisSentinel;
const direct: Redis[] = [];

/** A plain client to one node, bypassing cluster routing and sentinels. */
function node(port: number): Redis {
  const c = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 1 });
  c.on('error', () => {});
  direct.push(c);
  return c;
}

before(async () => {
  // In parallel: each takes about two seconds, mostly waiting on redis-cli and sentinel hellos.
  [cluster, sentinel] = await Promise.all([startRedisCluster(), startRedisSentinel()]);
});

after(async () => {
  for (const c of direct) c.disconnect();
  await Promise.all([cluster?.stop(), sentinel?.stop()]);
});

test('cluster: keys with different hash tags spread over several masters', async () => {
  assert.equal(cluster.url, `redis+cluster://${cluster.ports.map((p) => `127.0.0.1:${p}`).join(',')}`);
  assert.equal(cluster.ports.length, 3);
  const client = cluster.client();
  for (let p = 0; p < 16; p++) await client.set(`rt:{p${p}}:probe`, String(p));
  for (let p = 0; p < 16; p++) assert.equal(await client.get(`rt:{p${p}}:probe`), String(p));

  const sizes = await Promise.all(cluster.ports.map((port) => node(port).dbsize()));
  assert.equal(sizes.reduce((a, b) => a + b, 0), 16, `every key stored once: ${sizes.join(',')}`);
  assert.ok(sizes.filter((n) => n > 0).length >= 2, `keys on at least two masters: ${sizes.join(',')}`);
});

test('sentinel: a replicated write survives failover to the replica', async () => {
  assert.match(sentinel.url, /^redis\+sentinel:\/\/127\.0\.0\.1:\d+,127\.0\.0\.1:\d+,127\.0\.0\.1:\d+\/fnrun$/);
  const initial = await sentinel.primaryPort();
  const primary = await sentinel.primaryClient();
  await primary.set('topologies:replicated', 'v1');
  assert.equal(await primary.wait(1, 1000), 1, 'the replica acknowledged the write');

  const { from, to } = await sentinel.failover();
  assert.equal(from, initial);
  assert.notEqual(to, from);
  assert.equal(await sentinel.primaryPort(), to);
  const promoted = await sentinel.primaryClient();
  assert.equal(await promoted.get('topologies:replicated'), 'v1');
  const [oldRole, , masterPort] = (await node(from).call('ROLE')) as [string, string, number];
  assert.deepEqual([oldRole, masterPort], ['slave', to], 'the old primary follows the new one');
});

test('sentinel: restartPrimary() keeps what the AOF recorded and the primary role', async () => {
  const port = await sentinel.primaryPort();
  await (await sentinel.primaryClient()).set('topologies:aof', 'v2');
  await sentinel.restartPrimary();

  assert.equal(await sentinel.primaryPort(), port, 'no failover for a quick restart');
  const restarted = node(port);
  assert.equal(await restarted.get('topologies:aof'), 'v2');
  const [role] = (await restarted.call('ROLE')) as [string];
  assert.equal(role, 'master');
  assert.equal(await restarted.set('topologies:after-restart', 'ok'), 'OK');
});
