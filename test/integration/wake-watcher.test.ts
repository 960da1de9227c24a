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

/** Connections named `name` on the server now. */
async function named(redis: Redis, name: string): Promise<number> {
  return ((await redis.client('LIST')) as string).split('\n').filter((line) => line.includes(` name=${name} `)).length;
}

/** A connection like the runtime's watcher connections, named `name` so the tests can count them. */
async function connectNamed(name: string): Promise<Redis> {
  const c = env.redis.client();
  await c.client('SETNAME', name);
  return c;
}

test('over many partitions, a wake read names one shard of 16 streams on its own connection, blocks as much longer, and every waiter is woken by its entry', async () => {
  const redis = env.redis.client();
  const partitions = 40;
  const streams = Array.from({ length: partitions }, (_, p) => `ws:p${p}`);
  const firsts = await Promise.all(streams.map((s) => redis.xadd(s, '*', 'n', '0')));
  const reads: string[][] = [];
  const monitor = await env.redis.client().monitor();
  monitor.on('monitor', (_time: string, args: string[]) => {
    if (args[0]?.toLowerCase() === 'xread') reads.push(args);
  });
  const watcher = new ShardedWakeWatcher(await connectNamed('ws-first'), redis, () => connectNamed('ws-shard'), (p) => streams[p]!, partitions);
  const blockedReads = async () => ((await redis.client('LIST')) as string).split('\n').filter((line) => /flags=\S*b/.test(line) && /cmd=xread/.test(line)).length;
  try {
    await watcher.start();
    const waits = streams.map((_, p) => watcher.waitFor(p, firsts[p]!));
    await waitFor(async () => (await blockedReads()) === 3, { message: 'ceil(40 / 16) wake reads blocked, each on its own connection' });
    assert.equal(await named(redis, 'ws-shard'), 2, 'two connections opened, the first shard on the one given');
    for (const s of streams) await redis.xadd(s, '*', 'n', '1');
    await Promise.all(waits);
    const seen = new Set<string>();
    for (const args of reads) {
      const at = args.findIndex((a) => a.toLowerCase() === 'streams');
      const names = args.slice(at + 1, at + 1 + (args.length - at - 1) / 2);
      assert.ok(names.length >= 1 && names.length <= 16, `a wake read names at most 16 streams: ${names.join(' ')}`);
      for (const n of names) seen.add(n);
      assert.equal(args[args.findIndex((a) => a.toLowerCase() === 'block') + 1], '15000', 'blocks 3 × 5 s: an idle process sends as few reads as with one shard');
    }
    assert.equal(seen.size, partitions, 'every partition was in a wake read');
  } finally {
    monitor.disconnect();
    await watcher.stop();
  }
  await waitFor(async () => (await named(redis, 'ws-shard')) === 0, { message: 'the connections it opened are closed' });
});

test('partitions scattered over a large namespace share one shard; a forgotten partition makes room for another', async () => {
  const redis = env.redis.client();
  const stream = (p: number) => `wsc:p${p}`;
  const blockedNaming = async (n: number) => {
    const lines = ((await redis.client('LIST')) as string).split('\n').filter((line) => /flags=\S*b/.test(line) && /cmd=xread/.test(line));
    return lines.length === 1 && /name=wsc-first /.test(lines[0]!) ? n : -1;
  };
  const watcher = new ShardedWakeWatcher(await connectNamed('wsc-first'), redis, () => connectNamed('wsc-shard'), stream, 256);
  const reads: string[][] = [];
  const monitor = await env.redis.client().monitor();
  monitor.on('monitor', (_time: string, args: string[]) => {
    if (args[0]?.toLowerCase() === 'xread') reads.push(args);
  });
  const streamsOfLastRead = () => { const a = reads.at(-1) ?? []; const at = a.findIndex((x) => x.toLowerCase() === 'streams'); return a.slice(at + 1, at + 1 + (a.length - at - 1) / 2); };
  try {
    await watcher.start();
    // 16 partitions scattered over 256: one shard, on the connection given.
    const scattered = Array.from({ length: 16 }, (_, i) => 3 + i * 16);
    for (const p of scattered) void watcher.waitFor(p, '0-0');
    await waitFor(async () => (await blockedNaming(1)) === 1 && streamsOfLastRead().length === 16, { message: 'one wake read naming the 16 scattered partitions' });
    assert.equal(await named(redis, 'wsc-shard'), 0, 'no connection opened');
    // The shard is full: a 17th partition needs another, unless one is forgotten first.
    watcher.forget(scattered[0]!);
    void watcher.waitFor(250, '0-0');
    await waitFor(() => streamsOfLastRead().includes(stream(250)), { message: 'partition 250 in the first shard\'s read' });
    assert.equal(await named(redis, 'wsc-shard'), 0, 'it took the forgotten one\'s place: still no connection opened');
    void watcher.waitFor(251, '0-0');
    await waitFor(async () => (await named(redis, 'wsc-shard')) === 1, { message: 'a 17th partition opens a second shard' });
  } finally {
    monitor.disconnect();
    await watcher.stop();
  }
});

