/**
 * Scenario 1, the ceiling: consume a pre-filled backlog with bare ioredis, no sandbox, no decoding,
 * no bookkeeping: per partition, XREADGROUP COUNT 100 then one XACK of the batch.
 *
 * It has fnrun's shape (one loop per partition, all on one connection, so up to 16 reads are in
 * flight at once) because that shape is the faster one here: a single loop reading all 16 streams
 * per XREADGROUP (what this file did first) ran about 25% slower, which made it a ceiling fnrun
 * could come close to for the wrong reason.
 */
import { Redis } from 'ioredis';
import { Keys } from '../runtime/redis/keys.ts';
import { redisOptionsFromUrl } from '../runtime/redis/redis.ts';
import { sampleRss } from './rss.ts';

export interface BaselineArgs {
  url: string;
  namespace: string;
  partitions: number;
  events: number;
}

/** Events/s over the whole backlog. */
export async function measure({ url, namespace, partitions, events }: BaselineArgs): Promise<number> {
  const redis = new Redis({ ...redisOptionsFromUrl(url), lazyConnect: false });
  const keys = new Keys(namespace);
  const streams = Array.from({ length: partitions }, (_, p) => keys.partition(p).events);
  for (const s of streams) await redis.xgroup('CREATE', s, 'raw', '0', 'MKSTREAM');
  let consumed = 0;
  const t0 = performance.now();
  await Promise.all(streams.map(async (stream) => {
    for (;;) {
      const reply = (await redis.call('XREADGROUP', 'GROUP', 'raw', 'c', 'COUNT', 100, 'STREAMS', stream, '>')) as [string, [string, string[]][]][] | null;
      const entries = reply?.[0]?.[1];
      if (!entries || entries.length === 0) return; // drained: nothing is published meanwhile
      consumed += entries.length;
      await redis.xack(stream, 'raw', ...entries.map((e) => e[0]));
    }
  }));
  const seconds = (performance.now() - t0) / 1000;
  if (consumed !== events) throw new Error(`consumed ${consumed} events, expected ${events}`);
  sampleRss();
  redis.disconnect();
  return events / seconds;
}
