/**
 * Per-key state, idempotency keys and NonRetriableError, end to end through a real runtime: real
 * Redis, real esbuild, real isolates (the fixtures in test/fixtures/functions/state/).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DeadLetterQueue, Keys, Publisher, Runtime, STATE_LIMITS, StateStore, createJsonLogger, partitionFor } from '../../runtime/index.ts';
import { fixtureFunctions } from '../helpers/fixtures.ts';
import { Recorder } from '../helpers/recorder.ts';
import { useTestEnv } from '../helpers/test-env.ts';
import { waitFor } from '../helpers/wait-for.ts';

const NS = 'state';
const PARTITIONS = 4;
const recorder = new Recorder();
let runtime: Runtime | undefined;
let publisher: Publisher | undefined;
let store: StateStore;

// In the env's own hooks: node:test does not order file-level hooks after useTestEnv's.
const env = useTestEnv('state', {
  setup: async (redis) => {
    runtime = await Runtime.create({
      redis: redis.url, namespace: NS, partitions: PARTITIONS, functionsDir: fixtureFunctions('state'), logger: createJsonLogger('silent'), onInvocation: recorder.record,
    });
    await runtime.start();
    const failures = runtime.loadFailures.map((f) => `${f.name}: ${f.error.message}`);
    assert.deepEqual(failures, []);
    publisher = await Publisher.connect({ redis: redis.url, namespace: NS, partitions: PARTITIONS });
    store = new StateStore(redis.client(), new Keys(NS), PARTITIONS);
  },
  teardown: async () => {
    await publisher?.close();
    await runtime?.stop();
  },
});

/** Stream ids are unique per partition only: (partition, id) names an event. */
interface Published { partition: number; id: string }
const runsOf = (fn: string, e: Published) => recorder.of(fn).filter((r) => r.eventId === e.id && r.partition === e.partition);
const logsOf = (fn: string, e: Published) => runsOf(fn, e).flatMap((r) => (r.logs ?? []).map((l) => l.msg));

test('a write is visible to the next event of the same key: in one batch, in later batches, and not to other keys', async () => {
  // Events 0–4 go in one batch (one chain), 5–9 one by one (each read after the previous commit).
  const first = await publisher!.publishBatch(Array.from({ length: 5 }, (_, i) => ({ type: 'seen.add', key: 'a', data: { i } })));
  const other = await publisher!.publish('seen.add', 'b', { i: 100 });
  const events: Published[] = [...first];
  for (let i = 5; i < 10; i++) {
    await waitFor(() => recorder.count('visible') >= i + 1, { message: `event ${i - 1} handled` });
    events.push(await publisher!.publish('seen.add', 'a', { i }));
  }
  await waitFor(() => recorder.count('visible') >= 11, { message: 'every event handled' });
  events.forEach((e, i) => assert.deepEqual(logsOf('visible', e), [JSON.stringify(Array.from({ length: i }, (_, j) => j))], `event ${i} saw the writes of events 0..${i - 1}`));
  assert.deepEqual(logsOf('visible', other), ['[]'], 'key b has a state of its own');
  assert.deepEqual(await store.get('visible', 'a'), { seen: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] });
  assert.deepEqual(await store.get('visible', 'b'), { seen: [100] });
  // Kept under the key's partition hash tag, so it lives in the partition's slot.
  const hash = new Keys(NS).partition(partitionFor('a', PARTITIONS)).state('visible', 'a');
  assert.match(hash, new RegExp(`\\{p${partitionFor('a', PARTITIONS)}\\}`));
  assert.equal(await env.redis.client().hget(hash, 'seen'), '[0,1,2,3,4,5,6,7,8,9]');
});

test('a failed attempt\'s writes are discarded: the retry and the next event see the state from before it', async () => {
  const one = await publisher!.publish('flaky.write', 'f', { i: 1 });
  await waitFor(() => runsOf('flaky-writer', one).some((r) => r.status === 'ok'), { message: 'first event succeeded on its retry' });
  const two = await publisher!.publish('flaky.write', 'f', { i: 2 });
  await waitFor(() => runsOf('flaky-writer', two).some((r) => r.status === 'ok'), { message: 'second event succeeded' });
  assert.deepEqual(logsOf('flaky-writer', one), ['n=0 attempt=1 keys=[]', 'n=0 attempt=2 keys=[]']);
  assert.deepEqual(logsOf('flaky-writer', two), ['n=1 attempt=1 keys=["attempt-2","n"]', 'n=1 attempt=2 keys=["attempt-2","n"]']);
  assert.deepEqual(await store.get('flaky-writer', 'f'), { 'attempt-2': true, n: 2 });
});

test('an event without a key has no state: a clear TypeError, and the event is dead-lettered', async () => {
  const e = await publisher!.publish('keyless.use', null, {});
  await waitFor(() => runsOf('keyless', e).length > 0, { message: 'keyless ran' });
  const [r] = runsOf('keyless', e);
  assert.equal(r!.status, 'dead-lettered');
  assert.equal(r!.error!.name, 'TypeError');
  assert.match(r!.error!.message, /ctx\.state: this event has no key, and state is kept per event key; publish it with a key/);
});

