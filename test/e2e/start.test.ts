import assert from 'node:assert/strict';
import { cpSync, writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { Keys, Publisher } from '../../runtime/index.ts';
import { CliProcess, runCli } from '../helpers/cli.ts';
import { useTestEnv } from '../helpers/test-env.ts';
import { waitFor } from '../helpers/wait-for.ts';

const PARTITIONS = 16;
const LEASE_TTL_MS = 3000;

const env = useTestEnv('start');

interface Seen { fn: string; version: string; partition: number; eventId: string; key: string; seq: number; time: number; proc: number; index: number }

/** A namespace with three deployed functions and its `fnrun start` processes. */
class Cluster {
  readonly procs: CliProcess[] = [];
  readonly functions: string;
  readonly namespace: string;
  constructor(namespace: string) {
    this.namespace = namespace;
    this.functions = join(env.dir, namespace, 'functions');
    cpSync(fileURLToPath(new URL('../fixtures/start', import.meta.url)), this.functions, { recursive: true });
  }
  common(): string[] {
    return ['--redis', env.redis.url, '--namespace', this.namespace];
  }
  async deploy(): Promise<{ function: string; status: string; to: number | null }[]> {
    const result = await runCli(['deploy', '--dir', this.functions, ...this.common(), '--json']);
    assert.equal(result.code, 0, `deploy failed: ${result.stdout}${result.stderr}`);
    return JSON.parse(result.stdout) as { function: string; status: string; to: number | null }[];
  }
  start(): CliProcess {
    const proc = new CliProcess(['start', ...this.common(), '--lease-ttl', String(LEASE_TTL_MS)]);
    this.procs.push(proc);
    return proc;
  }
  /** Every `seen` log line of every process, in each process's own order. */
  seen(): Seen[] {
    const out: Seen[] = [];
    this.procs.forEach((proc, p) => {
      let index = 0;
      for (const line of proc.json<{ msg?: string; function: string; version: string; partition: number; eventId: string; time: number }>()) {
        if (!line.msg?.startsWith('seen ')) continue;
        const [, key, seq] = line.msg.split(' ');
        out.push({ fn: line.function, version: line.version, partition: line.partition, eventId: line.eventId, key: key!, seq: Number(seq), time: line.time, proc: p, index: index++ });
      }
    });
    return out;
  }
  /** Lease owners of every partition. */
  async owners(): Promise<(string | null)[]> {
    const client = env.redis.client();
    const keys = new Keys(this.namespace);
    return Promise.all(Array.from({ length: PARTITIONS }, async (_, p) => (await client.get(keys.partition(p).lease))?.split('|')[0] ?? null));
  }
  async balanced(processes: number): Promise<boolean> {
    const owners = await this.owners();
    if (owners.some((o) => o === null)) return false;
    const counts = new Map<string, number>();
    for (const o of owners) counts.set(o!, (counts.get(o!) ?? 0) + 1);
    return counts.size === processes && [...counts.values()].every((c) => c <= Math.ceil(PARTITIONS / processes));
  }
  /** What went wrong, for a failed wait: counts and every warning or error the processes logged. */
  diagnose(expected: number): string {
    const seen = this.seen();
    const counts = FNS.map((fn) => `${fn}: ${countBy(seen, fn).size}/${expected}`).join(', ');
    const problems = this.procs.flatMap((p, i) => p.lines.filter((l) => /"level":(40|50)/.test(l)).slice(-15).map((l) => `[proc ${i}] ${l.slice(0, 400)}`));
    return `${counts}\n${problems.join('\n')}\n${this.procs.map((p, i) => `[proc ${i} stderr] ${p.stderr.slice(-1500)}`).join('\n')}`;
  }
  async stopAll(): Promise<void> {
    await Promise.all(this.procs.map((p) => p.stop()));
  }
}

/** Publishes `total` events over `keys` keys with a per-key sequence, in small batches (a flow). */
async function flow(namespace: string, total: number, keys: number, onProgress?: (sent: number) => Promise<void> | void) {
  const publisher = await Publisher.connect({ redis: env.redis.url, namespace, partitions: PARTITIONS });
  const seq = new Map<string, number>();
  const published: { partition: number; id: string; key: string; seq: number }[] = [];
  for (let sent = 0; sent < total; sent += 250) {
    const batch = Array.from({ length: Math.min(250, total - sent) }, (_, i) => {
      const key = `key-${(sent + i) % keys}`;
      const n = (seq.get(key) ?? 0) + 1;
      seq.set(key, n);
      return { type: 'flow.item', key, data: { seq: n } };
    });
    const results = await publisher.publishBatch(batch);
    results.forEach((r, i) => published.push({ partition: r.partition, id: r.id, key: batch[i]!.key, seq: batch[i]!.data.seq }));
    await onProgress?.(sent + batch.length);
    await new Promise((r) => setTimeout(r, 5));
  }
  await publisher.close();
  return published;
}

/** Per function and key, the first time each event was seen follows publish order (across owners, by handler time). */
function assertPerKeyOrder(seen: Seen[], fns: string[]) {
  for (const fn of fns) {
    const byKey = new Map<string, Seen[]>();
    for (const s of seen.filter((x) => x.fn === fn)) byKey.set(s.key, [...(byKey.get(s.key) ?? []), s]);
    for (const [key, list] of byKey) {
      list.sort((a, b) => a.time - b.time || (a.proc === b.proc ? a.index - b.index : 0));
      const first: number[] = [];
      const counted = new Set<number>();
      for (const s of list) if (!counted.has(s.seq)) { counted.add(s.seq); first.push(s.seq); }
      assert.deepEqual(first, [...first].sort((a, b) => a - b), `${fn} saw ${key} in order`);
    }
  }
}

function countBy(seen: Seen[], fn: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const s of seen) if (s.fn === fn) counts.set(`${s.partition}/${s.eventId}`, (counts.get(`${s.partition}/${s.eventId}`) ?? 0) + 1);
  return counts;
}

