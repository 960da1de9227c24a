/**
 * The core scenarios (1–6 of BENCHMARKS.md): the raw loop, fnrun with 1 and 5 functions, BullMQ,
 * latency and dev reload, in rounds (1, 2, …, 6, 1, 2, …) so that a slow phase of this shared
 * machine hits them all; each reports the median of `BENCH_RUNS` (3) rounds.
 */
import { createRequire } from 'node:module';
import { cpus, loadavg, totalmem } from 'node:os';
import { Publisher } from '../runtime/index.ts';
import type { TestRedis } from '../test/helpers/redis-server.ts';
import type { BacklogArgs } from './backlog.ts';
import type { BaselineArgs } from './baseline.ts';
import { prefillQueue, type BullArgs } from './bullmq.ts';
import { inChild, type ChildResult } from './child.ts';
import { publishSteady, type LatencyArgs, type LatencyResult } from './latency.ts';
import type { RawLatencyResult } from './latency-raw.ts';
import type { ReloadArgs, ReloadResult } from './reload.ts';
import { report } from './report.ts';
import { median, type BenchResult } from './stats.ts';

const EVENTS = 100_000;
const PARTITIONS = 16;
/** BullMQ drains several times slower than fnrun (far slower at concurrency 1): half the events keeps the whole bench near 3 minutes. */
const BULL_JOBS = 50_000;
const BULL_CONCURRENCY = [1, 10, 50, 200];
const LATENCY_RATE = 2_000;
/**
 * (5) again with this young-generation size for the runtime's process: Node's default semi-space
 * lets each scavenge copy more survivors, and the scavenge pauses (4–11 ms measured with
 * PerformanceObserver 'gc') are the p99's tail.
 */
export const LATENCY_TUNED_FLAGS = ['--max-semi-space-size=4'];
/** Partitions of (5)'s wide variant: as many as the idle scenario's, a namespace for dozens of processes. */
const WIDE_PARTITIONS = 256;
/** The payload of every event and job. */
export const DATA = { postId: 'p-123456', author: 'ada', text: 'x'.repeat(200) };

export const RUNS = Number(process.env.BENCH_RUNS ?? 3);

/** Publishes the 100,000-event backlog of the throughput scenarios into `namespace`. */
export async function prefillStreams(url: string, namespace: string, events = EVENTS, partitions = PARTITIONS): Promise<void> {
  const publisher = await Publisher.connect({ redis: url, namespace, partitions });
  for (let i = 0; i < events; i += 1000) {
    await publisher.publishBatch(Array.from({ length: Math.min(1000, events - i) }, (_, j) => ({ type: 'bench.event', key: `key-${(i + j) % 1000}`, data: DATA })));
  }
  await publisher.close();
}

/** One scenario's results over the rounds: medians of each field, the highest peak RSS. */
class Series<T> {
  readonly values: T[] = [];
  peak: ChildResult<T>['rss'] | undefined;
  add(r: ChildResult<T>): void {
    this.values.push(r.value);
    if (this.peak === undefined || r.rss.totalMb > this.peak.totalMb) this.peak = r.rss;
  }
  median(pick: (v: T) => number): number {
    return median(this.values.map(pick));
  }
}