/** A watcher over 64 partitions whose shards after the first open with `connect`; partitions 0-15 fill the first shard, so 20 needs another. */
async function secondShard(name: string, connect: () => Promise<Redis>, onOpenFailed?: (error: unknown) => void) {
  const redis = env.redis.client();
  const stream = (p: number) => `${name}:p${p}`;
  const first = (await redis.xadd(stream(20), '*', 'n', '0'))!;
  const watcher = new ShardedWakeWatcher(await connectNamed(`${name}-first`), redis, connect, stream, 64, onOpenFailed);
  await watcher.start();
  for (let p = 0; p < 16; p++) void watcher.waitFor(p, '0-0');
  return { redis, watcher, first };
}

/** A connect that waits for `open()`; `made` holds the connections it made. */
function gatedConnect(name: string) {
  let open: () => void = () => {};
  const gate = new Promise<void>((resolve) => { open = resolve; });
  const made: Redis[] = [];
  return {
    made, open: () => open(),
    connect: async () => {
      await gate;
      const c = await connectNamed(name);
      made.push(c);
      return c;
    },
  };
}

test('a wait whose shard is still opening is woken by wakeAll, as every other wait', async () => {
  const gated = gatedConnect('wso-shard');
  const { redis, watcher, first } = await secondShard('wso', gated.connect);
  try {
    const wait = watcher.waitFor(20, first);
    assert.equal(await atOnce(wait), false, 'waiting for its shard to open');
    watcher.wakeAll(); // as on a lost command connection: every waiter must look again
    await wait; // woken, with the shard still opening
    gated.open();
    await waitFor(async () => (await named(redis, 'wso-shard')) === 1, { message: 'the shard opened after all' });
  } finally {
    await watcher.stop();
  }
  await waitFor(async () => (await named(redis, 'wso-shard')) === 0, { message: 'its connection closed on stop' });
});

test('a shard that cannot open wakes its waiters after a backoff (they read and back off on their own), tries again only once it is over, and says why', async () => {
  const failures: unknown[] = [];
  let connects = 0;
  const { watcher, first } = await secondShard('wsf', async () => { connects++; throw new Error('refused'); }, (error) => failures.push(error));
  try {
    const waiting = watcher.waitFor(20, first);
    await waitFor(() => failures.length === 1, { message: 'the open failed' });
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(failures.map((e) => (e as Error).message), ['refused']);
    // Other workers of the shard (other groups, or back from a read) wait meanwhile: within the
    // backoff none of them tries to open it again, and a wakeAll ends their waits early.
    const others = Array.from({ length: 10 }, () => watcher.waitFor(20, first));
    assert.equal(connects, 1, 'no second attempt within the backoff');
    watcher.wakeAll();
    await Promise.all([waiting, ...others]);
    assert.equal(connects, 1);
  } finally {
    await watcher.stop();
  }
});

test('stop does not wait for a shard still opening: its waiters are woken, and its connection is closed once it opens', async () => {
  const gated = gatedConnect('wsl-shard');
  const { redis, watcher, first } = await secondShard('wsl', gated.connect);
  const wait = watcher.waitFor(20, first);
  await watcher.stop();
  await wait;
  gated.open();
  await waitFor(() => gated.made.length === 1 && gated.made[0]!.status === 'end', { message: 'the connection that opened after the stop is closed' });
  await waitFor(async () => (await named(redis, 'wsl-shard')) === 0, { message: 'and gone from the server' });
});