const FNS = ['alpha', 'beta', 'gamma'];

test('3 processes share the partitions evenly; 20,000 events over 200 keys each handled once per function in order; a deploy and a rollback while events flow swap only that function', async () => {
  const cluster = new Cluster('steady');
  const first = await cluster.deploy();
  assert.deepEqual(first.map((r) => `${r.function}:${r.status}`).sort(), ['alpha:changed', 'beta:changed', 'gamma:changed']);
  for (let i = 0; i < 3; i++) cluster.start();
  try {
    await waitFor(() => cluster.balanced(3), { timeoutMs: 30_000, message: 'partitions split evenly over 3 processes' });
    let deployed = false;
    const published = await flow('steady', 20_000, 200, async (sent) => {
      if (sent >= 8000 && !deployed) {
        deployed = true;
        writeFileSync(join(cluster.functions, 'alpha.ts'), readFileSync(join(cluster.functions, 'alpha.ts'), 'utf8').replace("'seen'", "'seen' /* v2 */"));
        const rows = await cluster.deploy();
        assert.deepEqual(rows.map((r) => `${r.function}:${r.status}`).sort(), ['alpha:changed', 'beta:unchanged', 'gamma:unchanged']);
      }
    });
    await waitFor(() => { const seen = cluster.seen(); return FNS.every((fn) => countBy(seen, fn).size >= published.length); }, { timeoutMs: 120_000, intervalMs: 250, message: 'every event handled by every function' }).catch((error: Error) => { throw new Error(`${error.message}\n${cluster.diagnose(published.length)}`); });
    const seen = cluster.seen();
    for (const fn of FNS) {
      const counts = countBy(seen, fn);
      assert.equal(counts.size, published.length, `${fn} handled every event`);
      assert.ok([...counts.values()].every((n) => n === 1), `${fn} handled each event exactly once (by one version)`);
    }
    assertPerKeyOrder(seen, FNS);
    const alphaVersions = new Set(seen.filter((s) => s.fn === 'alpha').map((s) => s.version));
    assert.deepEqual([...alphaVersions].sort(), ['1', '2'], 'alpha moved to version 2 mid-flow');
    for (const fn of ['beta', 'gamma']) assert.deepEqual(new Set(seen.filter((s) => s.fn === fn).map((s) => s.version)), new Set(['1']));
    // Each partition records where version 2 of alpha took over.
    const takeovers = await env.redis.client().xrange(new Keys('steady').partition(0).takeovers('alpha'), '-', '+');
    assert.deepEqual((takeovers as [string, string[]][]).map(([, f]) => f[1]), ['1', '2']);

    // Rollback: alpha goes back to version 1 everywhere, the others are untouched.
    const rollback = await runCli(['rollback', 'alpha', ...cluster.common()]);
    assert.equal(rollback.code, 0, rollback.stderr);
    // Every process reports the swap (the first "version 1" line is the initial load).
    await waitFor(() => cluster.procs.every((p) => p.lines.filter((l) => l.includes('function alpha now at version 1')).length >= 2), { message: 'rollback reached every process' });
    const before = published.length;
    const more = await flow('steady', 500, 50);
    await waitFor(() => cluster.seen().filter((s) => s.fn === 'alpha').length >= before + more.length, { message: 'events after the rollback handled' });
    const lastAlpha = cluster.seen().filter((s) => s.fn === 'alpha' && more.some((m) => m.id === s.eventId && m.partition === s.partition));
    assert.ok(lastAlpha.length > 0 && lastAlpha.every((s) => s.version === '1'), 'after the rollback alpha runs version 1');
  } finally {
    await cluster.stopAll();
  }
});

