import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DeadLetterQueue, Keys, Publisher, Runtime, createJsonLogger, type EventInput } from '../../runtime/index.ts';
import { fixtureFunctions } from '../helpers/fixtures.ts';
import { Recorder } from '../helpers/recorder.ts';
import { useTestEnv } from '../helpers/test-env.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { compareStreamIds } from '../../runtime/redis/stream-id.ts';

const env = useTestEnv('runtime');

const quiet = createJsonLogger('silent');

async function startRuntime(namespace: string, dir: string, recorder: Recorder, extra: { partitions?: number; maxEventBytes?: number } = {}) {
  const runtime = await Runtime.create({ redis: env.redis.url, namespace, partitions: extra.partitions ?? 8, functionsDir: fixtureFunctions(dir), logger: quiet, onInvocation: recorder.record, ...(extra.maxEventBytes ? { maxEventBytes: extra.maxEventBytes } : {}) });
  await runtime.start();
  const failures = runtime.loadFailures.map((f) => `${f.name}: ${f.error.message}`);
  // Stopped first, or the failed assertion leaves a running runtime that keeps the file alive.
  if (failures.length > 0) await runtime.stop();
  assert.deepEqual(failures, []);
  return runtime;
}

describe('ordering and exactly-once without failures', () => {
  test('10,000 events over 100 keys: each function sees each event once, in per-key order', async () => {
    const recorder = new Recorder();
    const runtime = await startRuntime('order', 'order', recorder);
    const publisher = await Publisher.connect({ redis: env.redis.url, namespace: 'order' });
    try {
      // Stream ids are unique per partition; (partition, id) identifies an event in a namespace.
      const published = new Map<string, string[]>(); // key -> partition/id in publish order
      for (let chunk = 0; chunk < 10; chunk++) {
        const events: EventInput[] = [];
        for (let i = 0; i < 1000; i++) events.push({ type: 'order.placed', key: `key-${(chunk * 1000 + i) % 100}`, data: { seq: chunk * 1000 + i } });
        const results = await publisher.publishBatch(events);
        results.forEach((r, i) => {
          const key = events[i]!.key!;
          published.set(key, [...(published.get(key) ?? []), `${r.partition}/${r.id}`]);
        });
      }
      await waitFor(() => ['solo', 'first', 'second'].every((fn) => recorder.count(fn) >= 10_000), { timeoutMs: 120_000, message: 'all events handled' });
      for (const fn of ['solo', 'first', 'second']) {
        const seen = new Map<string, string[]>();
        for (const r of recorder.of(fn)) seen.set(r.key!, [...(seen.get(r.key!) ?? []), `${r.partition}/${r.eventId}`]);
        assert.equal(recorder.of(fn).length, 10_000, `${fn} handled each event exactly once`);
        for (const [key, ids] of published) assert.deepEqual(seen.get(key), ids, `${fn} saw key ${key} in publish order`);
      }
      // The sequential group runs `first` before `second` for each event.
      const position = new Map<string, number>();
      recorder.all.forEach((r, i) => { if (r.function === 'first') position.set(`${r.partition}/${r.eventId}`, i); });
      for (const [i, r] of recorder.all.entries()) {
        if (r.function === 'second') assert.ok(position.get(`${r.partition}/${r.eventId}`)! < i, `first ran before second for ${r.eventId}`);
      }
    } finally {
      await publisher.close();
      await runtime.stop();
    }
  });
});

