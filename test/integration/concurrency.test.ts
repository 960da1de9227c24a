/**
 * Key-ordered concurrency through the whole runtime: real Redis, real esbuild, real isolates, and
 * handlers that `fetch` a probe server on 127.0.0.1 (test/helpers/probe-server.ts), which counts
 * the invocations in flight — per function, per key, per partition — as they happen. Nothing here
 * is timed: the tests count what ran, what overlapped, and what had run when something else did.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Keys, Publisher, Runtime, createJsonLogger, type EventInput, type RuntimeOptions } from '../../runtime/index.ts';
import { probeFunction, ProbeServer } from '../helpers/probe-server.ts';
import { Recorder } from '../helpers/recorder.ts';
import { useTestEnv } from '../helpers/test-env.ts';
import { waitFor } from '../helpers/wait-for.ts';

const env = useTestEnv('concurrency');
const quiet = createJsonLogger('silent');
let probe: ProbeServer;

before(async () => { probe = await ProbeServer.start(); });
after(() => probe.close());

/** A running runtime over freshly written probe functions, with a publisher on its namespace. */
async function setup(namespace: string, fns: Record<string, Record<string, unknown>>, opts: Partial<RuntimeOptions> & { partitions: number }) {
  probe.reset();
  const dir = join(env.dir, namespace);
  mkdirSync(dir, { recursive: true });
  for (const [name, manifest] of Object.entries(fns)) writeFileSync(join(dir, `${name}.ts`), probeFunction(probe.port, name, manifest));
  const recorder = new Recorder();
  const runtime = await Runtime.create({ redis: env.redis.url, namespace, functionsDir: dir, logger: quiet, onInvocation: recorder.record, ...opts });
  await runtime.start();
  const failures = runtime.loadFailures.map((f) => `${f.name}: ${f.error.message}`);
  if (failures.length > 0) await runtime.stop();
  assert.deepEqual(failures, []);
  const publisher = await Publisher.connect({ redis: env.redis.url, namespace, partitions: opts.partitions });
  return {
    runtime, recorder, publisher,
    /** Publishes `events`; returns each one's `partition/id` and key, in publish order. */
    async publish(events: EventInput[]): Promise<{ id: string; key: string | null }[]> {
      const out: { id: string; key: string | null }[] = [];
      for (let i = 0; i < events.length; i += 500) {
        const chunk = events.slice(i, i + 500);
        (await publisher.publishBatch(chunk)).forEach((r, j) => out.push({ id: `${r.partition}/${r.id}`, key: chunk[j]!.key ?? null }));
      }
      return out;
    },
    async close() {
      probe.release();
      await publisher.close();
      await runtime.stop();
    },
  };
}

/** `fn`'s `ok` records, as `partition/id`, per key in the order they were reported. */
function okByKey(recorder: Recorder, fn: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const r of recorder.of(fn, 'ok')) out.set(r.key ?? '', [...(out.get(r.key ?? '') ?? []), `${r.partition}/${r.eventId}`]);
  return out;
}

function publishedByKey(published: { id: string; key: string | null }[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const p of published) out.set(p.key ?? '', [...(out.get(p.key ?? '') ?? []), p.id]);
  return out;
}

const records = (recorder: Recorder, fn: string, id: string) => recorder.of(fn).filter((r) => `${r.partition}/${r.eventId}` === id);

