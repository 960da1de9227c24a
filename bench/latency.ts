/**
 * Scenario 5: latency at a steady 2,000 events/s, fnrun running one function.
 *
 * The bench process publishes (a producer is another process in real life); this scenario's
 * process runs fnrun. What is measured, per event, with what the public API gives:
 *  - publish → handler start: the handler's first statement logs `event.time` (the publisher's
 *    Date.now() just before its XADD); the log line carries the isolate's own Date.now() at that
 *    call; the difference is the latency. Both are wall-clock ms on one machine, so every sample is
 *    an integer ms: the true value lies within 1 ms of it.
 *  - publish → outcome on the host: the host's Date.now() in `onInvocation` minus `event.time`:
 *    the above plus the handler and the way back, but not the commit (XACK) that follows.
 * Events of the first second (warm-up: JIT, first wakes) are published but not counted.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createJsonLogger, Publisher, Runtime } from '../runtime/index.ts';
import type { Parent } from './child.ts';
import { sampleRss } from './rss.ts';
import { percentile } from './stats.ts';

export interface LatencyArgs {
  url: string;
  namespace: string;
  partitions: number;
}

export interface LatencyResult {
  samples: number;
  startP50: number;
  startP99: number;
  hostP50: number;
  hostP99: number;
  publishedPerSec: number;
}

/** What the publisher tells the scenario once it is done. */
interface Published {
  count: number;
  /** Events published from this time (ms since the epoch) on are counted. */
  measureFrom: number;
  perSec: number;
}

/**
 * Publishes `ratePerSec` events for `warmupMs + measureMs`, paced on a 1 ms timer: each tick sends
 * the events due by then in one pipeline (usually 2), so the pace is steady at 1 ms granularity.
 */
export async function publishSteady(url: string, namespace: string, partitions: number, data: unknown, ratePerSec: number, warmupMs: number, measureMs: number): Promise<Published> {
  const publisher = await Publisher.connect({ redis: url, namespace, partitions });
  const total = Math.round((ratePerSec * (warmupMs + measureMs)) / 1000);
  const measureFrom = Date.now() + warmupMs;
  const t0 = performance.now();
  const sends: Promise<unknown>[] = [];
  let sent = 0;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const due = Math.min(total, Math.floor(((performance.now() - t0) * ratePerSec) / 1000));
      if (due > sent) {
        sends.push(publisher.publishBatch(Array.from({ length: due - sent }, (_, j) => ({ type: 'bench.event', key: `key-${(sent + j) % 1000}`, data }))));
        sent = due;
      }
      if (sent < total) setTimeout(tick, 1);
      else resolve();
    };
    tick();
  });
  await Promise.all(sends);
  const perSec = total / ((performance.now() - t0) / 1000);
  await publisher.close();
  return { count: total, measureFrom, perSec };
}

export async function measure({ url, namespace, partitions }: LatencyArgs, parent: Parent): Promise<LatencyResult> {
  const dir = mkdtempSync(join(tmpdir(), 'fnrun-bench-latency-'));
  mkdirSync(join(dir, 'functions'));
  writeFileSync(join(dir, 'functions', 'lag.ts'), "export const config = { events: ['bench.*'] };\nexport default async function handler(event: { time: number }, ctx: { log: { info(m: unknown): void } }) { ctx.log.info(event.time); }\n");
  const seen: { publishedAt: number; startedAt: number; backAt: number }[] = [];
  let expected = Infinity;
  let problem: Error | null = null;
  let done: () => void = () => {};
  const finished = new Promise<void>((resolve) => { done = resolve; });
  const runtime = await Runtime.create({
    redis: url, namespace, partitions, functionsDir: join(dir, 'functions'), logger: createJsonLogger('silent'),
    onInvocation: (r) => {
      const line = r.logs?.[0];
      // Not thrown: this runs inside the runtime's loop. Reported once the run is over.
      if (r.status !== 'ok' || line === undefined) {
        problem ??= new Error(`unexpected invocation: ${JSON.stringify(r)}`);
        return done();
      }
      seen.push({ publishedAt: Number(line.msg), startedAt: line.time, backAt: Date.now() });
      if (seen.length >= expected) done();
    },
  });
  try {
    await runtime.start();
    if (runtime.loadFailures.length > 0) throw runtime.loadFailures[0]!.error;
    const published = (await parent.ready()) as Published;
    expected = published.count;
    if (seen.length >= expected) done();
    await finished;
    if (problem !== null) throw problem;
    sampleRss();
    const counted = seen.filter((s) => s.publishedAt >= published.measureFrom);
    const start = counted.map((s) => s.startedAt - s.publishedAt);
    const back = counted.map((s) => s.backAt - s.publishedAt);
    return {
      samples: counted.length,
      startP50: percentile(start, 50), startP99: percentile(start, 99),
      hostP50: percentile(back, 50), hostP99: percentile(back, 99),
      publishedPerSec: published.perSec,
    };
  } finally {
    await runtime.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