describe('retries and dead letters', () => {
  test('flaky succeeds on attempt 3 with backoff; broken lands in its DLQ with the .ts stack; healthy is not delayed; replay re-runs only broken', async () => {
    const recorder = new Recorder();
    const runtime = await startRuntime('retry', 'retry', recorder, { partitions: 1 });
    const publisher = await Publisher.connect({ redis: env.redis.url, namespace: 'retry' });
    const dlq = new DeadLetterQueue(env.redis.client(), new Keys('retry'), 1);
    try {
      const events: EventInput[] = [
        { type: 'job.run', key: 'a', data: {} },
        { type: 'job.run', key: 'a', data: { flaky: true, broken: true } },
        ...Array.from({ length: 20 }, (_, i) => ({ type: 'job.run', key: `k${i}`, data: { n: i } })),
      ];
      const ids = (await publisher.publishBatch(events)).map((r) => r.id);
      const target = ids[1]!;

      await waitFor(() => recorder.of('flaky', 'ok').some((r) => r.eventId === target), { timeoutMs: 30_000, message: 'flaky succeeded' });
      const flaky = recorder.of('flaky').filter((r) => r.eventId === target);
      assert.deepEqual(flaky.map((r) => [r.status, r.attempt]), [['retry', 1], ['retry', 2], ['ok', 3]]);
      for (const r of flaky.slice(0, 2)) assert.ok(r.retryInMs! >= 300, `backoff of at least half the initial delay, got ${r.retryInMs}`);

      // healthy finished every event before flaky's second attempt: it never waited on flaky's backoff.
      const secondAttempt = recorder.all.findIndex((r) => r.function === 'flaky' && r.eventId === target && r.attempt === 2);
      const healthyDone = recorder.all.filter((r, i) => r.function === 'healthy' && i < secondAttempt).length;
      assert.equal(healthyDone, events.length);

      await waitFor(() => recorder.of('broken', 'dead-lettered').length === 1, { message: 'broken dead-lettered' });
      const brokenRuns = recorder.of('broken').filter((r) => r.eventId === target);
      assert.deepEqual(brokenRuns.map((r) => r.status), ['retry', 'retry', 'dead-lettered']);
      await waitFor(() => recorder.count('broken') === events.length - 1 && recorder.count('flaky') === events.length, { message: 'later events handled' });

      const letters = await dlq.list('broken');
      assert.equal(letters.length, 1);
      const letter = letters[0]!;
      assert.equal(letter.eventId, target);
      assert.equal(letter.attempts, 3);
      assert.equal(letter.reason, 'failed');
      assert.equal(letter.error.name, 'TypeError');
      assert.match(letter.error.message, /broken handler: always fails/);
      assert.match(letter.error.stack, /at explode \(test\/fixtures\/functions\/retry\/broken\.ts:4:\d+\)/, `stack maps to the .ts source: ${letter.error.stack}`);
      assert.match(letter.error.stack, /at handler \(.*broken\.ts:8:\d+\)/);
      assert.deepEqual(letter.event?.data, { flaky: true, broken: true });
      assert.ok(letter.firstFailureAt <= letter.lastFailureAt);
      assert.deepEqual(await dlq.list('flaky'), []);

      // Replay: only broken runs the replayed event (and dead-letters it again).
      const before = recorder.all.length;
      const replayId = await dlq.replay('broken', letter.id);
      await waitFor(() => recorder.of('broken', 'dead-lettered').some((r) => r.eventId === replayId), { message: 'replay ran' });
      // A later event on the same partition: once the others handled it, they have passed the replay.
      const sentinel = (await publisher.publish('job.run', 'z', {})).id;
      await waitFor(() => ['healthy', 'flaky'].every((fn) => recorder.of(fn, 'ok').some((r) => r.eventId === sentinel)), { message: 'sentinel handled' });
      const replayed = recorder.all.slice(before).filter((r) => r.eventId !== sentinel);
      assert.ok(replayed.length > 0 && replayed.every((r) => r.function === 'broken' && r.eventId === replayId), JSON.stringify(replayed));
      const again = await dlq.list('broken');
      assert.equal(again.length, 1, 'the replayed letter left the DLQ and its new failure came back');
      assert.equal(again[0]!.event?.headers?.['fnrun-replay-of'], target);
      assert.equal(await dlq.purge('broken'), 1);
      assert.deepEqual(await dlq.list('broken'), []);
    } finally {
      await publisher.close();
      await runtime.stop();
    }
  });
});