describe('per-key order with many invocations in flight', () => {
  test('random delays, concurrency 8 and 3: each function sees each key in publish order, exactly once, while keys overlap up to its concurrency', async () => {
    const s = await setup('order', { wide: { concurrency: 8 }, narrow: { concurrency: 3 } }, { partitions: 4 });
    try {
      const events: EventInput[] = Array.from({ length: 600 }, (_, i) => ({ type: 'probe.item', key: `key-${i % 40}`, data: { i, ms: Math.floor(Math.random() * 12) } }));
      const published = await s.publish(events);
      await waitFor(() => s.recorder.count('wide') >= 600 && s.recorder.count('narrow') >= 600, { timeoutMs: 120_000, message: 'every event handled by both functions' });
      const want = publishedByKey(published);
      for (const [fn, concurrency] of [['wide', 8], ['narrow', 3]] as const) {
        assert.equal(s.recorder.of(fn).length, 600, `${fn}: one outcome per event (no retries, no duplicates)`);
        assert.equal(probe.ran(fn).length, 600, `${fn}: each event ran exactly once`);
        const seen = okByKey(s.recorder, fn);
        for (const [key, ids] of want) assert.deepEqual(seen.get(key), ids, `${fn}: ${key} in publish order`);
        // What the handlers themselves saw: the probe's arrival order per key.
        for (const [key, ids] of want) assert.deepEqual(probe.entries.filter((e) => e.fn === fn && e.key === key).map((e) => e.id), ids, `${fn}: ${key} started in publish order`);
        const most = probe.maxInFlight(fn);
        assert.ok(most > 1, `${fn}: different keys overlapped (at most ${most} in flight)`);
        assert.ok(most <= concurrency, `${fn}: at most concurrency ${concurrency} in flight, saw ${most}`);
        const perPartition = [0, 1, 2, 3].map((p) => probe.maxInFlight(fn, p));
        assert.ok(perPartition.some((n) => n > 1), `${fn}: keys of one partition overlapped (most in flight per partition: ${perPartition.join(', ')})`);
      }
      assert.deepEqual(probe.keyOverlaps, [], 'no key ever had two invocations in flight at once');
    } finally {
      await s.close();
    }
  });

  test("ordering 'partition': one invocation at a time per partition, in stream order", async () => {
    const s = await setup('strict', { strict: { concurrency: 8, ordering: 'partition' } }, { partitions: 2 });
    try {
      const events: EventInput[] = Array.from({ length: 200 }, (_, i) => ({ type: 'probe.item', key: `key-${i % 20}`, data: { ms: Math.floor(Math.random() * 4) } }));
      const published = await s.publish(events);
      await waitFor(() => s.recorder.count('strict') >= 200, { timeoutMs: 60_000, message: 'every event handled' });
      for (const p of [0, 1]) {
        const want = published.filter((e) => e.id.startsWith(`${p}/`)).map((e) => e.id);
        assert.ok(want.length > 0, `partition ${p} got events`);
        assert.deepEqual(probe.entries.filter((e) => e.partition === p).map((e) => e.id), want, `partition ${p} ran in stream order`);
        assert.equal(probe.maxInFlight('strict', p), 1, `partition ${p}: one invocation at a time`);
      }
      assert.ok(probe.maxInFlight('strict') <= 2, 'at most one per partition');
    } finally {
      await s.close();
    }
  });
});

