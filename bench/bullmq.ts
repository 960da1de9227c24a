/**
 * Scenario 4: BullMQ, the queue most Node users would pick, doing the same trivial work on the same
 * Redis: a queue pre-filled with addBulk (same payload as the events), drained by one Worker with
 * a trivial async processor at a given concurrency.
 *
 * Jobs are added with `removeOnComplete: true`, as BullMQ's docs advise for production; it was the
 * faster setting here (keeping completed jobs costs a ZADD and a bigger keyspace per job).
 */
import { Queue, Worker } from 'bullmq';
import { redisOptionsFromUrl } from '../runtime/redis/redis.ts';
import { sampleRss } from './rss.ts';

export interface BullArgs {
  url: string;
  queue: string;
  jobs: number;
  concurrency: number;
  /** Each job GETs this URL (Node's fetch) and reads the body, instead of doing nothing. */
  fetchUrl?: string;
  /** The processor awaits a timer this long per job (scenario 7); none by default. */
  awaitMs?: number;
}

/** BullMQ requires `maxRetriesPerRequest: null` on a Worker's connection. */
function connection(url: string) {
  const { path, host, port } = redisOptionsFromUrl(url);
  return { ...(path ? { path } : { host, port }), maxRetriesPerRequest: null };
}

/** Run in the bench process, before the worker's process starts. */
export async function prefillQueue(url: string, queue: string, jobs: number, data: unknown): Promise<void> {
  const q = new Queue(queue, { connection: connection(url) });
  for (let i = 0; i < jobs; i += 1000) {
    await q.addBulk(Array.from({ length: Math.min(1000, jobs - i) }, () => ({ name: 'bench.event', data, opts: { removeOnComplete: true } })));
  }
  await q.close();
}

/** Jobs/s, from the worker starting to fetch until the last job completed. */
export async function measure({ url, queue, jobs, concurrency, fetchUrl, awaitMs = 0 }: BullArgs): Promise<number> {
  let completed = 0;
  let done: () => void = () => {};
  let fail: (error: Error) => void = () => {};
  const finished = new Promise<void>((resolve, reject) => { done = resolve; fail = reject; });
  const processor = fetchUrl !== undefined
    ? async () => { await (await fetch(fetchUrl)).arrayBuffer(); }
    : awaitMs > 0 ? () => new Promise<void>((resolve) => setTimeout(resolve, awaitMs)) : async () => {};
  const worker = new Worker(queue, processor, { connection: connection(url), concurrency, autorun: false });
  worker.on('completed', () => { if (++completed === jobs) done(); });
  worker.on('failed', (_job, error) => fail(error));
  worker.on('error', fail);
  await worker.waitUntilReady();
  const t0 = performance.now();
  void worker.run();
  await finished;
  const seconds = (performance.now() - t0) / 1000;
  sampleRss();
  await worker.close();
  return jobs / seconds;
}
