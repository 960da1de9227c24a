/**
 * Per-key state through the real CLI: `fnrun state get|set|rm` against `fnrun dev` running the
 * example functions, and a counter under `fnrun start` processes (each in its own process group)
 * that are killed, joined and stopped while events flow: every completed event's write applies
 * exactly once, whoever holds the partition.
 */
import assert from 'node:assert/strict';
import { cpSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { Keys, Publisher, StateStore } from '../../runtime/index.ts';
import { CLI, CliProcess, runCli } from '../helpers/cli.ts';
import { GroupProcess } from '../helpers/process-group.ts';
import { useTestEnv } from '../helpers/test-env.ts';
import { waitFor } from '../helpers/wait-for.ts';

const env = useTestEnv('state-cli');
const PARTITIONS = 8;
const LEASE_TTL_MS = 2000;

test('fnrun state get, set and rm the example count-posts\' count while fnrun dev runs it; --json; errors say what to do', async () => {
  const project = join(env.dir, 'examples');
  cpSync(fileURLToPath(new URL('../../functions', import.meta.url)), join(project, 'functions'), { recursive: true });
  const common = ['--redis', env.redis.url, '--namespace', 'examples'];
  const dev = new CliProcess(['dev', '--dir', join(project, 'functions'), ...common, '--no-ui']);
  const state = (...args: string[]) => runCli(['state', ...args, ...common]);
  const post = async (n: number) => {
    const emitted = await runCli(['emit', 'post.created', '--key', 'thread-42', '--data', JSON.stringify({ postId: `p${n}`, author: 'ada' }), ...common]);
    assert.equal(emitted.code, 0, emitted.stderr);
  };
  try {
    await dev.waitForLine((l) => l.includes('loaded count-posts'), 'examples loaded');
    for (let n = 1; n <= 3; n++) {
      await post(n);
      await dev.waitForLine((l) => l.includes(`ada posted in thread-42 (post ${n})`), `post ${n} counted and announced`);
    }
    const all = await state('get', 'count-posts', 'thread-42', '--json');
    assert.equal(all.code, 0, all.stderr);
    assert.deepEqual(JSON.parse(all.stdout), { function: 'count-posts', key: 'thread-42', entries: { posts: 3 } });
    const one = await state('get', 'count-posts', 'thread-42', 'posts');
    assert.equal(one.stdout, '3\n');
    const human = await state('get', 'count-posts', 'thread-42');
    assert.match(human.stdout, /1 state value \(count-posts, key thread-42\):\n {2}posts {2}3\n/);

    // The next event of the key sees what the operator set.
    const set = await state('set', 'count-posts', 'thread-42', 'posts', '10');
    assert.equal(set.code, 0, set.stderr);
    assert.match(set.stdout, /set posts = 10 \(count-posts, key thread-42\)/);
    await post(4);
    await dev.waitForLine((l) => l.includes('ada posted in thread-42 (post 11)'), 'the count went on from the value set');
    assert.equal((await state('get', 'count-posts', 'thread-42', 'posts')).stdout, '11\n');

    const refused = await state('rm', 'count-posts', 'thread-42', 'posts');
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /run it again with --yes to confirm \(nothing was deleted\)/);
    assert.equal((await state('get', 'count-posts', 'thread-42', 'posts')).stdout, '11\n');
    const removed = await state('rm', 'count-posts', 'thread-42', '--yes', '--json');
    assert.deepEqual(JSON.parse(removed.stdout), { function: 'count-posts', key: 'thread-42', name: null, removed: 1 });
    assert.match((await state('get', 'count-posts', 'thread-42')).stdout, /^no state \(count-posts, key thread-42\)\n$/);
    await post(5);
    await dev.waitForLine((l) => l.includes('ada posted in thread-42 (post 1)'), 'counting starts over');

    const missing = await state('get', 'count-posts', 'thread-42', 'postz');
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /count-posts has no state "postz" for key thread-42 \(it has: posts\)/);
    const typo = await state('get', 'count-post', 'thread-42');
    assert.equal(typo.code, 1);
    assert.match(typo.stderr, /no function "count-post" .* did you mean "count-posts"\?/);
    const typoSet = await state('set', 'count-post', 'thread-42', 'posts', '1');
    assert.equal(typoSet.code, 1, 'set refuses a function the namespace does not know');
    const badJson = await state('set', 'count-posts', 'thread-42', 'note', 'hello');
    assert.equal(badJson.code, 1);
    assert.match(badJson.stderr, /the value must be JSON .*: quote a string twice, as '"hello"'/);
    const tooBig = await state('set', 'count-posts', 'thread-42', 'note', JSON.stringify('x'.repeat(70_000)));
    assert.equal(tooBig.code, 1);
    assert.match(tooBig.stderr, /over the 65536-byte limit per value/);
    const usage = await state('get', 'count-posts');
    assert.equal(usage.code, 1);
    assert.match(usage.stderr, /fnrun state get: missing KEY \(see fnrun state --help\)/);
    const help = await runCli(['state', '--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /its commit, landing just after, overwrites\s+what it wrote/);

    // Keys and values are the producers' and the operators' text: control characters are escaped.
    const evilKey = 'k\x1b[2J\r';
    assert.equal((await state('set', 'count-posts', evilKey, 'note', JSON.stringify('\x1b]52;c;x\x07'))).code, 0);
    const shown = await state('get', 'count-posts', evilKey);
    assert.doesNotMatch(shown.stdout, /[\x1b\r\x07]/);
    assert.match(shown.stdout, /key k\\x1b\[2J\\r\)/);
    const json = await state('get', 'count-posts', evilKey, '--json');
    assert.deepEqual(JSON.parse(json.stdout).entries, { note: '\x1b]52;c;x\x07' });
  } finally {
    assert.equal(await dev.stop(), 0);
  }
});

/** A namespace with the counter deployed, and its `fnrun start` processes. */
class Counting {
  readonly procs: GroupProcess[] = [];
  readonly keys: Keys;
  readonly store: StateStore;
  readonly seq = new Map<string, number>();
  readonly namespace: string;
  readonly keyCount: number;
  constructor(namespace: string, keyCount: number) {
    this.namespace = namespace;
    this.keyCount = keyCount;
    this.keys = new Keys(namespace);
    this.store = new StateStore(env.redis.client(), this.keys, PARTITIONS);
  }
  common(): string[] {
    return ['--redis', env.redis.url, '--namespace', this.namespace, '--partitions', String(PARTITIONS)];
  }
  async deploy(): Promise<void> {
    const result = await runCli(['deploy', '--dir', fileURLToPath(new URL('../fixtures/state-cli', import.meta.url)), ...this.common()]);
    assert.equal(result.code, 0, result.stdout + result.stderr);
  }
  start(): GroupProcess {
    const proc = new GroupProcess(process.execPath, [CLI, 'start', ...this.common(), '--lease-ttl', String(LEASE_TTL_MS)]);
    this.procs.push(proc);
    return proc;
  }
  /** Publishes `total` events round-robin over the keys, each with its key's next sequence number. */
  async publish(total: number, onProgress?: (sent: number) => Promise<void>): Promise<void> {
    const publisher = await Publisher.connect({ redis: env.redis.url, namespace: this.namespace, partitions: PARTITIONS });
    try {
      for (let sent = 0; sent < total; sent += 100) {
        const batch = Array.from({ length: Math.min(100, total - sent) }, (_, i) => {
          const key = `key-${(sent + i) % this.keyCount}`;
          const seq = (this.seq.get(key) ?? 0) + 1;
          this.seq.set(key, seq);
          return { type: 'count.item', key, data: { seq } };
        });
        await publisher.publishBatch(batch);
        await onProgress?.(sent + batch.length);
      }
    } finally {
      await publisher.close();
    }
  }
  /** Every key's state. */
  async states(): Promise<Map<string, { count?: number; mismatches?: string[] }>> {
    const out = new Map<string, { count?: number; mismatches?: string[] }>();
    for (let k = 0; k < this.keyCount; k++) out.set(`key-${k}`, await this.store.get('counter', `key-${k}`));
    return out;
  }
  async counted(): Promise<number> {
    let sum = 0;
    for (const s of (await this.states()).values()) sum += s.count ?? 0;
    return sum;
  }
  /** Entries delivered and not yet acknowledged, over every partition. */
  async pending(): Promise<number> {
    let n = 0;
    for (let p = 0; p < PARTITIONS; p++) n += ((await env.redis.client().xpending(this.keys.partition(p).events, 'fn:counter')) as [number])[0];
    return n;
  }
  /** Waits until every published event is counted and acknowledged, then checks each key's count exactly. */
  async expectExact(message: string): Promise<void> {
    const total = [...this.seq.values()].reduce((a, b) => a + b, 0);
    await waitFor(async () => (await this.counted()) >= total && (await this.pending()) === 0, { timeoutMs: 180_000, intervalMs: 250, message: `${message}: every event counted and acknowledged` })
      .catch(async (error: Error) => { throw new Error(`${error.message} (counted ${await this.counted()} of ${total}, pending ${await this.pending()})\n${this.diagnose()}`); });
    const states = await this.states();
    for (const [key, s] of states) {
      assert.equal(s.count, this.seq.get(key), `${message}: ${key} counted each of its events exactly once`);
      assert.equal(s.mismatches, undefined, `${message}: ${key}: every event found the count its predecessor left`);
    }
  }
  /** Lease owners' pids per partition (tokens are `<host>:<pid>:<random>|<epoch>`). */
  async owners(): Promise<(number | null)[]> {
    const client = env.redis.client();
    return Promise.all(Array.from({ length: PARTITIONS }, async (_, p) => {
      const token = await client.get(this.keys.partition(p).lease);
      if (token === null) return null;
      const parts = token.split('|')[0]!.split(':');
      return Number(parts[parts.length - 2]);
    }));
  }
  retries(): number {
    return this.procs.reduce((n, p) => n + p.lines.filter((l) => l.includes('counter: retry')).length, 0);
  }
  diagnose(): string {
    return this.procs.map((p, i) => `[proc ${i}] ${p.lines.filter((l) => /"level":(40|50)/.test(l) && !l.includes('injected failure')).slice(-10).join('\n')}\n[proc ${i} stderr] ${p.stderr.slice(-1500)}`).join('\n');
  }
  async killAll(): Promise<void> {
    await Promise.all(this.procs.map((p) => p.kill()));
  }
}

test('a per-key counter: 5,000 events over 50 keys, failures injected, a fnrun start SIGKILLed mid-run: each key ends at exactly its event count', async () => {
  const counting = new Counting('counter-kill', 50);
  await counting.deploy();
  const victim = counting.start();
  const survivor = counting.start();
  try {
    await waitFor(async () => {
      const owners = await counting.owners();
      return owners.every((o) => o !== null) && new Set(owners).size === 2;
    }, { timeoutMs: 30_000, message: 'both processes own partitions' });
    let killedAt = -1;
    await counting.publish(5000, async (sent) => {
      if (killedAt < 0 && sent >= 2000) {
        // Mid-run: some of its events counted and committed, others in flight or not read yet.
        await waitFor(async () => (await counting.counted()) >= 1000, { timeoutMs: 60_000, message: 'a fifth counted' });
        victim.signalGroup('SIGKILL');
        await victim.exited;
        killedAt = await counting.counted();
      }
    });
    assert.ok(killedAt > 0 && killedAt < 5000, `killed mid-run (${killedAt} counted then)`);
    await waitFor(async () => (await counting.owners()).every((o) => o === survivor.pid), { timeoutMs: LEASE_TTL_MS * 10, message: 'the survivor took every partition' });
    await counting.expectExact('after the SIGKILL');
    assert.ok(counting.retries() > 0, 'failures were injected (and retried)');
    console.log(`# ${killedAt} of 5,000 counted when the process was killed; ${counting.retries()} injected failures retried`);
  } finally {
    await counting.killAll();
  }
});

test('a lease move between two fnrun start processes keeps the state: one joins, then the first stops, while events flow', async () => {
  const counting = new Counting('counter-move', 50);
  await counting.deploy();
  const first = counting.start();
  try {
    await waitFor(async () => (await counting.owners()).every((o) => o === first.pid), { timeoutMs: 30_000, message: 'the first process owns every partition' });
    await counting.publish(1000);
    await counting.expectExact('one process');
    let second: GroupProcess | null = null;
    await counting.publish(1000, async (sent) => {
      if (sent === 200) second = counting.start();
    });
    await waitFor(async () => new Set(await counting.owners()).size === 2 && (await counting.owners()).every((o) => o !== null), { timeoutMs: 30_000, message: 'the partitions are shared' });
    await counting.expectExact('after the second process joined');
    const moved = (await counting.owners()).filter((o) => o === second!.pid).length;
    assert.ok(moved > 0, 'partitions moved to the second process');
    let stopped: Promise<unknown> | null = null;
    await counting.publish(1000, async (sent) => {
      if (sent === 200) {
        first.signal('SIGTERM');
        stopped = first.exited;
      }
    });
    assert.deepEqual(await stopped, { code: 0, signal: null }, 'the first process drained and exited 0');
    await waitFor(async () => (await counting.owners()).every((o) => o === second!.pid), { timeoutMs: 30_000, message: 'the second process owns every partition' });
    await counting.expectExact('after the first process stopped');
  } finally {
    await counting.killAll();
  }
});