test('SIGKILL one of 3 processes while events flow: its partitions move, no event lost, order kept, duplicates only from the killed process', async () => {
  const cluster = new Cluster('kill');
  await cluster.deploy();
  for (let i = 0; i < 3; i++) cluster.start();
  try {
    await waitFor(() => cluster.balanced(3), { timeoutMs: 30_000, message: 'balanced' });
    const victim = cluster.procs[1]!;
    let killedAt = 0;
    const published = await flow('kill', 10_000, 200, async (sent) => {
      if (sent === 4000) {
        victim.child.kill('SIGKILL');
        killedAt = Date.now();
      }
    });
    await waitFor(() => cluster.balanced(2), { timeoutMs: LEASE_TTL_MS * 5, message: 'the 2 survivors own every partition' });
    // Reported, not asserted tightly (no timing thresholds in tests): about the lease TTL.
    console.log(`# partitions of the killed process moved ${Date.now() - killedAt} ms after the kill (lease TTL ${LEASE_TTL_MS} ms)`);
    await waitFor(() => { const seen = cluster.seen(); return FNS.every((fn) => countBy(seen, fn).size >= published.length); }, { timeoutMs: 120_000, intervalMs: 250, message: 'every event handled' }).catch((error: Error) => { throw new Error(`${error.message}\n${cluster.diagnose(published.length)}`); });
    const seen = cluster.seen();
    for (const fn of FNS) {
      const counts = countBy(seen, fn);
      assert.equal(counts.size, published.length, `${fn}: no event lost`);
      const twice = [...counts.entries()].filter(([, n]) => n > 1).map(([id]) => id);
      const victimRan = new Set(seen.filter((s) => s.proc === 1 && s.fn === fn).map((s) => `${s.partition}/${s.eventId}`));
      assert.ok(twice.every((id) => victimRan.has(id)), `${fn}: duplicates were all in flight on the killed process`);
    }
    assertPerKeyOrder(seen, FNS);
  } finally {
    await cluster.stopAll();
  }
});

test('SIGTERM one process: it exits 0 after handing its partitions over, with no duplicates at all', async () => {
  const cluster = new Cluster('term');
  await cluster.deploy();
  for (let i = 0; i < 3; i++) cluster.start();
  try {
    await waitFor(() => cluster.balanced(3), { timeoutMs: 30_000, message: 'balanced' });
    let exit: Promise<number | null> | null = null;
    const published = await flow('term', 10_000, 200, (sent) => {
      if (sent === 4000) exit = cluster.procs[2]!.stop('SIGTERM');
    });
    assert.equal(await exit, 0, 'SIGTERM exits 0');
    await waitFor(() => cluster.balanced(2), { timeoutMs: 10_000, message: 'survivors took over' });
    await waitFor(() => { const seen = cluster.seen(); return FNS.every((fn) => countBy(seen, fn).size >= published.length); }, { timeoutMs: 120_000, intervalMs: 250, message: 'every event handled' }).catch((error: Error) => { throw new Error(`${error.message}\n${cluster.diagnose(published.length)}`); });
    const seen = cluster.seen();
    for (const fn of FNS) assert.ok([...countBy(seen, fn).values()].every((n) => n === 1), `${fn}: no duplicates`);
    assertPerKeyOrder(seen, FNS);
  } finally {
    await cluster.stopAll();
  }
});

test('a process paused past its lease and resumed cannot ack what the new owner took', async () => {
  const cluster = new Cluster('pause');
  await cluster.deploy();
  cluster.start();
  const paused = cluster.start();
  try {
    await waitFor(() => cluster.balanced(2), { timeoutMs: 30_000, message: 'balanced' });
    let resumed = false;
    const published = await flow('pause', 6000, 100, async (sent) => {
      if (sent === 2000) {
        paused.child.kill('SIGSTOP');
        await waitFor(() => cluster.balanced(1), { timeoutMs: LEASE_TTL_MS * 5, message: 'the other process took every partition' });
        paused.child.kill('SIGCONT');
        resumed = true;
      }
    });
    assert.ok(resumed);
    await paused.waitForLine((l) => l.includes('lease') && (l.includes('lost') || l.includes('letting them go')), 'the resumed process noticed it lost its leases');
    await waitFor(() => { const seen = cluster.seen(); return FNS.every((fn) => countBy(seen, fn).size >= published.length); }, { timeoutMs: 120_000, intervalMs: 250, message: 'every event handled' }).catch((error: Error) => { throw new Error(`${error.message}\n${cluster.diagnose(published.length)}`); });
    await waitFor(() => cluster.balanced(2), { timeoutMs: 30_000, message: 'the resumed process rejoined' });
    const client = env.redis.client();
    for (let p = 0; p < PARTITIONS; p++) {
      for (const group of ['fn:alpha', 'group:pair']) {
        const pending = (await client.xpending(new Keys('pause').partition(p).events, group)) as [number];
        assert.equal(pending[0], 0, `nothing left pending on partition ${p} for ${group}`);
      }
    }
    assertPerKeyOrder(cluster.seen(), FNS);
  } finally {
    await cluster.stopAll();
  }
});