describe('a failing key holds back only itself', () => {
  test('while one key retries, the other keys of its partition all complete; then it succeeds and its later events follow in order', async () => {
    const s = await setup('holb', { f: { concurrency: 4, retry: { attempts: 100, backoff: 'fixed', initialDelayMs: 100, maxDelayMs: 100 } } }, { partitions: 1 });
    try {
      probe.closed.add('bad');
      const events: EventInput[] = [
        { type: 'probe.item', key: 'bad', data: { gate: 'bad' } },
        ...Array.from({ length: 5 }, (_, i) => ({ type: 'probe.item', key: 'bad', data: { behind: i } })),
        ...Array.from({ length: 100 }, (_, i) => ({ type: 'probe.item', key: `ok-${i % 20}`, data: { ms: Math.floor(Math.random() * 5) } })),
      ];
      const published = await s.publish(events);
      const bad = published[0]!.id;
      const others = published.filter((p) => p.key !== 'bad');
      await waitFor(() => others.every((o) => s.recorder.of('f', 'ok').some((r) => `${r.partition}/${r.eventId}` === o.id)), { timeoutMs: 60_000, message: 'every other key of the partition completed' });
      // The count at the moment every other key was done: the failing key was still failing, and
      // nothing behind it had run.
      const badSoFar = records(s.recorder, 'f', bad);
      assert.ok(badSoFar.length >= 1 && badSoFar.every((r) => r.status === 'retry'), `the failing event was still in retry: ${JSON.stringify(badSoFar.map((r) => r.status))}`);
      assert.deepEqual(probe.entries.filter((e) => e.key === 'bad'), [], 'nothing of the failing key ran meanwhile');
      probe.closed.delete('bad');
      await waitFor(() => s.recorder.count('f') >= 106, { timeoutMs: 30_000, message: 'the failing key recovered' });
      const history = records(s.recorder, 'f', bad).map((r) => r.status);
      assert.equal(history.at(-1), 'ok');
      assert.ok(history.slice(0, -1).every((st) => st === 'retry'));
      assert.deepEqual(probe.entries.filter((e) => e.key === 'bad').map((e) => e.id), published.slice(0, 6).map((p) => p.id), 'then its key, in order');
      for (const [key, ids] of publishedByKey(others)) assert.deepEqual(okByKey(s.recorder, 'f').get(key), ids, `${key} in order`);
    } finally {
      await s.close();
    }
  });

  test('at maxBuffered the partition stops reading behind a held key (backpressure); once it recovers nothing was lost', async () => {
    const maxBuffered = 10;
    const batchSize = 5;
    const s = await setup('bound', { f: { concurrency: 4, retry: { attempts: 100, backoff: 'fixed', initialDelayMs: 100, maxDelayMs: 100 } } }, { partitions: 1, maxBuffered, batchSize });
    try {
      probe.closed.add('held');
      const events: EventInput[] = [
        { type: 'probe.item', key: 'held', data: { gate: 'held' } },
        ...Array.from({ length: 29 }, () => ({ type: 'probe.item', key: 'held', data: {} })),
        ...Array.from({ length: 30 }, (_, i) => ({ type: 'probe.item', key: `free-${i % 10}`, data: {} })),
      ];
      const published = await s.publish(events);
      // A few retries of the held key: several turns of the worker loop went by meanwhile.
      await waitFor(() => records(s.recorder, 'f', published[0]!.id).length >= 5, { timeoutMs: 30_000, message: 'the held key retried' });
      const client = env.redis.client();
      const stream = new Keys('bound').partition(0).events;
      const [pending] = (await client.xpending(stream, 'fn:f')) as [number];
      assert.ok(pending <= maxBuffered + batchSize - 1, `reading stopped at the bound: ${pending} entries read and unsettled`);
      assert.deepEqual(probe.entries, [], 'the free keys behind the bound were not read, so none ran (backpressure)');
      probe.closed.delete('held');
      await waitFor(() => s.recorder.count('f') >= 60, { timeoutMs: 60_000, message: 'everything handled once the key recovered' });
      assert.equal(probe.entries.length, 60, 'every event ran once: nothing lost, nothing twice');
      for (const [key, ids] of publishedByKey(published)) assert.deepEqual(okByKey(s.recorder, 'f').get(key), ids, `${key} in order`);
      const [left] = (await client.xpending(stream, 'fn:f')) as [number];
      assert.equal(left, 0);
    } finally {
      await s.close();
    }
  });
});

