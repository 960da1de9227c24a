/**
 * The worker loop and the run settler driven through their seams, without Redis or a sandbox: the
 * entries come from an in-memory source, the "sandbox" is a function per event with a delay, and
 * commits are recorded. What they check: per-key order with many keys in flight, that a failing
 * key holds back only itself, the retry decision, and what a stop leaves behind.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { DecodedEntry, WireEvent } from '../../runtime/events/wire.ts';
import type { FunctionHandle } from '../../runtime/loading/function-handle.ts';
import type { ConsumerGroup } from '../../runtime/loading/group-plan.ts';
import { silentLogger } from '../../runtime/logger.ts';
import { parseManifest } from '../../runtime/loading/manifest.ts';
import type { InvocationResult, Manifest } from '../../runtime/types.ts';
import type { CommitBatch } from '../../runtime/worker/commit-batch.ts';
import { CommitQueue } from '../../runtime/worker/commit-queue.ts';
import { Dispatcher } from '../../runtime/worker/dispatcher.ts';
import { PartitionWorker, type PartitionSource } from '../../runtime/worker/partition-worker.ts';
import type { RunContext } from '../../runtime/worker/run-context.ts';
import type { ChainJob } from '../../runtime/worker/dispatcher.ts';
import { settleMalformed, settleRun } from '../../runtime/worker/run-settler.ts';
import { Sleeper } from '../../runtime/worker/sleeper.ts';
import { compareStreamIds } from '../../runtime/redis/stream-id.ts';
import { ReadAheadBudget } from '../../runtime/worker/read-ahead-budget.ts';
import { StateCache } from '../../runtime/worker/state-cache.ts';
import { collectGarbage } from '../helpers/collect-garbage.ts';
import { waitFor } from '../helpers/wait-for.ts';

type Behaviour = (event: WireEvent, attempt: number) => { delayMs: number; fail?: string };

function handle(name: string, manifest: Partial<Manifest> = {}): FunctionHandle {
  const m = { ...parseManifest(`${name}.ts`, { events: ['**'] }), ...manifest };
  return { name, version: 'v1', manifest: m, file: `${name}.ts`, sandboxId: `${name}@v1`, matches: () => true };
}

let seq = 0;
function event(key: string | null, data: Record<string, unknown> = {}): WireEvent {
  return { id: `${1000 + ++seq}-0`, type: 't.x', key, dataText: JSON.stringify(data), time: Date.now(), headersText: null, target: null, hops: 0 };
}

/**
 * A worker over in-memory entries, its "sandbox" running `behave` per event. `dispatcher`: chains go
 * through a real {@link Dispatcher} (the functions' `concurrency`, and runs taken only when a slot
 * is free), as in the runtime; otherwise each chain runs as soon as it is handed in.
 */
