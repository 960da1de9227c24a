/**
 * The single-server wake watcher against a real Redis: which waits it lets through at once, and
 * what it costs in CLIENT UNBLOCKs (counted by Redis) when entries land while workers are busy.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Redis } from 'ioredis';
import { ShardedWakeWatcher } from '../../runtime/worker/wake/sharded-wake-watcher.ts';
import { WakeWatcher } from '../../runtime/worker/wake/wake-watcher.ts';
import { useTestEnv } from '../helpers/test-env.ts';
import { waitFor } from '../helpers/wait-for.ts';

const env = useTestEnv('wake-watcher', { topology: 'single' });

async function calls(redis: Redis, command: string): Promise<number> {
  const info = await redis.info('commandstats');
  return Number(new RegExp(`cmdstat_${command.replace('|', '\\|')}:calls=(\\d+)`).exec(info)?.[1] ?? 0);
}

/** True while connection `id` is blocked in a command (CLIENT LIST flag `b`). */
async function blocked(redis: Redis, id: number): Promise<boolean> {
  const list = (await redis.client('LIST', 'ID', id)) as string;
  return /flags=\S*b/.test(list);
}

/** Whether `wait` settles before the event loop's next turn (with no round trip to Redis). */
async function atOnce(wait: Promise<void>): Promise<boolean> {
  return Promise.race([wait.then(() => true), new Promise<boolean>((resolve) => setImmediate(() => resolve(false)))]);
}

/**
 * Two partitions, a watcher on them, and partition 0's worker woken by e1 and busy (not waiting
 * again) when e2 lands; resolves once the wake read returned e2 and was reissued. Partition 1's
 * worker waits all along, so reads keep being issued (as with 16 partitions); `finish` ends it.
 */
async function landedWhileBusy(prefix: string) {
  const redis = env.redis.client();
  const blocking = env.redis.client();
  const streams = [`${prefix}:p0`, `${prefix}:p1`];
  const [first0, first1] = [await redis.xadd(streams[0]!, '*', 'n', '0'), await redis.xadd(streams[1]!, '*', 'n', '0')];
  const watcher = new WakeWatcher(blocking, env.redis.client(), (p) => streams[p]!);
  await watcher.start();
  const blockingId = Number(await blocking.client('ID'));
  const other = watcher.waitFor(1, first1!);
  const woken = watcher.waitFor(0, first0!);
  const e1 = await redis.xadd(streams[0]!, '*', 'n', '1');
  await woken;
  await waitFor(() => blocked(redis, blockingId), { message: 'the wake read reissued after e1' });
  const before = await calls(redis, 'xread');
  const unblocksBefore = await calls(redis, 'client|unblock');
  const e2 = await redis.xadd(streams[0]!, '*', 'n', '2');
  await waitFor(async () => (await calls(redis, 'xread')) > before && (await blocked(redis, blockingId)), { message: 'the wake read returned e2 and was reissued' });
  return {
    redis, watcher, stream: streams[0]!, e1: e1!, e2: e2!, unblocksBefore,
    async finish() {
      await redis.xadd(streams[1]!, '*', 'n', '1');
      await other;
      await watcher.stop();
    },
  };
}

test('an entry that lands while its worker is busy lets the worker through at once, and its next wait needs no CLIENT UNBLOCK', async () => {
  const { redis, watcher, stream, e1, e2, unblocksBefore, finish } = await landedWhileBusy('ww');
  try {
    // Back from e1, the worker waits past e1: e2 is there, so nothing to wait for.
    assert.equal(await atOnce(watcher.waitFor(0, e1)), true, 'a wait past e1 is let through at once: e2 landed after it');
    // It reads e2 and waits past it: the read in flight covers the partition, no CLIENT UNBLOCK.
    const next = watcher.waitFor(0, e2);
    assert.equal(await atOnce(next), false, 'nothing after e2 yet');
    await redis.xadd(stream, '*', 'n', '3');
    await next;
    assert.equal((await calls(redis, 'client|unblock')) - unblocksBefore, 0, 'no wake read was cut short');
  } finally {
    await finish();
  }
});

test('an entry that woke nobody lets through only the next wait: ids that go backwards cost one spurious wake, not a loop', async () => {
  const { redis, watcher, stream, e1, finish } = await landedWhileBusy('wb');
  try {
    assert.equal(await atOnce(watcher.waitFor(0, e1)), true, 'a wait past e1 is let through at once');
    // The stream is recreated with smaller ids: the remembered entry must not release every wait.
    await redis.del(stream);
    const small = await redis.xadd(stream, '1-1', 'n', 'again');
    const again = watcher.waitFor(0, small!);
    assert.equal(await atOnce(again), false, 'a wait after the one let through waits for a real entry');
    await redis.xadd(stream, '1-2', 'n', 'next');
    await again;
  } finally {
    await finish();
  }
});

test('over many partitions, a wake read names one shard of 16 streams on its own connection, blocks as much longer, and every waiter is woken by its entry', async () => {
  const redis = env.redis.client();
  const partitions = 40;
  const streams = Array.from({ length: partitions }, (_, p) => `ws:p${p}`);
  const firsts = await Promise.all(streams.map((s) => redis.xadd(s, '*', 'n', '0')));
  const reads: string[][] = [];
  const monitor = await env.redis.client().monitor();
  const first = env.redis.client();
  await first.ping();
  const clients = async () => ((await redis.client('LIST')) as string).trim().split('\n').length;
  const clientsBefore = await clients();
  const watcher = new ShardedWakeWatcher(first, redis, async () => env.redis.client(), (p) => streams[p]!, partitions);
  monitor.on('monitor', (_time: string, args: string[]) => {
    if (args[0]?.toLowerCase() === 'xread') reads.push(args);
  });
  const blockedReads = async () => ((await redis.client('LIST')) as string).split('\n').filter((line) => /flags=\S*b/.test(line) && /cmd=xread/.test(line)).length;
  try {
    await watcher.start();
    const waits = streams.map((_, p) => watcher.waitFor(p, firsts[p]!));
    await waitFor(async () => (await blockedReads()) === 3, { message: 'ceil(40 / 16) wake reads blocked, each on its own connection' });
    for (const s of streams) await redis.xadd(s, '*', 'n', '1');
    await Promise.all(waits);
    const shards = new Set<number>();
    for (const args of reads) {
      const at = args.findIndex((a) => a.toLowerCase() === 'streams');
      const named = args.slice(at + 1, at + 1 + (args.length - at - 1) / 2);
      const shard = new Set(named.map((n) => Math.floor(Number(n.slice('ws:p'.length)) / 16)));
      assert.ok(named.length >= 1 && named.length <= 16 && shard.size === 1, `a wake read names one shard's streams: ${named.join(' ')}`);
      shards.add([...shard][0]!);
      assert.equal(args[args.findIndex((a) => a.toLowerCase() === 'block') + 1], '15000', 'blocks 3 × 5 s: an idle process sends as few reads as with one shard');
    }
    assert.deepEqual([...shards].sort(), [0, 1, 2]);
  } finally {
    monitor.disconnect();
    await watcher.stop();
  }
  // The first shard's connection is the runtime's (it closes it); the other two were the watcher's.
  await waitFor(async () => (await clients()) <= clientsBefore, { message: 'the connections it opened are closed' });
});
