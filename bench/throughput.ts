/**
 * Throughput over a pre-filled backlog, each scenario on a fresh namespace of the same Redis:
 *  - baseline: a bare ioredis XREADGROUP COUNT 100 + batched XACK loop, no sandbox (the ceiling);
 *  - fnrun with one trivial function, and with five functions on the same events.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { Keys } from '../runtime/keys.ts';
import { silentLogger } from '../runtime/logger.ts';
import { Publisher } from '../runtime/publisher.ts';
import { redisOptionsFromUrl } from '../runtime/redis.ts';
import { Runtime } from '../runtime/runtime.ts';
import { startRedis } from '../test/helpers/redis-server.ts';
import { median, type BenchResult } from './stats.ts';

const EVENTS = 100_000;
const PARTITIONS = 16;
const RUNS = Number(process.env.BENCH_RUNS ?? 3);

async function prefill(url: string, namespace: string): Promise<void> {
  const publisher = await Publisher.connect({ redis: url, namespace, partitions: PARTITIONS });
  const data = { postId: 'p-123456', author: 'ada', text: 'x'.repeat(200) };
  for (let i = 0; i < EVENTS; i += 1000) {
    await publisher.publishBatch(Array.from({ length: 1000 }, (_, j) => ({ type: 'bench.event', key: `key-${(i + j) % 1000}`, data })));
  }
  await publisher.close();
}

async function rawLoop(url: string, namespace: string): Promise<number> {
  const redis = new Redis({ ...redisOptionsFromUrl(url), lazyConnect: false });
  const streams = Array.from({ length: PARTITIONS }, (_, p) => new Keys(namespace).partition(p).events);
  for (const s of streams) await redis.xgroup('CREATE', s, 'raw', '0', 'MKSTREAM');
  const t0 = performance.now();
  let consumed = 0;
  while (consumed < EVENTS) {
    const reply = (await redis.call('XREADGROUP', 'GROUP', 'raw', 'c', 'COUNT', 100, 'STREAMS', ...streams, ...streams.map(() => '>'))) as [string, [string, string[]][]][] | null;
    if (!reply) continue;
    const pipeline = redis.pipeline();
    for (const [stream, entries] of reply) {
      consumed += entries.length;
      pipeline.xack(stream, 'raw', ...entries.map((e) => e[0]));
    }
    await pipeline.exec();
  }
  const seconds = (performance.now() - t0) / 1000;
  redis.disconnect();
  return EVENTS / seconds;
}

async function fnrunRun(url: string, namespace: string, functionCount: number): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'fnrun-bench-fns-'));
  mkdirSync(join(dir, 'functions'));
  for (let f = 0; f < functionCount; f++) {
    writeFileSync(join(dir, 'functions', `fn${f}.ts`), "export const config = { events: ['bench.*'], startFrom: 'earliest' };\nexport default async function handler() {}\n");
  }
  const target = EVENTS * functionCount;
  let handled = 0;
  let done: () => void = () => {};
  const finished = new Promise<void>((resolve) => { done = resolve; });
  const runtime = await Runtime.create({
    redis: url, namespace, partitions: PARTITIONS, functionsDir: join(dir, 'functions'), logger: silentLogger,
    onInvocation: () => { if (++handled === target) done(); },
  });
  const t0 = performance.now();
  await runtime.start();
  await finished;
  const seconds = (performance.now() - t0) / 1000;
  await runtime.stop();
  rmSync(dir, { recursive: true, force: true });
  return target / seconds;
}

export async function benchThroughput(): Promise<BenchResult[]> {
  const redis = await startRedis();
  try {
    const results = { raw: [] as number[], one: [] as number[], five: [] as number[] };
    for (let run = 0; run < RUNS; run++) {
      for (const [name, fns] of [['raw', 0], ['one', 1], ['five', 5]] as const) {
        const namespace = `bench-${name}-${run}`;
        await prefill(redis.url, namespace);
        results[name].push(fns === 0 ? await rawLoop(redis.url, namespace) : await fnrunRun(redis.url, namespace, fns));
        await redis.client().flushall();
      }
    }
    const raw = median(results.raw);
    const row = (scenario: string, values: number[]): BenchResult => ({
      scenario, eventsPerSec: median(values), samples: values.length, ratio: `${((median(values) / raw) * 100).toFixed(0)}% of the raw loop`,
    });
    return [
      { scenario: `baseline: raw ioredis XREADGROUP COUNT 100 + XACK, ${PARTITIONS} streams, no sandbox`, eventsPerSec: raw, samples: RUNS, ratio: '100%' },
      row(`fnrun: 1 trivial async function, ${PARTITIONS} partitions, ${EVENTS.toLocaleString('en-US')}-event backlog`, results.one),
      row('fnrun: 5 functions on the same events ((event, function) pairs/s)', results.five),
    ];
  } finally {
    await redis.stop();
  }
}
