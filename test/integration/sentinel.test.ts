/**
 * fnrun behind Sentinel: a primary fails over to its replica while events are published and
 * handled. Publishes wait for the replica (`waitForReplicas`), so every publish that resolved
 * survives the failover; acknowledgements the replica had not received yet come back as
 * redeliveries, never as losses.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { NotReplicatedError, Publisher, Runtime, createJsonLogger } from '../../runtime/index.ts';
import { fileURLToPath } from 'node:url';
import { Recorder } from '../helpers/recorder.ts';
import { startRedisSentinel, type TestRedisSentinel } from '../helpers/redis-sentinel.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { useTestEnv } from '../helpers/test-env.ts';

let sentinel: TestRedisSentinel;
before(async () => { sentinel = await startRedisSentinel(); });
after(async () => { await sentinel?.stop(); });
const single = useTestEnv('no-replica', { topology: 'single' });

test('waitForReplicas: a publish no replica acknowledged fails with NotReplicatedError', async () => {
  const publisher = await Publisher.connect({ redis: single.redis.url, namespace: 'w', waitForReplicas: { replicas: 1, timeoutMs: 50 } });
  try {
    await assert.rejects(publisher.publish('a.b', 'k', 1), (e: unknown) => e instanceof NotReplicatedError && /only 0 of 1 replica/.test(e.message));
  } finally {
    await publisher.close();
  }
});

test('a failover in the middle of a run: every published event handled, per-key order kept', async () => {
  const recorder = new Recorder();
  // alpha (solo) and beta + gamma (a group) log "seen <key> <seq>" for every event.
  const runtime = await Runtime.create({
    redis: sentinel.url, namespace: 'failover', partitions: 4, functionsDir: fileURLToPath(new URL('../fixtures/start', import.meta.url)),
    leases: { leaseTtlMs: 2000 }, logger: createJsonLogger('silent'), onInvocation: recorder.record,
  });
  await runtime.start();
  const publisher = await Publisher.connect({ redis: sentinel.url, namespace: 'failover', waitForReplicas: { replicas: 1, timeoutMs: 1000 } });
  const published = new Map<string, number>(); // key -> events published (seq 0 .. n-1)
  let running = true;
  const producer = (async () => {
    for (let n = 0; running; n++) {
      const key = `k${n % 10}`;
      const seq = published.get(key) ?? 0;
      // Retried with the same dedupe id until it resolves: during the switch it fails or is not replicated.
      for (;;) {
        try {
          await publisher.publish('flow.tick', key, { seq }, { dedupeId: `${key}/${seq}` });
          break;
        } catch {
          await new Promise((r) => setTimeout(r, 50));
        }
      }
      published.set(key, seq + 1);
      await new Promise((r) => setTimeout(r, 2));
    }
  })();
  const seen = (fn: string) => {
    const byKey = new Map<string, number[]>();
    for (const r of recorder.of(fn)) {
      const [, key, seq] = r.logs?.find((l) => l.msg.startsWith('seen '))?.msg.split(' ') ?? [];
      byKey.set(key!, [...(byKey.get(key!) ?? []), Number(seq)]);
    }
    return byKey;
  };
  const complete = (fn: string) => [...published].every(([key, n]) => new Set(seen(fn).get(key)).size >= n);
  try {
    await waitFor(() => recorder.count('alpha') >= 200, { timeoutMs: 30_000, message: 'handled before the failover' });
    const { from, to } = await sentinel.failover();
    assert.notEqual(from, to);
    const handledAtSwitch = recorder.count('alpha');
    await waitFor(() => recorder.count('alpha') >= handledAtSwitch + 200, { timeoutMs: 60_000, message: 'handled after the failover' });
    running = false;
    await producer;
    for (const fn of ['alpha', 'beta', 'gamma']) {
      await waitFor(() => complete(fn), { timeoutMs: 60_000, message: `${fn} handled every published event` });
      for (const [key, seqs] of seen(fn)) {
        // A redelivery repeats events already seen (an ack the replica had not received); a
        // publish retried after a failover may also appear twice. Either way, the first handling
        // of each event must come in publish order, and none may be missing.
        const firsts = seqs.filter((seq, i) => seqs.indexOf(seq) === i);
        assert.deepEqual(firsts, Array.from({ length: published.get(key)! }, (_, i) => i), `${fn}: key ${key}`);
      }
    }
    assert.equal(recorder.all.filter((r) => r.status !== 'ok').length, 0, 'no retries, no dead letters');
  } finally {
    running = false;
    await producer;
    await publisher.close();
    await runtime.stop();
  }
});