function harness(fns: FunctionHandle[], behave: Behaviour, opts: { mode?: 'sequential' | 'parallel'; ordering?: 'key' | 'partition'; readsState?: boolean; dispatcher?: boolean; budget?: ReadAheadBudget } = {}) {
  const stream: DecodedEntry[] = [];
  let cursor = 0;
  let fenced = false;
  let wake: (() => void) | null = null;
  const invocations: { fn: string; key: string | null; id: string; attempt: number; start: number; end: number }[] = [];
  const batches: CommitBatch[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const sleeper = new Sleeper();
  const group: ConsumerGroup = { name: 'g', mode: opts.mode ?? 'sequential', members: fns, startFrom: 'latest' };
  const commits = new CommitQueue({
    write: async (batch) => { batches.push(batch); },
    fenced: () => assert.fail('fenced'), nextCommitId: () => String(++seq), sleep: (ms) => sleeper.sleep(ms), logger: silentLogger, where: {},
  });
  const source: PartitionSource = {
    ensureGroup: async () => {},
    read: async (c, count) => {
      if (fenced) throw new Error('FENCED this process no longer holds the partition lease');
      if (c !== '>') return { entries: [], tipId: null };
      const out = stream.slice(cursor, cursor + count);
      cursor += out.length;
      return { entries: out, tipId: out.length === 0 ? (stream.at(-1)?.id ?? '0-0') : null };
    },
    prior: async () => new Map(),
    settled: async () => [],
    wait: () => new Promise<void>((resolve) => { wake = resolve; }),
    connectionEpoch: () => 0,
  };
  const reports: { fn: string; id: string; status: string; attempt: number; reason?: string }[] = [];
  const loads: string[] = [];
  const stateCache = new StateCache(async (hashes) => {
    loads.push(...hashes);
    return hashes.map(() => ({}));
  });
  const byName = new Map(fns.map((f) => [f.name, f]));
  let worker: PartitionWorker | null = null;
  /** Events per chain, in the order chains started. */
  const chains: string[][] = [];
  type Job = Pick<ChainJob, 'onResult' | 'readState'> & { items: string };
  const runChain = async (fn: FunctionHandle, job: Job) => {
    const items = JSON.parse(job.items) as { event: { id: string; key: string | null }; attempt: number }[];
    chains.push(items.map((item) => item.event.id));
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    try {
      for (let i = 0; i < items.length; i++) {
        const item = items[i]!;
        const e = stream.find((s) => s.id === item.event.id) as WireEvent;
        const start = performance.now();
        if (opts.readsState === true && e.key !== null) await job.readState(e.key); // as an isolate asks on first use
        const b = behave(e, item.attempt);
        await new Promise((r) => setTimeout(r, b.delayMs));
        invocations.push({ fn: fn.name, key: e.key, id: e.id, attempt: item.attempt, start, end: performance.now() });
        const r: InvocationResult = b.fail === undefined
          ? { status: 'ok', emits: [], logs: [], durationMs: b.delayMs }
          : { status: 'error', error: { name: 'Error', message: b.fail, stack: '', kind: b.fail === 'never' ? 'non-retriable' : 'handler' }, logs: [], durationMs: b.delayMs };
        job.onResult(i, r);
        if (r.status !== 'ok') {
          for (let j = i + 1; j < items.length; j++) job.onResult(j, { status: 'skipped' });
          return;
        }
      }
    } finally {
      inFlight--;
    }
  };
  const dispatcher = opts.dispatcher === true
    ? new Dispatcher({ run: (req) => void runChain(fns.find((f) => f.sandboxId === req.fnId)!, req) })
    : null;
  const ctx: RunContext = {
    partition: 0, group, resolve: (n) => byName.get(n),
    dispatch: (fn, job) => (dispatcher !== null ? dispatcher.run(fn, job) : runChain(fn, { ...job, items: job.items() })),
    commits, state: stateCache, stateHash: (f, k) => `${f}:${k}`, usesState: new Set(),
    encodeEmits: () => [], idempotencyKey: (f, e) => `${f}:${e.id}`, eventJson: (e) => JSON.stringify({ id: e.id, key: e.key }),
    relayOutbox: () => {}, report: (f, _p, e, o) => reports.push({ fn: f.name, id: e.id, status: o.status, attempt: o.attempt, ...(o.reason ? { reason: o.reason } : {}) }),
    sleep: (ms) => sleeper.sleep(ms), stopping: () => worker?.stopping ?? true, now: Date.now, random: () => 0.5, maxChain: 10,
  };
  worker = new PartitionWorker({
    source, commits, settle: (items) => settleRun(ctx, items), settleMalformed: (e) => settleMalformed(ctx, e), wanted: () => true,
    members: () => fns, ordering: opts.ordering ?? 'key', batchSize: 50, maxBuffered: 1000, maxBufferedBytes: 1 << 30, maxChain: 10,
    sleep: (ms) => sleeper.sleep(ms), onFenced: () => {}, logger: silentLogger, where: {},
    ...(opts.budget !== undefined ? { budget: opts.budget } : {}),
    ...(dispatcher !== null ? { room: { has: () => dispatcher.hasRoom(fns[0]!), when: (wake: () => void) => dispatcher.whenRoom(fns[0]!, wake) } } : {}),
  });
  const w = worker;
  const acked = () => batches.flatMap((b) => b.acks);
  return {
    worker: w, source, invocations, reports, acked, batches, maxInFlight: () => maxInFlight, stateCache, loads, chains,
    /** Entries read so far. */
    read: () => cursor,
    /** Every read from now on is refused as fenced (the lease moved). */
    fenceReads: () => { fenced = true; },
    publish(...events: DecodedEntry[]) {
      stream.push(...events);
      wake?.();
    },
    async stop() {
      const done = w.stop();
      sleeper.wakeAll();
      wake?.();
      await done;
    },
  };
}

test('per-key order holds with random delays while different keys overlap', async () => {
  const h = harness([handle('f')], () => ({ delayMs: Math.floor(Math.random() * 4) }));
  const published: WireEvent[] = [];
  for (let i = 0; i < 400; i++) published.push(event(`k${i % 20}`, { i }));
  h.worker.start();
  h.publish(...published);
  await waitFor(() => h.acked().length === 400, { timeoutMs: 20_000, message: 'all acked' });
  await h.stop();
  for (let k = 0; k < 20; k++) {
    const want = published.filter((e) => e.key === `k${k}`).map((e) => e.id);
    const got = h.invocations.filter((r) => r.key === `k${k}`);
    assert.deepEqual(got.map((r) => r.id), want, `key k${k} in publish order, each once`);
    for (let j = 1; j < got.length; j++) assert.ok(got[j]!.start >= got[j - 1]!.end, `k${k}: one at a time`);
  }
  assert.ok(h.maxInFlight() > 1, `different keys overlapped (at most ${h.maxInFlight()})`);
});

test('with the dispatcher, a key\'s run is taken when a slot frees: it holds every event its key queued while it waited', async () => {
  const fn = handle('f', { concurrency: 1 });
  const first = [event('k1'), event('k2'), event('k3')];
  const started = new Set<string>();
  const h = harness([fn], (e) => {
    started.add(e.id);
    return { delayMs: e.id === first[0]!.id ? 100 : 1 };
  }, { dispatcher: true });
  h.worker.start();
  h.publish(...first);
  await waitFor(() => started.has(first[0]!.id), { message: 'k1 started' });
  // While k1's event holds the only slot, four more events of each key arrive.
  const later = Array.from({ length: 12 }, (_, i) => event(`k${(i % 3) + 1}`));
  h.publish(...later);
  await waitFor(() => h.acked().length === 15, { timeoutMs: 10_000, message: 'all acked' });
  await h.stop();
  const of = (key: string) => [...first, ...later].filter((e) => e.key === key).map((e) => e.id);
  // k2's and k3's runs were taken after the later events were read: one chain each, all five.
  assert.deepEqual(h.chains, [[first[0]!.id], of('k2'), of('k3'), of('k1').slice(1)]);
});

test('a failing key holds back only itself: the other keys of its partition go on during its backoff', async () => {
  const fn = handle('f', { retry: { attempts: 3, backoff: 'fixed', initialDelayMs: 300, maxDelayMs: 300 } });
  const bad = event('bad');
  const h = harness([fn], (e, attempt) => (e.id === bad.id && attempt < 3 ? { delayMs: 0, fail: 'boom' } : { delayMs: 1 }));
  const behind = event('bad');
  const others = Array.from({ length: 30 }, (_, i) => event(`ok${i}`));
  h.worker.start();
  h.publish(bad, behind, ...others);
  await waitFor(() => h.acked().length === 32, { timeoutMs: 10_000, message: 'all acked' });
  await h.stop();
  const firstRetryAt = h.invocations.find((r) => r.id === bad.id && r.attempt === 2)!.start;
  const othersDoneAt = Math.max(...h.invocations.filter((r) => r.key !== 'bad').map((r) => r.end));
  assert.ok(othersDoneAt < firstRetryAt, 'every other key finished while the failing key waited for its retry');
  assert.deepEqual(h.invocations.filter((r) => r.key === 'bad').map((r) => [r.id, r.attempt]), [[bad.id, 1], [bad.id, 2], [bad.id, 3], [behind.id, 1]], 'its key waited behind it');
  assert.deepEqual(h.reports.filter((r) => r.id === bad.id).map((r) => r.status), ['retry', 'retry', 'ok']);
});

test('the retry decision: attempts run out into the DLQ, a NonRetriableError goes there at once, the key continues', async () => {
  const fn = handle('f', { retry: { attempts: 2, backoff: 'fixed', initialDelayMs: 10, maxDelayMs: 10 } });
  const failing = event('a');
  const never = event('b');
  const after = [event('a'), event('b')];
  const h = harness([fn], (e) => (e.id === failing.id ? { delayMs: 0, fail: 'boom' } : e.id === never.id ? { delayMs: 0, fail: 'never' } : { delayMs: 0 }));
  h.worker.start();
  h.publish(failing, never, ...after);
  await waitFor(() => h.acked().length === 4, { timeoutMs: 10_000, message: 'all acked' });
  await h.stop();
  assert.deepEqual(h.reports.filter((r) => r.id === failing.id).map((r) => [r.status, r.attempt, r.reason]), [['retry', 1, undefined], ['dead-lettered', 2, 'failed']]);
  assert.deepEqual(h.reports.filter((r) => r.id === never.id).map((r) => [r.status, r.attempt, r.reason]), [['dead-lettered', 1, 'non-retriable']]);
  assert.deepEqual(after.map((e) => h.reports.find((r) => r.id === e.id)?.status), ['ok', 'ok']);
  const dead = h.batches.flatMap((b) => [...b.parts.values()].flatMap((p) => p.dead));
  assert.equal(dead.length, 2);
  const failures = h.batches.flatMap((b) => [...b.parts.values()].flatMap((p) => p.failures));
  assert.deepEqual(failures.map(([id, json]) => [id, (JSON.parse(json) as { attempts: number }).attempts]), [[failing.id, 1]], 'the failed attempt was made durable before the retry');
});

test("ordering 'partition' runs one event at a time across keys, in id order", async () => {
  const h = harness([handle('f')], () => ({ delayMs: Math.floor(Math.random() * 3) }), { ordering: 'partition' });
  const published = Array.from({ length: 60 }, (_, i) => event(`k${i % 7}`));
  h.worker.start();
  h.publish(...published);
  await waitFor(() => h.acked().length === 60, { timeoutMs: 10_000, message: 'all acked' });
  await h.stop();
  assert.deepEqual(h.invocations.map((r) => r.id), published.map((e) => e.id));
  assert.equal(h.maxInFlight(), 1);
});

test('a sequential group runs its members in order per event; the event is acked once both did', async () => {
  const h = harness([handle('first'), handle('second')], () => ({ delayMs: 1 }));
  const published = Array.from({ length: 20 }, (_, i) => event(`k${i % 4}`));
  h.worker.start();
  h.publish(...published);
  await waitFor(() => h.acked().length === 20, { timeoutMs: 10_000, message: 'all acked' });
  await h.stop();
  for (const e of published) {
    const [a, b] = ['first', 'second'].map((fn) => h.invocations.find((r) => r.fn === fn && r.id === e.id)!);
    assert.ok(a!.end <= b!.start, `first before second for ${e.id}`);
  }
  const marks = h.batches.flatMap((b) => [...b.parts.values()].flatMap((p) => p.marks));
  assert.equal(marks.length, 40, 'each member marked its completion (several members share the cursor)');
});

test('stop: the chains in flight finish and commit, a key in backoff stays pending, events never started are handed over as such', async () => {
  const fn = handle('f', { retry: { attempts: 5, backoff: 'fixed', initialDelayMs: 60_000, maxDelayMs: 60_000 } });
  const stuck = event('s');
  const h = harness([fn], (e) => (e.id === stuck.id ? { delayMs: 0, fail: 'boom' } : { delayMs: 200 }));
  const behind = [event('s'), event('s')];
  const slow = event('x');
  h.worker.start();
  h.publish(stuck, ...behind, slow);
  await waitFor(() => h.reports.some((r) => r.id === stuck.id && r.status === 'retry'), { timeoutMs: 5_000, message: 'in backoff, slow in flight' });
  await h.stop();
  assert.ok(h.acked().includes(slow.id), 'the chain in flight finished and was committed');
  assert.ok(!h.acked().includes(stuck.id), 'the event in backoff stays pending for the next owner');
  const released = h.batches.flatMap((b) => [...b.parts.values()].flatMap((p) => p.released));
  assert.deepEqual(released.sort(), behind.map((e) => e.id).sort(), 'the events behind it never started: their redelivery is not an attempt');
});

/** A started worker sharing `budget`, whose key "held" fails its first event and then waits a minute; `holdKey()` publishes that event and 199 behind it, and resolves once it is in backoff. */
function withHeldKey(budget: ReadAheadBudget) {
  const fn = handle('f', { retry: { attempts: 5, backoff: 'fixed', initialDelayMs: 60_000, maxDelayMs: 60_000 } });
  const held = event('held');
  const h = harness([fn], (e) => (e.id === held.id ? { delayMs: 0, fail: 'boom' } : { delayMs: 0 }), { budget });
  h.worker.start();
  const holdKey = async () => {
    h.publish(held, ...Array.from({ length: 199 }, () => event('held')));
    await waitFor(() => h.reports.some((r) => r.id === held.id && r.status === 'retry'), { timeoutMs: 5_000, message: 'the held key in backoff' });
  };
  return { h, holdKey };
}

test('while the process\'s read-ahead is full, a worker holding a batch reads no more; its stop gives its bytes back', async () => {
  const budget = new ReadAheadBudget(1000);
  const { h, holdKey } = withHeldKey(budget);
  // Each entry counts about 70 bytes, so one read of 50 fills the budget of 1,000.
  await holdKey();
  await new Promise((r) => setTimeout(r, 50)); // turns of the loop in which it could read on
  assert.equal(budget.full, true);
  assert.equal(h.read(), 50, 'one batch read, then no more');
  await h.stop();
  assert.equal(budget.bytes, 0, 'what it held no longer counts');
});

test('a fenced worker gives its read-ahead back at once, though nobody stops it and its held key still sleeps its backoff', async () => {
  const budget = new ReadAheadBudget(1 << 30);
  const { h, holdKey } = withHeldKey(budget);
  await holdKey();
  await waitFor(() => h.read() === 200, { timeoutMs: 5_000, message: 'all 200 read' });
  assert.ok(budget.bytes > 0);
  h.fenceReads();
  h.publish(event('other')); // wakes the worker: its read is refused
  await waitFor(() => budget.bytes === 0, { timeoutMs: 5_000, message: 'the fenced worker\'s bytes given back, with no stop' });
  assert.equal(h.worker.stopping, true);
  await h.stop();
  assert.equal(budget.bytes, 0);
});

test('what a worker settles stops counting at once; one waiting for the process\'s read-ahead reads on when others make room', async () => {
  const budget = new ReadAheadBudget(10_000);
  const { h, holdKey } = withHeldKey(budget);
  h.publish(...Array.from({ length: 30 }, (_, i) => event(`k${i}`)));
  await waitFor(() => h.reports.filter((r) => r.status === 'ok').length === 30, { timeoutMs: 5_000, message: '30 events settled' });
  assert.equal(budget.bytes, 0, 'settled: no longer counted, before any stop');
  budget.add(20_000); // other workers' entries: the budget is full
  await holdKey();
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(h.read(), 80, 'one batch read, then held back by the full budget');
  budget.release(20_000); // they settled: room again
  await waitFor(() => h.read() > 80, { timeoutMs: 5_000, message: 'reading again once the budget had room' });
  await h.stop();
  assert.equal(budget.bytes, 0);
});

test('a read that comes back short is followed by a wait past its last entry, not by an empty read', async () => {
  const h = harness([handle('f')], () => ({ delayMs: 0 }));
  const calls: string[] = [];
  const { read, wait } = h.source;
  h.source.read = async (cursor, count) => {
    const r = await read(cursor, count);
    if (cursor === '>') calls.push(`read ${r.entries.length}`);
    return r;
  };
  h.source.wait = (afterId) => {
    calls.push(`wait ${afterId}`);
    return wait(afterId);
  };
  h.worker.start();
  await waitFor(() => calls.length === 2, { message: 'the first empty read and its wait' });
  assert.deepEqual(calls, ['read 0', 'wait 0-0']);
  calls.length = 0;
  const published = [event('a'), event('b'), event('a')];
  h.publish(...published);
  await waitFor(() => h.acked().length === 3, { message: 'all acked' });
  await waitFor(() => calls.length === 2, { message: 'the read and the wait after it' });
  // 3 entries, fewer than the batch of 50: the stream had no more, so the worker waits past the last.
  assert.deepEqual(calls, ['read 3', `wait ${published[2]!.id}`]);
  await h.stop();
});

test('a function that starts using state in a run holds its key until the run ends: nothing stays cached after', async () => {
  const h = harness([handle('f')], () => ({ delayMs: 1 }), { readsState: true });
  h.worker.start();
  h.publish(...Array.from({ length: 40 }, (_, i) => event(`k${i % 5}`, { i })));
  await waitFor(() => h.acked().length === 40, { message: 'all acked' });
  await h.stop();
  assert.ok(h.loads.length >= 5, `each key's state was loaded (${h.loads.length} loads)`);
  assert.equal(h.stateCache.size, 0, 'no entry outlives its run');
});

test('stop ends a worker whose empty read was in flight: the wait it starts after being woken does not hold the stop', { timeout: 10_000 }, async () => {
  const h = harness([handle('f')], () => ({ delayMs: 0 }));
  let release: (() => void) | null = null;
  let reads = 0;
  const read = h.source.read;
  h.source.read = async (c, count) => {
    if (c === '>' && ++reads === 1) await new Promise<void>((resolve) => { release = resolve; });
    return read(c, count);
  };
  h.source.wait = () => new Promise<void>(() => {}); // an idle stream: nothing ever arrives
  h.worker.start();
  await waitFor(() => release !== null, { timeoutMs: 5_000, message: 'a read in flight' });
  const stopped = h.worker.stop(); // wakes nothing: the worker is not waiting yet
  release!();
  await stopped;
});

test('a malformed entry is dead-lettered for the members and acked without holding any key', async () => {
  const h = harness([handle('f')], () => ({ delayMs: 0 }));
  const ok = event('k');
  h.worker.start();
  h.publish({ id: '999-0', reason: 'missing field "type"', fields: [], type: null }, ok);
  await waitFor(() => h.acked().length === 2, { timeoutMs: 5_000, message: 'both acked' });
  await h.stop();
  assert.deepEqual(h.reports.map((r) => [r.id, r.status]), [['999-0', 'dead-lettered'], [ok.id, 'ok']]);
});

test('a stop that does not finish says which step it waits for', async () => {
  const lines: string[] = [];
  const logger = { ...silentLogger, warn: (_obj: object, msg?: string) => { lines.push(msg ?? ''); } };
  let reading = false;
  const source: PartitionSource = {
    ensureGroup: async () => {},
    // A Redis reply that never comes (what a command lost in a reconnect would look like).
    read: () => { reading = true; return new Promise(() => {}); },
    prior: async () => new Map(),
    settled: async () => [],
    wait: () => new Promise(() => {}),
    connectionEpoch: () => 0,
  };
  const sleeper = new Sleeper();
  const commits = new CommitQueue({
    write: async () => {}, fenced: () => {}, nextCommitId: () => String(++seq), sleep: (ms) => sleeper.sleep(ms), logger: silentLogger, where: {},
  });
  const worker = new PartitionWorker({
    source, commits, settle: async () => 0, settleMalformed: () => {}, wanted: () => true, members: () => [],
    ordering: 'key', batchSize: 10, maxBuffered: 100, maxBufferedBytes: 1 << 20, maxChain: 10,
    sleep: (ms) => sleeper.sleep(ms), onFenced: () => {}, logger, where: { partition: 3 }, stopWarnMs: 50,
  });
  worker.start();
  await waitFor(() => reading, { timeoutMs: 5_000, message: 'the read is in flight' });
  void worker.stop();
  await waitFor(() => lines.length > 0, { timeoutMs: 5_000, message: 'the slow stop is logged' });
  assert.match(lines[0]!, /^worker not stopped after 0\.05 s: still waiting for its read loop \(a read \(Redis\)\)$/);
});

test('an overtaken read gives its entries back unstarted, and the pending list is read again, in id order, before anything later runs', async () => {
  const h = harness([handle('f')], () => ({ delayMs: 1 }));
  const first = [event('a'), event('b')];
  const taken = [event('a'), event('b')]; // read by another process, whose lease had run out
  const mine = [event('a'), event('b')]; // this worker's read that comes after it
  const later = [event('a')];
  const delivered: DecodedEntry[] = [];
  const pendingReads: string[] = [];
  let reads = 0;
  h.source.read = async (cursor) => {
    if (cursor !== '>') {
      pendingReads.push(cursor);
      const acked = new Set(h.acked());
      return { entries: delivered.filter((e) => !acked.has(e.id) && compareStreamIds(e.id, cursor) > 0).slice(0, 3), tipId: null };
    }
    reads++;
    if (reads === 1) {
      delivered.push(...first);
      return { entries: first, tipId: null };
    }
    if (reads === 2) {
      await waitFor(() => h.acked().length === 2, { message: 'the first read done' });
      delivered.push(...taken, ...mine);
      return { entries: [], tipId: null, overtaken: mine.map((e) => e.id) };
    }
    if (reads === 3) {
      delivered.push(...later);
      return { entries: later, tipId: null };
    }
    return { entries: [], tipId: later[0]!.id };
  };
  h.source.wait = () => new Promise((resolve) => { if (reads < 4) setTimeout(resolve, 5); });
  h.publish(...first, ...taken, ...mine, ...later); // what the "sandbox" looks events up in; reads come from the stub above
  h.worker.start();
  await waitFor(() => h.acked().length === 7, { timeoutMs: 10_000, message: 'all acked' });
  const released = h.batches.flatMap((b) => [...b.parts.values()].flatMap((p) => p.released));
  void h.worker.stop();
  assert.deepEqual(released, mine.map((e) => e.id), 'the overtaken read\'s entries were given back: their redelivery is not an attempt');
  assert.deepEqual(h.invocations.filter((r) => r.key === 'a').map((r) => r.id), [first[0], taken[0], mine[0], later[0]].map((e) => e!.id), 'key a in id order, each once');
  assert.deepEqual(h.invocations.filter((r) => r.key === 'b').map((r) => r.id), [first[1], taken[1], mine[1]].map((e) => e!.id), 'key b in id order, each once');
  assert.ok(pendingReads.filter((c) => c === '0-0').length >= 2, `the pending list was read again from the start (${pendingReads.join(' ')})`);
  assert.deepEqual(h.invocations.map((r) => r.attempt), [1, 1, 1, 1, 1, 1, 1], 'nobody was charged an attempt');
});

test('an idle worker keeps nothing of the waits it finished (each used to stay referenced until the worker stopped)', async () => {
  const h = harness([handle('f')], () => ({ delayMs: 0 }));
  const waits: WeakRef<object>[] = [];
  let hang: (() => void) | null = null;
  h.source.wait = () => {
    if (waits.length === 50) return new Promise<void>((resolve) => { hang = resolve; });
    const woken = { wake: waits.length }; // what the wait resolves with: a leaked wait keeps it
    waits.push(new WeakRef(woken));
    return Promise.resolve(woken as unknown as void);
  };
  h.worker.start();
  await waitFor(() => hang !== null, { message: '50 waits ended by a wake-up, the 51st begun' });
  await collectGarbage();
  const kept = waits.filter((w) => w.deref() !== undefined).length;
  assert.equal(kept, 0, `${kept} of 50 finished waits are still referenced`);
  await h.stop();
});