describe('the read-ahead of the whole process is bounded', () => {
  test('past maxBufferedBytesPerProcess a function whose every event fails reads no further ahead, and a healthy one beside it still handles everything', async () => {
    const namespace = 'budget';
    const partitions = 4;
    const batchSize = 10;
    const budget = 16 * 1024;
    mkdirSync(join(env.dir, namespace), { recursive: true });
    // Every event fails and waits an hour for its retry: each is a held key, and nothing of `down` settles.
    writeFileSync(join(env.dir, namespace, 'down.ts'), "export const config = { events: ['probe.*'], retry: { attempts: 100, backoff: 'fixed', initialDelayMs: 3600000, maxDelayMs: 3600000 } };\nexport default async function handler() { throw new Error('the downstream is down'); }\n");
    const warnings: string[] = [];
    const logger = { ...quiet, warn: (_: object, msg?: string) => { warnings.push(msg ?? ''); } };
    // Its own bounds would let each (function, partition) hold all 2,000 events: only the process's bound is in the way.
    const s = await setup(namespace, { up: { concurrency: 16 } }, { partitions, batchSize, maxBuffered: 100_000, maxBufferedBytes: 1 << 30, maxBufferedBytesPerProcess: budget, logger });
    try {
      const published = await s.publish(Array.from({ length: 2000 }, (_, i) => ({ type: 'probe.item', key: `key-${i}`, data: {} })));
      await waitFor(() => s.recorder.count('up', 'ok') >= 2000, { timeoutMs: 120_000, message: 'the healthy function handled every event' });
      assert.deepEqual([...okByKey(s.recorder, 'up').keys()].length, published.length, 'each event once');
      const client = env.redis.client();
      let read = 0;
      for (let p = 0; p < partitions; p++) read += ((await client.xpending(new Keys(namespace).partition(p).events, 'fn:down')) as [number])[0];
      // An entry here counts its data, key and 64 bytes: about 75 bytes. The bound, plus about two
      // batches per worker (one it may always hold, one read as the budget opened): under 400.
      assert.ok(read < 600, `down read ${read} of 2000 entries ahead`);
      assert.ok(read >= batchSize, `down read ${read}: every worker may hold a batch`);
      assert.ok(s.recorder.count('down', 'retry') >= batchSize, 'down ran what it read, and each failed');
      assert.ok(warnings.some((w) => w.includes('maxBufferedBytesPerProcess')), `the operator is told: ${JSON.stringify(warnings)}`);
      // What up settled no longer counts: only what down holds (about 75 bytes an entry) does.
      assert.ok(s.runtime.readAhead.bytes <= read * 100, `${s.runtime.readAhead.bytes} bytes counted for the ${read} entries down holds`);
    } finally {
      await s.close();
    }
  });
});

