import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Keys, Publisher, Runtime, createJsonLogger } from '../../runtime/index.ts';
import { trimStream } from '../../runtime/events/retention.ts';
import { fixtureFunctions } from '../helpers/fixtures.ts';
import { Recorder } from '../helpers/recorder.ts';
import { useTestEnv } from '../helpers/test-env.ts';
import { waitFor } from '../helpers/wait-for.ts';

const env = useTestEnv('retention');

test('retention never trims an event a slow function has not completed, and bounds the stream once it has', async () => {
  const recorder = new Recorder();
  const runtime = await Runtime.create({
    redis: env.redis.url, namespace: 'ret', partitions: 1, functionsDir: fixtureFunctions('retention'),
    logger: createJsonLogger('silent'), onInvocation: recorder.record, retention: { maxLength: 10, intervalMs: 50 },
  });
  const publisher = await Publisher.connect({ redis: env.redis.url, namespace: 'ret' });
  const client = env.redis.client();
  const stream = new Keys('ret').partition(0).events;
  try {
    await runtime.start();
    const events = Array.from({ length: 60 }, (_, i) => ({ type: 'keep.it', key: `k${i % 3}`, data: { i, stall: i === 5 } }));
    const ids = (await publisher.publishBatch(events)).map((r) => r.id);
    // fast is done with everything; slow holds event 5's key (k2) back for 1.5 s: that event is its oldest pending.
    await waitFor(() => recorder.count('fast') === 60 && recorder.count('slow', 'retry') === 1, { message: 'fast done, slow stuck' });
    await waitFor(async () => {
      const [first] = (await client.xrange(stream, '-', '+', 'COUNT', 1)) as [string, string[]][];
      return first?.[0] === ids[5];
    }, { message: 'trimmed up to, and not past, the event slow has not completed' });
    assert.ok(!recorder.of('slow', 'ok').some((r) => r.eventId === ids[5]), 'slow had not completed it while we checked');

    await waitFor(() => recorder.count('slow') === 60, { timeoutMs: 30_000, message: 'slow caught up' });
    const seen = recorder.of('slow', 'ok');
    assert.deepEqual(seen.map((r) => r.eventId).sort(), [...ids].sort(), 'slow saw every event: nothing it needed was trimmed');
    for (const key of ['k0', 'k1', 'k2']) {
      assert.deepEqual(seen.filter((r) => r.key === key).map((r) => r.eventId), ids.filter((_, i) => `k${i % 3}` === key), `slow saw ${key} in order`);
    }
    await waitFor(async () => (await client.xlen(stream)) <= 10, { message: 'memory bounded once everything is processed' });
  } finally {
    await publisher.close();
    await runtime.stop();
  }
});

test('trimStream by age keeps what a group still has pending', async () => {
  const client = env.redis.client();
  const stream = 'age-test';
  const hourAgo = Date.now() - 3_600_000;
  for (let i = 0; i < 5; i++) await client.xadd(stream, `${hourAgo + i}-0`, 'type', 'old.event', 'data', '{}');
  await client.xadd(stream, '*', 'type', 'new.event', 'data', '{}');
  await client.xgroup('CREATE', stream, 'g', '0');
  await client.xreadgroup('GROUP', 'g', 'c', 'COUNT', 3, 'STREAMS', stream, '>');
  await client.xack(stream, 'g', `${hourAgo}-0`, `${hourAgo + 1}-0`);
  // Entry 2 is pending; 3 and 4 were never delivered: only 0 and 1 may go.
  const result = await trimStream(client, stream, { maxAgeMs: 60_000 }, Date.now());
  assert.deepEqual(result, { trimmed: 2, heldBackBy: 'g' });
  assert.equal(await client.xlen(stream), 4);
});
