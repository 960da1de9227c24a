/**
 * Scenario 5's baseline: the same steady publisher, read by bare ioredis with no fnrun in between:
 * per partition, its own connection blocked in XREADGROUP (COUNT 100, BLOCK 1 s), then one XACK of
 * what it read. Each sample is the reader's Date.now() when the reply is in minus the entry's
 * `time` (the publisher's Date.now() just before its XADD): publish → read, the part of (5) that
 * no runtime can avoid, on the same machine in the same run. Integer milliseconds, as in (5).
 */
import { Redis } from 'ioredis';
import { Keys } from '../runtime/redis/keys.ts';
import { redisOptionsFromUrl } from '../runtime/redis/redis.ts';
import type { Parent } from './child.ts';
import type { LatencyArgs } from './latency.ts';
import { sampleRss } from './rss.ts';
import { percentile } from './stats.ts';

export interface RawLatencyResult {
  samples: number;
  p50: number;
  p99: number;
}

/** What the publisher reports once done (see latency.ts `publishSteady`). */
interface Published {
  count: number;
  measureFrom: number;
}

export async function measure({ url, namespace, partitions }: LatencyArgs, parent: Parent): Promise<RawLatencyResult> {
  const keys = new Keys(namespace);
  const streams = Array.from({ length: partitions }, (_, p) => keys.partition(p).events);
  const command = new Redis({ ...redisOptionsFromUrl(url), lazyConnect: false });
  // One blocking connection per partition: a blocked XREADGROUP holds its connection.
  const readers = streams.map(() => new Redis({ ...redisOptionsFromUrl(url), lazyConnect: false }));
  for (const s of streams) await command.xgroup('CREATE', s, 'raw', '$', 'MKSTREAM');
  const seen: { publishedAt: number; readAt: number }[] = [];
  let expected = Infinity;
  let done: () => void = () => {};
  const finished = new Promise<void>((resolve) => { done = resolve; });
  let stopping = false;
  const loops = streams.map(async (stream, p) => {
    while (!stopping) {
      const reply = (await readers[p]!.call('XREADGROUP', 'GROUP', 'raw', 'c', 'COUNT', 100, 'BLOCK', 1000, 'STREAMS', stream, '>')) as [string, [string, string[]][]][] | null;
      const entries = reply?.[0]?.[1];
      if (!entries) continue;
      const readAt = Date.now();
      for (const [, fields] of entries) seen.push({ publishedAt: Number(fields[fields.indexOf('time') + 1]), readAt });
      await command.xack(stream, 'raw', ...entries.map((e) => e[0]));
      if (seen.length >= expected) done();
    }
  });
  try {
    const published = (await parent.ready()) as Published;
    expected = published.count;
    if (seen.length >= expected) done();
    await finished;
    sampleRss();
    const lags = seen.filter((s) => s.publishedAt >= published.measureFrom).map((s) => s.readAt - s.publishedAt);
    return { samples: lags.length, p50: percentile(lags, 50), p99: percentile(lags, 99) };
  } finally {
    stopping = true;
    await Promise.all(loops);
    for (const r of readers) r.disconnect();
    command.disconnect();
  }
}