/** Runs scenarios 1–6 against `redis`; returns BENCHMARKS.md's core part (table, targets, method). */
export async function runCore(redis: TestRedis, log: (msg: string) => void, context: { began: number; loadBefore: number; command: string }): Promise<string> {
  const { began, loadBefore, command } = context;
  const url = redis.url;
  const redisVersion = /redis_version:(\S+)/.exec(await redis.client().info('server'))?.[1] ?? 'unknown';
  const same = (n: number) => n;
  const raw = new Series<number>();
  const one = new Series<number>();
  const five = new Series<number>();
  const bull = new Map(BULL_CONCURRENCY.map((c) => [c, new Series<number>()]));
  const latency = new Series<LatencyResult>();
  const rawLatency = new Series<RawLatencyResult>();
  const tuned = new Series<LatencyResult>();
  const wide = new Series<LatencyResult>();
  const reload = new Series<ReloadResult>();
  for (let run = 1; run <= RUNS; run++) {
    log(`round ${run}/${RUNS}: raw loop, fnrun ×1, fnrun ×5, BullMQ at concurrency ${BULL_CONCURRENCY.join(', ')}, latency, dev reload…`);
    const ns = (name: string) => `bench-${name}-${run}`;
    await prefillStreams(url, ns('raw'));
    raw.add(await inChild<BaselineArgs, number>('baseline.ts', { url, namespace: ns('raw'), partitions: PARTITIONS, events: EVENTS }));
    for (const [series, functions] of [[one, 1], [five, 5]] as const) {
      await prefillStreams(url, ns(`fn${functions}`));
      series.add(await inChild<BacklogArgs, number>('backlog.ts', { url, namespace: ns(`fn${functions}`), partitions: PARTITIONS, events: EVENTS, functions }));
    }
    for (const [concurrency, series] of bull) {
      const queue = `bench-bull-${concurrency}-${run}`;
      await prefillQueue(url, queue, BULL_JOBS, DATA);
      series.add(await inChild<BullArgs, number>('bullmq.ts', { url, queue, jobs: BULL_JOBS, concurrency }));
    }
    const steady = (namespace: string, execArgv?: string[]) => inChild<LatencyArgs, LatencyResult>('latency.ts', { url, namespace, partitions: PARTITIONS },
      () => publishSteady(url, namespace, PARTITIONS, DATA, LATENCY_RATE, 1_000, 10_000), execArgv);
    rawLatency.add(await inChild<LatencyArgs, RawLatencyResult>('latency-raw.ts', { url, namespace: ns('latency-raw'), partitions: PARTITIONS },
      () => publishSteady(url, ns('latency-raw'), PARTITIONS, DATA, LATENCY_RATE, 1_000, 10_000)));
    latency.add(await steady(ns('latency')));
    tuned.add(await steady(ns('latency-tuned'), LATENCY_TUNED_FLAGS));
    wide.add(await inChild<LatencyArgs, LatencyResult>('latency.ts', { url, namespace: ns('latency-wide'), partitions: WIDE_PARTITIONS },
      () => publishSteady(url, ns('latency-wide'), WIDE_PARTITIONS, DATA, LATENCY_RATE, 1_000, 10_000)));
    reload.add(await inChild<ReloadArgs, ReloadResult>('reload.ts', { url, namespace: ns('reload') }));
    await redis.client().flushall();
  }

  const bullMedians = [...bull].map(([concurrency, series]) => ({ concurrency, perSec: series.median(same), series }));
  const best = bullMedians.reduce((a, b) => (b.perSec > a.perSec ? b : a));
  const rounds = `${RUNS} runs`;
  const rate = (id: string, scenario: string, series: Series<number>): BenchResult => ({ id, scenario, eventsPerSec: series.median(same), rss: series.peak, samples: rounds });
  const lat = {
    startP50: latency.median((v) => v.startP50), startP99: latency.median((v) => v.startP99),
    hostP50: latency.median((v) => v.hostP50), hostP99: latency.median((v) => v.hostP99),
    samples: latency.median((v) => v.samples), publishedPerSec: latency.median((v) => v.publishedPerSec),
  };
  const reloadP99 = reload.median((v) => v.reloadP99);
  const perRun = (what: string, n: number) => `${RUNS} runs of ${n.toLocaleString('en-US')} ${what}`;
  const rows: BenchResult[] = [
    rate('1', `baseline: bare ioredis, per partition XREADGROUP COUNT 100 + one XACK, ${PARTITIONS} streams, ${EVENTS.toLocaleString('en-US')}-event backlog, no sandbox`, raw),
    rate('2', `fnrun: 1 trivial async function, ${PARTITIONS} partitions, same backlog`, one),
    rate('3', 'fnrun: 5 functions on the same events ((event, function) pairs/s)', five),
    rate('4', `BullMQ: Worker, trivial async processor, concurrency ${best.concurrency} (best of ${BULL_CONCURRENCY.join(', ')}), ${BULL_JOBS.toLocaleString('en-US')} addBulk'ed jobs`, best.series),
    { id: '5', scenario: `latency: publish → handler start, fnrun 1 function, steady ${LATENCY_RATE.toLocaleString('en-US')} events/s`, p50Ms: lat.startP50, p99Ms: lat.startP99, rss: latency.peak, samples: perRun('events', lat.samples) },
    { id: '', scenario: '↳ baseline: bare ioredis, per partition a blocking XREADGROUP + XACK, the same publisher: publish → read', p50Ms: rawLatency.median((v) => v.p50), p99Ms: rawLatency.median((v) => v.p99), rss: rawLatency.peak, samples: perRun('events', rawLatency.median((v) => v.samples)) },
    { id: '', scenario: '↳ same events: publish → outcome back on the host (before the commit)', p50Ms: lat.hostP50, p99Ms: lat.hostP99, samples: perRun('events', lat.samples) },
    { id: '', scenario: `↳ same as (5), the runtime's process started with \`${LATENCY_TUNED_FLAGS.join(' ')}\` (README: Running in production)`, p50Ms: tuned.median((v) => v.startP50), p99Ms: tuned.median((v) => v.startP99), rss: tuned.peak, samples: perRun('events', tuned.median((v) => v.samples)) },
    { id: '', scenario: `↳ same as (5) over ${WIDE_PARTITIONS} partitions (the wake reads are sharded, 16 partitions each)`, p50Ms: wide.median((v) => v.startP50), p99Ms: wide.median((v) => v.startP99), rss: wide.peak, samples: perRun('events', wide.median((v) => v.samples)) },
    { id: '6', scenario: 'dev reload: save → new version live', p50Ms: reload.median((v) => v.reloadP50), p99Ms: reloadP99, rss: reload.peak, samples: perRun('saves', reload.median((v) => v.saves)) },
    { id: '', scenario: '↳ reference: cold esbuild build of the same file', p50Ms: reload.median((v) => v.buildP50), p99Ms: reload.median((v) => v.buildP99), samples: perRun('builds', reload.median((v) => v.saves)) },
  ];

  const bullmqVersion = (createRequire(import.meta.url)('bullmq/package.json') as { version: string }).version;
  return report({
    rows,
    raw: raw.median(same),
    bull: best.perSec,
    one: one.median(same),
    five: five.median(same),
    latencyP99: lat.startP99,
    rawLatencyP99: rawLatency.median((v) => v.p99),
    reloadP99,
    bullAll: bullMedians,
    rounds: ([['1', raw], ['2', one], ['3', five], ['4', best.series]] as const).map(([id, series]) => ({ id, values: series.values })),
    publishedPerSec: lat.publishedPerSec,
    machine: `${cpus().length} cores (${cpus()[0]?.model.trim() ?? 'unknown'}), ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, redis-server ${redisVersion}, BullMQ ${bullmqVersion}`,
    load: [loadBefore, loadavg()[0]!],
    command,
    minutes: (performance.now() - began) / 60_000,
  });
}
