/**
 * KeyQueues, the per-key queues of one partition's worker: runs per key in id order, a key held
 * while its run is out, what a partly settled run gives back, and what a taken lane leaves behind.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KeyQueues, type Run } from '../../runtime/worker/key-queues.ts';
import { collectGarbage } from '../helpers/collect-garbage.ts';

interface Entry { id: string; key: string | null }
let seq = 0;
const entry = (key: string | null): Entry => ({ id: `${++seq}-0`, key });
const ids = (run: Run<Entry> | null) => run?.entries.map((e) => e.id) ?? null;

test('a key\'s queued entries come out as one run, in order, and the key is held until the run is released', () => {
  const q = new KeyQueues<Entry>('key');
  const [a1, b1, a2] = [entry('a'), entry('b'), entry('a')];
  for (const e of [a1, b1, a2]) q.push(e);
  const ra = q.take(10);
  assert.deepEqual(ids(ra), [a1.id, a2.id]);
  const a3 = entry('a');
  q.push(a3); // behind the run out: not ready until it is released
  const rb = q.take(10);
  assert.deepEqual(ids(rb), [b1.id]);
  assert.equal(q.take(10), null, 'a is held, b is out');
  assert.equal(q.held, 2);
  q.release(ra!);
  assert.deepEqual(ids(q.take(10)), [a3.id]);
  q.release(rb!);
  assert.equal(q.size, 1, 'a3 is out and unsettled');
});

test('a run settled in part puts its unsettled entries back at the front of its key, in order', () => {
  const q = new KeyQueues<Entry>('key');
  const es = [entry('k'), entry('k'), entry('k')];
  for (const e of es) q.push(e);
  const run = q.take(10)!;
  q.release(run, 1);
  assert.equal(q.size, 2);
  assert.deepEqual(ids(q.take(10)), [es[1]!.id, es[2]!.id]);
  assert.deepEqual(q.unstarted(), [], 'handed out again: none of them is unstarted');
});

test("ordering 'partition' makes the partition one key; unkeyed events have no order with 'key'", () => {
  const byPartition = new KeyQueues<Entry>('partition');
  const es = [entry('a'), entry('b'), entry(null)];
  for (const e of es) byPartition.push(e);
  assert.deepEqual(ids(byPartition.take(10)), es.map((e) => e.id));
  assert.equal(byPartition.take(10), null);

  const byKey = new KeyQueues<Entry>('key');
  const [u1, u2] = [entry(null), entry(null)];
  byKey.push(u1);
  byKey.push(u2);
  assert.deepEqual(ids(byKey.take(10)), [u1.id]);
  assert.deepEqual(ids(byKey.take(10)), [u2.id], 'each unkeyed event is a lane of its own');
});

test('a run holds at most `max` entries; the rest of its key follows once it is released', () => {
  const q = new KeyQueues<Entry>('key');
  const es = Array.from({ length: 5 }, () => entry('k'));
  for (const e of es) q.push(e);
  const first = q.take(2)!;
  assert.deepEqual(ids(first), es.slice(0, 2).map((e) => e.id));
  q.release(first);
  assert.deepEqual(ids(q.take(10)), es.slice(2).map((e) => e.id));
});

test('lanes taken and released are not kept: a steady trickle of keys does not pile up in the queues', async () => {
  const q = new KeyQueues<Entry>('key');
  const lanes: WeakRef<object>[] = [];
  // In a function of its own, so that no local of this test's frame still points at a lane.
  const settle = (key: string) => {
    q.push(entry(key));
    const run = q.take(10)!;
    lanes.push(new WeakRef(run.lane));
    q.release(run);
  };
  for (let i = 0; i < 50; i++) settle(`key-${i}`);
  await collectGarbage();
  const kept = lanes.filter((l) => l.deref() !== undefined).length;
  assert.equal(kept, 0, `${kept} of 50 settled keys' lanes are still referenced`);
  assert.equal(q.size, 0);
});