describe('emits', () => {
  test('emits to keys of other partitions arrive once each, in emit order (through the outbox on a Cluster)', async () => {
    const recorder = new Recorder();
    const runtime = await startRuntime('fanout', 'fanout', recorder, { partitions: 8 });
    const publisher = await Publisher.connect({ redis: env.redis.url, namespace: 'fanout' });
    try {
      const n = 200;
      // One source key: the splitter handles the orders in sequence, so its emits per line key are ordered.
      await publisher.publishBatch(Array.from({ length: n }, (_, i) => ({ type: 'order.placed', key: 'orders', data: { seq: i } })));
      await waitFor(() => recorder.count('lines') >= 4 * n, { timeoutMs: 60_000, message: 'every line handled' });
      assert.equal(recorder.count('lines'), 4 * n, 'each emitted line handled once');
      const client = env.redis.client();
      const keys = new Keys('fanout');
      const seqs = new Map<string, number[]>();
      for (let p = 0; p < 8; p++) {
        for (const [, f] of (await client.xrange(keys.partition(p).events, '-', '+')) as [string, string[]][]) {
          if (f[f.indexOf('type') + 1] !== 'order.line') continue;
          const key = f[f.indexOf('key') + 1]!;
          seqs.set(key, [...(seqs.get(key) ?? []), (JSON.parse(f[f.indexOf('data') + 1]!) as { seq: number }).seq]);
        }
        assert.equal(await client.xlen(keys.partition(p).outbox), 0, 'outbox drained');
      }
      const ordered = Array.from({ length: n }, (_, i) => i);
      for (let line = 0; line < 4; line++) assert.deepEqual(seqs.get(`line-${line}`), ordered, `line-${line} in emit order`);
    } finally {
      await publisher.close();
      await runtime.stop();
    }
  });

  test('ctx.emit of a function that fails once then succeeds is published exactly once', async () => {
    const recorder = new Recorder();
    const runtime = await startRuntime('emit', 'emit', recorder, { partitions: 4 });
    const publisher = await Publisher.connect({ redis: env.redis.url, namespace: 'emit' });
    try {
      const n = 50;
      await publisher.publishBatch(Array.from({ length: n }, (_, i) => ({ type: 'source.created', key: `s${i % 7}`, data: { n: i } })));
      await waitFor(() => recorder.count('sink') >= n && recorder.count('emitter') >= n, { message: 'emits consumed' });
      assert.equal(recorder.count('emitter', 'retry'), n, 'every source failed once');
      assert.equal(recorder.count('sink'), n, 'the sink saw each emitted event once');
      const client = env.redis.client();
      let derived = 0;
      for (let p = 0; p < 4; p++) {
        const entries = (await client.xrange(new Keys('emit').partition(p).events, '-', '+')) as [string, string[]][];
        for (const [, fields] of entries) if (fields[1] === 'derived.created') {
          derived++;
          assert.match(fields[fields.indexOf('data') + 1]!, /"attempt":2/);
        }
      }
      assert.equal(derived, n);
    } finally {
      await publisher.close();
      await runtime.stop();
    }
  });
});

describe('malformed entries', () => {
  test('entries XADDed by hand without type, with bad JSON or oversize go to the DLQ with the reason; processing goes on', async () => {
    const recorder = new Recorder();
    const runtime = await startRuntime('bad', 'malformed', recorder, { partitions: 1, maxEventBytes: 1000 });
    const client = env.redis.client();
    const stream = new Keys('bad').partition(0).events;
    try {
      await client.xadd(stream, '*', 'key', 'k', 'data', '{}');
      await client.xadd(stream, '*', 'type', 'thing.happened', 'data', '{not json');
      await client.xadd(stream, '*', 'type', 'thing.happened', 'data', JSON.stringify({ blob: 'x'.repeat(2000) }));
      await client.xadd(stream, '*', 'type', 'bad type!', 'data', '{}');
      const good = await client.xadd(stream, '*', 'type', 'thing.happened', 'key', 'k', 'data', '{"ok":true}', 'time', String(Date.now()));
      await waitFor(() => recorder.of('reader', 'ok').some((r) => r.eventId === good), { message: 'good event handled' });
      const letters = await new DeadLetterQueue(client, new Keys('bad'), 1).list('reader');
      assert.deepEqual(letters.map((l) => l.reason), ['malformed', 'malformed', 'malformed', 'malformed']);
      const messages = letters.map((l) => l.error.message);
      assert.match(messages[0]!, /missing field "type"/);
      assert.match(messages[1]!, /not valid JSON/);
      assert.match(messages[2]!, /over the 1000-byte limit/);
      assert.match(messages[3]!, /invalid event type/);
      const pending = (await client.xpending(stream, 'fn:reader')) as [number, ...unknown[]];
      assert.equal(pending[0], 0, 'nothing left pending');
    } finally {
      await runtime.stop();
    }
  });
});

