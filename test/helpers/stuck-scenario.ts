/**
 * A namespace with one function stopped mid-backlog, for the status tests: `stuck` failed on the
 * key "poison" and waits an hour for its retry, so its partition is blocked for it while `healthy`
 * handles everything and `doomed` dead-letters its two events.
 */
import { Keys, Publisher, Runtime, createJsonLogger, type EventInput } from '../../runtime/index.ts';
import { getStatus, type Status } from '../../runtime/ops/status.ts';
import { fixtureFunctions } from './fixtures.ts';
import { Recorder } from './recorder.ts';
import type { TestRedisHandle } from './test-env.ts';
import { waitFor } from './wait-for.ts';

export const PARTITIONS = 4;

export interface StuckScenario {
  runtime: Runtime;
  recorder: Recorder;
  keys: Keys;
  poison: { id: string; partition: number };
  published: number;
  /** Status once the scenario settled: stuck blocked, healthy and doomed done. */
  settled: Status;
  stop(): Promise<void>;
}

export async function stuckScenario(redis: TestRedisHandle, namespace: string, onStarted?: () => Promise<void>): Promise<StuckScenario> {
  const recorder = new Recorder();
  // The poison key's 7 events come first in their partition. maxBuffered 4: the blocked worker
  // reads 4 of them (2 per read), then stops reading (backpressure): the rest of its partition stays unread (lag).
  const runtime = await Runtime.create({
    redis: redis.url, namespace, partitions: PARTITIONS, batchSize: 2, maxBuffered: 4,
    functionsDir: fixtureFunctions('status'), logger: createJsonLogger('silent'), onInvocation: recorder.record,
  });
  await runtime.start();
  if (runtime.loadFailures.length > 0) throw runtime.loadFailures[0]!.error;
  await onStarted?.();
  const publisher = await Publisher.connect({ redis: redis.url, namespace });
  const keys = new Keys(namespace);
  const client = redis.client();
  try {
    const events: EventInput[] = [
      ...Array.from({ length: 7 }, (_, i) => ({ type: 'job.run', key: 'poison', data: { n: i } })),
      ...Array.from({ length: 8 }, (_, i) => ({ type: 'job.run', key: `k${i}`, data: { n: i } })),
      { type: 'job.doom', key: 'd0', data: {} },
      { type: 'job.doom', key: 'd1', data: {} },
    ];
    const results = await publisher.publishBatch(events);
    const poison = { id: results[0]!.id, partition: results[0]!.partition };
    const settled = await waitFor(async () => {
      const s = await getStatus(client, keys);
      const fn = (name: string) => s.functions.find((f) => f.name === name);
      // The snapshot is taken before the recorder is looked at: it must show healthy done by itself.
      const done = recorder.count('healthy') === events.length
        && fn('healthy')?.lag === 0 && fn('healthy')?.pending === 0 && fn('doomed')?.deadLetters === 2 && fn('doomed')?.lag === 0 && fn('doomed')?.pending === 0
        && fn('stuck')?.retriesInFlight === 1 && (fn('stuck')?.oldestPending?.ageMs ?? 0) > 0;
      return done ? s : null;
    }, { timeoutMs: 30_000, message: 'stuck blocked on poison, healthy and doomed done' });
    return { runtime, recorder, keys, poison, published: events.length, settled, stop: () => runtime.stop() };
  } catch (error) {
    await runtime.stop();
    throw error;
  } finally {
    await publisher.close();
  }
}