test('past the limits a state write rejects with a RangeError that names the limit; nothing is written', async () => {
  const big = await publisher!.publish('limits.value', 'l1', { valueChars: STATE_LIMITS.maxValueBytes });
  const many = await publisher!.publish('limits.names', 'l2', { names: STATE_LIMITS.maxNames + 1 });
  // Fewer characters than the limit, more bytes: 'é' takes 2.
  const accents = STATE_LIMITS.maxValueBytes / 2;
  const wide = await publisher!.publish('limits.value', 'l3', { accents });
  const fits = await publisher!.publish('limits.value', 'l4', { accents: accents / 2 });
  await waitFor(() => recorder.of('limits').length >= 4, { timeoutMs: 30_000, message: 'all four ran' });
  const byId = (e: Published) => runsOf('limits', e)[0]!;
  assert.equal(byId(big).status, 'dead-lettered');
  assert.equal(byId(big).error!.name, 'RangeError');
  assert.match(byId(big).error!.message, new RegExp(`ctx\\.state\\.set\\("big"\\): the value is ${STATE_LIMITS.maxValueBytes + 2} bytes of JSON \\(UTF-8\\), over the ${STATE_LIMITS.maxValueBytes}-byte limit per value`));
  assert.equal(byId(wide).error?.name, 'RangeError', `${accents + 2} characters but ${2 * accents + 2} bytes: over`);
  assert.match(byId(wide).error!.message, new RegExp(`the value is ${2 * accents + 2} bytes of JSON`));
  assert.equal(byId(fits).status, 'ok', 'half of it fits');
  assert.deepEqual(await store.get('limits', 'l4'), { accents: 'é'.repeat(accents / 2) });
  assert.equal(byId(many).error!.name, 'RangeError');
  assert.match(byId(many).error!.message, new RegExp(`would hold ${STATE_LIMITS.maxNames + 1} names .* over the limit of ${STATE_LIMITS.maxNames} names`));
  assert.deepEqual(await store.get('limits', 'l1'), {});
  assert.deepEqual(await store.get('limits', 'l2'), {});
});

test('state.ttlMs: every write restarts the key\'s expiry', async () => {
  const e = await publisher!.publish('expiring.touch', 'e', {});
  await waitFor(() => runsOf('expiring', e).some((r) => r.status === 'ok'), { message: 'expiring ran' });
  const ttl = await env.redis.client().pttl(store.hashOf('expiring', 'e'));
  assert.ok(ttl > 0 && ttl <= 60_000, `a TTL of at most 60 s is set, got ${ttl}`);
  assert.equal(await env.redis.client().pttl(store.hashOf('visible', 'a')), -1, 'without ttlMs, state never expires');
});

test('a NonRetriableError (the class, a renamed subclass, or an error so named) is dead-lettered after 1 attempt with reason non-retriable', async () => {
  const dlq = new DeadLetterQueue(env.redis.client(), new Keys(NS), PARTITIONS);
  const hows = ['class', 'subclass', 'named', 'plain'] as const;
  const ids = new Map<string, Published>();
  for (const how of hows) ids.set(how, await publisher!.publish(`refuse.${how}`, `r-${how}`, { how }));
  await waitFor(() => recorder.of('refuses').filter((r) => r.status === 'dead-lettered').length === hows.length, { timeoutMs: 30_000, message: 'every refusal dead-lettered' });
  for (const how of ['class', 'subclass', 'named']) {
    const runs = runsOf('refuses', ids.get(how)!);
    assert.deepEqual(runs.map((r) => [r.status, r.attempt, r.reason]), [['dead-lettered', 1, 'non-retriable']], `${how}: one attempt`);
  }
  assert.equal(runsOf('refuses', ids.get('subclass')!)[0]!.error!.name, 'CardDeclined');
  assert.match(runsOf('refuses', ids.get('class')!)[0]!.error!.stack, /Caused by: Error: no amount/);
  const plain = runsOf('refuses', ids.get('plain')!);
  assert.deepEqual(plain.map((r) => r.status), ['retry', 'retry', 'retry', 'retry', 'dead-lettered'], 'an ordinary error is retried');
  const letters = await dlq.list('refuses');
  const letter = (how: string) => letters.find((l) => l.eventId === ids.get(how)!.id && l.partition === ids.get(how)!.partition)!;
  for (const how of ['class', 'subclass', 'named']) {
    assert.equal(letter(how).reason, 'non-retriable');
    assert.equal(letter(how).attempts, 1);
  }
  assert.equal(letter('class').error.name, 'NonRetriableError');
  assert.match(letter('class').error.stack, /refuses\.ts:\d+/, 'the stack maps to the source');
  assert.equal(letter('plain').reason, 'failed');
  assert.equal(letter('plain').attempts, 5);
});

test('ctx.idempotencyKey is the same on every attempt of an event, and differs between events', async () => {
  const results = await publisher!.publishBatch([{ type: 'idem.a', key: 'i1', data: {} }, { type: 'idem.b', key: 'i2', data: {} }]);
  await waitFor(() => recorder.of('idempotent', 'ok').length >= 2, { message: 'both succeeded on their retry' });
  const [a, b] = results.map((r) => logsOf('idempotent', r));
  assert.equal(a!.length, 2);
  assert.equal(a![0], a![1], 'same key on attempts 1 and 2');
  assert.equal(b![0], b![1]);
  assert.notEqual(a![0], b![0]);
  assert.match(a![0]!, new RegExp(`^${NS}:idempotent:${results[0]!.partition}:${results[0]!.id}$`));
});