describe('sandbox failures at runtime', () => {
  test('loops, memory bombs and escapes fail only their own invocation; the next events run', async () => {
    const recorder = new Recorder();
    const runtime = await startRuntime('hostile', 'hostile', recorder, { partitions: 1 });
    const publisher = await Publisher.connect({ redis: env.redis.url, namespace: 'hostile' });
    try {
      const kinds = ['loop', 'loop-after-await', 'heap-bomb', 'huge-array', 'escape'];
      const events: EventInput[] = [];
      for (const kind of kinds) events.push({ type: `hostile.${kind}`, key: 'h', data: {} }, { type: 'hostile.fine', key: 'h', data: { after: kind } });
      const ids = (await publisher.publishBatch(events)).map((r) => r.id);
      await waitFor(() => recorder.of('hostile').filter((r) => r.status !== 'retry').length >= events.length, { timeoutMs: 90_000, message: 'every hostile event settled' });
      const outcome = new Map(recorder.of('hostile').map((r) => [r.eventId, r]));
      kinds.forEach((kind, i) => {
        const bad = outcome.get(ids[2 * i]!)!;
        const next = outcome.get(ids[2 * i + 1]!)!;
        assert.equal(next.status, 'ok', `the event after ${kind} ran`);
        if (kind === 'escape') assert.equal(bad.status, 'ok');
        else assert.equal(bad.status, 'dead-lettered', `${kind} failed`);
      });
      const failure = (i: number) => JSON.stringify(outcome.get(ids[i]!)!.error);
      assert.equal(outcome.get(ids[0]!)!.error?.kind, 'timeout', failure(0));
      assert.equal(outcome.get(ids[2]!)!.error?.kind, 'timeout', failure(2));
      assert.ok(['memory', 'crash'].includes(outcome.get(ids[4]!)!.error!.kind), `heap-bomb: ${failure(4)}`);
      assert.ok(['memory', 'crash'].includes(outcome.get(ids[6]!)!.error!.kind), `huge-array: ${failure(6)}`);
      // The escape report was emitted as an event: read it back.
      const client = env.redis.client();
      const entries = (await client.xrange(new Keys('hostile').partition(0).events, '-', '+')) as [string, string[]][];
      const report = entries.find(([, f]) => f[1] === 'hostile.report');
      assert.ok(report, 'escape report emitted');
      const reached = JSON.parse(report[1][report[1].indexOf('data') + 1]!) as Record<string, string>;
      for (const [name, result] of Object.entries(reached)) assert.ok(!result.startsWith('reached'), `${name} reached nothing: ${result}`);
      assert.deepEqual(Object.keys(reached).sort(), ['Function', 'constructor', 'import', 'process', 'require']);
    } finally {
      await publisher.close();
      await runtime.stop();
    }
  });
});

describe('namespace', () => {
  test('a runtime configured with another partition count fails with a clear error', async () => {
    const publisher = await Publisher.connect({ redis: env.redis.url, namespace: 'fixed', partitions: 8 });
    await publisher.close();
    await assert.rejects(Runtime.create({ redis: env.redis.url, namespace: 'fixed', partitions: 16, logger: quiet }), /namespace "fixed" has 8 partitions in Redis but 16 were configured/);
  });
});

void compareStreamIds;
