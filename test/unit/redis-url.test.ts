import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '../../runtime/errors.ts';
import { hashTag } from '../../runtime/redis/pipeline.ts';
import { parseRedisUrl } from '../../runtime/redis/redis.ts';
import type { RedisOptions } from 'ioredis';

/** Options of a URL naming one server (or a Sentinel set). */
const single = (url: string): RedisOptions => parseRedisUrl(url).options as RedisOptions;

test('one server: redis://, rediss://, unix sockets and databases', () => {
  assert.equal(parseRedisUrl('redis://h').kind, 'single');
  const plain = single('redis://alice:s%40cret@cache.internal:6380/2');
  assert.deepEqual(
    { host: plain.host, port: plain.port, db: plain.db, username: plain.username, password: plain.password },
    { host: 'cache.internal', port: 6380, db: 2, username: 'alice', password: 's@cret' },
  );
  assert.deepEqual(single('rediss://h').tls, {});
  assert.equal(single('redis://h').port, 6379);
  assert.equal(single('unix:///tmp/r.sock').path, '/tmp/r.sock');
  assert.equal(single('/tmp/r.sock').path, '/tmp/r.sock');
  assert.equal(single('redis://[::1]:7000').host, '::1');
});

test('a Cluster is given by its seed nodes', () => {
  const target = parseRedisUrl('redis+cluster://:pw@10.0.0.1:7000,10.0.0.2:7001,10.0.0.3');
  assert.equal(target.kind, 'cluster');
  if (target.kind !== 'cluster') return;
  assert.deepEqual(target.nodes, [{ host: '10.0.0.1', port: 7000 }, { host: '10.0.0.2', port: 7001 }, { host: '10.0.0.3', port: 6379 }]);
  assert.equal(target.options.redisOptions?.password, 'pw');
  assert.equal(target.options.redisOptions?.maxRetriesPerRequest, null);
});

test('a Sentinel URL names the sentinels and the master', () => {
  assert.equal(parseRedisUrl('redis+sentinel://s1/m').kind, 'sentinel');
  const target = { options: single('redis+sentinel://s1:26379,s2/mymaster/3?sentinelPassword=x') };
  assert.deepEqual(target.options.sentinels, [{ host: 's1', port: 26379 }, { host: 's2', port: 26379 }]);
  assert.equal(target.options.name, 'mymaster');
  assert.equal(target.options.db, 3);
  assert.equal(target.options.sentinelPassword, 'x');
  assert.equal(target.options.failoverDetector, false);
  assert.equal(single('redis+sentinel://s1/m?failoverDetector=true').failoverDetector, true);
});

test('bad URLs are refused with a ConfigError that says what is expected', () => {
  for (const [url, message] of [
    ['http://h:1', /expected redis:\/\//],
    ['redis://a:1,b:2', /several hosts: use redis\+cluster/],
    ['redis+sentinel://s1:26379', /names the master/],
    ['redis+cluster://a:1/0', /no databases/],
    ['redis://h:99999', /invalid host/],
    ['redis://h/x', /invalid database/],
    ['redis://', /names no host/],
    ['redis://:6380', /names no host/],
    ['redis://:pw@', /names no host/],
    ['redis+cluster://', /names no host/],
  ] as const) {
    assert.throws(() => parseRedisUrl(url), (e: unknown) => e instanceof ConfigError && message.test(e.message), url);
  }
});

test('hash tags: the first non-empty {…} decides the slot', () => {
  assert.equal(hashTag('fnrun:{p7}:events'), 'p7');
  assert.equal(hashTag('fnrun:{fn:a}:head'), 'fn:a');
  assert.equal(hashTag('fnrun:functions'), 'fnrun:functions');
  assert.equal(hashTag('a{}b{c}'), 'a{}b{c}');
});
