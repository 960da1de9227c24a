/**
 * A `fnrun start` (the real CLI, in its own process group) SIGKILLed while 16 invocations of a
 * function with `concurrency: 16` are in flight, then a second one taking over: nothing lost, each
 * key in publish order on each side of the crash, and only events that were in flight (read and
 * not acknowledged) run again. The in-flight invocations are pinned by the probe server
 * (test/helpers/probe-server.ts): past the first 300 it holds every request, so at the kill the
 * function has exactly its concurrency in flight and nothing it could still finish.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Keys, Publisher, type EventInput } from '../../runtime/index.ts';
import { CLI, runCli } from '../helpers/cli.ts';
import { probeFunction, ProbeServer } from '../helpers/probe-server.ts';
import { GroupProcess } from '../helpers/process-group.ts';
import { useTestEnv } from '../helpers/test-env.ts';
import { waitFor } from '../helpers/wait-for.ts';

const env = useTestEnv('concurrency-crash');
const NAMESPACE = 'crash';
const PARTITIONS = 4;
const CONCURRENCY = 16;
let probe: ProbeServer;

before(async () => { probe = await ProbeServer.start(); });
after(() => probe.close());

function start(): GroupProcess {
  return new GroupProcess(process.execPath, [CLI, 'start', '--redis', env.redis.url, '--namespace', NAMESPACE, '--lease-ttl', '1500'], { env: { ...process.env, FNRUN_UI_PORT: '0' } });
}

/** `partition/id` of every entry read and not acknowledged by the function's consumer groups. */
async function pending(): Promise<Set<string>> {
  const client = env.redis.client();
  const keys = new Keys(NAMESPACE);
  const out = new Set<string>();
  for (let p = 0; p < PARTITIONS; p++) {
    const rows = (await client.xpending(keys.partition(p).events, 'fn:work', '-', '+', 100_000)) as [string, ...unknown[]][];
    for (const [id] of rows) out.add(`${p}/${id}`);
  }
  return out;
}

test('SIGKILL with 16 invocations in flight, then another fnrun start: nothing lost, per-key order kept, only in-flight events ran again', async () => {
  const dir = join(env.dir, 'functions');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'work.ts'), probeFunction(probe.port, 'work', { concurrency: CONCURRENCY }));
  const publisher = await Publisher.connect({ redis: env.redis.url, namespace: NAMESPACE, partitions: PARTITIONS });
  const deployed = await runCli(['deploy', '--dir', dir, '--redis', env.redis.url, '--namespace', NAMESPACE, '--no-typecheck']);
  assert.equal(deployed.code, 0, deployed.stdout + deployed.stderr);
  const procs: GroupProcess[] = [];
  try {
    const first = start();
    procs.push(first);
    await first.waitForLine((l) => l.includes('fnrun start: ready'), 'the first fnrun start is ready');
    let passed = 0;
    probe.hold = () => ++passed > 300;
    const events: EventInput[] = Array.from({ length: 1200 }, (_, i) => ({ type: 'probe.item', key: `key-${i % 40}`, data: { i, ms: Math.floor(Math.random() * 8) } }));
    const published: { id: string; key: string }[] = [];
    for (let i = 0; i < events.length; i += 400) {
      const chunk = events.slice(i, i + 400);
      (await publisher.publishBatch(chunk)).forEach((r, j) => published.push({ id: `${r.partition}/${r.id}`, key: chunk[j]!.key! }));
    }
    await waitFor(() => probe.held === CONCURRENCY, { timeoutMs: 60_000, message: `${CONCURRENCY} invocations held in flight (held: ${probe.held})` });
    const heldAtKill = new Set(probe.open().map((e) => e.id));
    assert.equal(heldAtKill.size, CONCURRENCY, 'all of the function\'s slots are held: nothing else is in flight');
    first.signalGroup('SIGKILL');
    await first.exited;
    const killAt = probe.entries.length;
    const pendingAtKill = await pending();
    probe.release();

    const second = start();
    procs.push(second);
    await waitFor(async () => new Set(probe.entries.map((e) => e.id)).size === events.length && (await pending()).size === 0, { timeoutMs: 120_000, message: 'every event handled and acknowledged after the restart' });
    second.signal('SIGTERM');
    assert.equal((await second.exited).code, 0, `SIGTERM drains and exits 0: ${second.stderr}`);

    const ran = new Set(probe.entries.map((e) => e.id));
    for (const p of published) assert.ok(ran.has(p.id), `${p.id} ran`);
    const beforeKill = probe.entries.slice(0, killAt);
    const afterKill = probe.entries.slice(killAt);
    assert.equal(new Set(beforeKill.map((e) => e.id)).size, beforeKill.length, 'nothing ran twice before the kill');
    assert.equal(new Set(afterKill.map((e) => e.id)).size, afterKill.length, 'nothing ran twice after the restart');
    // Per key, each side of the crash runs a stretch of the publish order: the first events up to
    // the kill, then from the first one not acknowledged to the last, without a gap.
    for (const [key, ids] of Map.groupBy(published, (p) => p.key)) {
      const order = ids.map((p) => p.id);
      const index = (id: string) => order.indexOf(id);
      const b = beforeKill.filter((e) => e.key === key).map((e) => index(e.id));
      const a = afterKill.filter((e) => e.key === key).map((e) => index(e.id));
      assert.deepEqual(b, b.map((_, i) => i), `${key}: before the kill, the first ${b.length} in publish order`);
      assert.ok(a.length > 0 && a[0]! <= b.length, `${key}: after the restart it picks up where it was (${a[0]} ≤ ${b.length})`);
      assert.deepEqual(a, a.map((_, i) => a[0]! + i), `${key}: after the restart, in publish order to the end`);
      assert.equal(a.at(-1), order.length - 1);
    }
    const again = new Set(afterKill.filter((e) => beforeKill.some((x) => x.id === e.id)).map((e) => e.id));
    for (const id of heldAtKill) assert.ok(again.has(id), `${id} was in flight at the kill and ran again`);
    for (const id of again) assert.ok(pendingAtKill.has(id), `${id} ran again although it was acknowledged before the kill`);
    const charged = afterKill.filter((e) => !again.has(e.id) && e.attempt > 1).length;
    console.log(`# before the kill ${beforeKill.length} ran, ${pendingAtKill.size} read and unacknowledged, ${CONCURRENCY} in flight; ran again: ${again.size}; read ahead, first run after the restart as attempt 2: ${charged}`);
  } finally {
    await publisher.close();
    for (const p of procs) await p.kill();
  }
});