describe('one invocation misbehaving among many in flight in one isolate', () => {
  /** Six invocations of other keys held at the probe, then `mode` on key `culprit` (whose own probe request is answered at once). */
  async function beside(namespace: string, mode: string, manifest: Record<string, unknown>, data: Record<string, unknown> = {}) {
    const s = await setup(namespace, { f: { concurrency: 8, instances: 1, retry: { attempts: 2, backoff: 'fixed', initialDelayMs: 10, maxDelayMs: 10 }, ...manifest } }, { partitions: 1 });
    probe.hold = (e) => e.key !== 'culprit';
    const bystanders = await s.publish(Array.from({ length: 6 }, (_, i) => ({ type: 'probe.item', key: `by-${i}`, data })));
    await waitFor(() => probe.held === 6, { timeoutMs: 30_000, message: 'six invocations in flight' });
    const [culprit] = await s.publish([{ type: 'probe.item', key: 'culprit', data: { mode } }]);
    return { s, bystanders, culprit: culprit!.id };
  }

  /** Each bystander: one outcome, ok at its first attempt (never charged). */
  function uncharged(s: { recorder: Recorder }, bystanders: { id: string; key: string | null }[]): void {
    for (const b of bystanders) assert.deepEqual(records(s.recorder, 'f', b.id).map((r) => [r.status, r.attempt]), [['ok', 1]], `${b.key} was not charged`);
  }

  /** Waits for the culprit's dead letter: both of its attempts failed, each with `kind`. */
  async function culpritDeadLettered(s: { recorder: Recorder }, culprit: string, kind: string, timeoutMs = 30_000): Promise<void> {
    await waitFor(() => records(s.recorder, 'f', culprit).some((r) => r.status === 'dead-lettered'), { timeoutMs, message: `the ${kind} culprit dead-lettered` });
    assert.deepEqual(records(s.recorder, 'f', culprit).map((r) => [r.status, r.attempt, r.error?.kind]), [['retry', 1, kind], ['dead-lettered', 2, kind]]);
  }

  /** Releases the held bystanders and waits until each completed, uncharged. */
  async function othersComplete(s: { recorder: Recorder }, bystanders: { id: string; key: string | null }[]): Promise<void> {
    probe.release();
    await waitFor(() => bystanders.every((b) => records(s.recorder, 'f', b.id).length > 0), { timeoutMs: 30_000, message: 'the others completed' });
    uncharged(s, bystanders);
  }

  test('a sync infinite loop fails that invocation alone: the others in flight wait it out, uncharged, and run once', async () => {
    // The others fetch twice: once held until the loop runs, then once more after it.
    const { s, bystanders, culprit } = await beside('spin', 'spin', { timeoutMs: 3000 }, { after: 'open' });
    try {
      // It reported itself and is spinning: answer the others now, so that their answers arrive
      // while the isolate is blocked and their resumptions queue behind the loop (then they run,
      // and await again, while the loop's end is being handled: that must still blame the loop).
      await waitFor(() => probe.entries.some((e) => e.key === 'culprit'), { timeoutMs: 30_000, message: 'the loop started' });
      probe.release();
      await culpritDeadLettered(s, culprit, 'timeout');
      await othersComplete(s, bystanders);
      assert.deepEqual(probe.entries.filter((e) => e.key !== 'culprit').length, 6, 'each of the others ran once');
    } finally {
      await s.close();
    }
  });

  test('the others keep their time while a loop holds the isolate past their deadline: they resume, uncharged, and run once', async () => {
    const { s, bystanders, culprit } = await beside('spin-hold', 'spin', { timeoutMs: 3000 });
    try {
      // The others stay held through both attempts of the loop: 2 × 3 s blocked, past their own 3 s.
      await culpritDeadLettered(s, culprit, 'timeout');
      assert.equal(probe.held, 6, 'the others were still in flight through both of its attempts');
      await othersComplete(s, bystanders);
      assert.equal(probe.entries.filter((e) => e.key !== 'culprit').length, 6, 'each of the others ran once');
    } finally {
      await s.close();
    }
  });

  test('a heap bomb takes the isolate down: it fails alone, the others in flight run again, uncharged', async () => {
    const { s, bystanders, culprit } = await beside('bomb', 'bomb', { memoryMb: 32 });
    try {
      await culpritDeadLettered(s, culprit, 'memory', 60_000);
      // The isolate went down with the others' invocations: they come back and run again.
      await waitFor(() => bystanders.every((b) => probe.entries.filter((e) => e.id === b.id).length >= 2), { timeoutMs: 30_000, message: 'the others ran again' });
      await othersComplete(s, bystanders);
    } finally {
      await s.close();
    }
  });

  test('output past the caps fails that invocation at once, while the others are still in flight', async () => {
    const { s, bystanders, culprit } = await beside('flood', 'flood', {});
    try {
      await waitFor(() => records(s.recorder, 'f', culprit).some((r) => r.status === 'dead-lettered'), { timeoutMs: 30_000, message: 'the flood dead-lettered' });
      const outcome = records(s.recorder, 'f', culprit);
      assert.deepEqual(outcome.map((r) => [r.status, r.attempt]), [['retry', 1], ['dead-lettered', 2]]);
      assert.match(outcome[0]!.error!.message, /the emits of one invocation exceed 4194304 characters/);
      // "At once": both of its attempts failed while the six others were still waiting at the probe.
      assert.equal(probe.held, 6);
      assert.equal(bystanders.filter((b) => records(s.recorder, 'f', b.id).length > 0).length, 0);
      await othersComplete(s, bystanders);
      assert.equal(probe.entries.length, 6, 'each of the others ran once');
    } finally {
      await s.close();
    }
  });
});
