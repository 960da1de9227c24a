/**
 * Pipelines whose commands touch several partitions. On one Redis server this is a plain ioredis
 * pipeline: one round trip. On a Redis Cluster a pipeline must stay within one node, and a
 * partition's keys share a hash tag, not a node; so the commands are recorded, split by hash tag
 * (each tag is one slot), sent as one pipeline per tag concurrently, and the replies put back in
 * the order the commands were queued.
 */
import type { ChainableCommander } from 'ioredis';
import { isCluster, type Redis } from './redis.ts';

type Reply = [error: Error | null, result: unknown];

/**
 * Commands whose key is not their first argument. Scripts with a variable key count take it
 * first, then their keys (as an array: ioredis flattens it), so their first key is there.
 */
const KEY_AT: Record<string, number> = { xinfo: 1, xgroup: 1, object: 1, fnrunleaseacquire: 1, fnrunread: 1, fnruncommit: 1 };
/** Commands without a key: they ride with the command queued before them. */
const KEYLESS = new Set(['ping', 'time', 'echo']);

/** A pipeline that may span partitions; `exec()` replies in queue order, like ioredis'. */
export function crossSlotPipeline(redis: Redis): ChainableCommander {
  if (!isCluster(redis)) return redis.pipeline();
  const queued: { name: string; args: unknown[] }[] = [];
  const proxy: ChainableCommander = new Proxy({} as ChainableCommander, {
    get(_, name) {
      if (name === 'exec') return () => execGrouped(redis, queued);
      if (name === 'length') return queued.length;
      if (typeof name !== 'string' || name === 'then') return undefined;
      return (...args: unknown[]) => {
        queued.push({ name, args });
        return proxy;
      };
    },
  });
  return proxy;
}

async function execGrouped(redis: Redis, queued: readonly { name: string; args: unknown[] }[]): Promise<Reply[]> {
  const groups = new Map<string, number[]>();
  let previous = '';
  queued.forEach(({ name, args }, i) => {
    const lower = name.toLowerCase();
    const at = args[KEY_AT[lower] ?? 0];
    const tag = KEYLESS.has(lower) ? previous : hashTag(String(Array.isArray(at) ? at[0] : at));
    previous = tag;
    let list = groups.get(tag);
    if (list === undefined) groups.set(tag, (list = []));
    list.push(i);
  });
  const replies: Reply[] = new Array(queued.length);
  await Promise.all([...groups.values()].map(async (indexes) => {
    const pipeline = redis.pipeline() as unknown as Record<string, (...args: unknown[]) => unknown> & { exec(): Promise<Reply[] | null> };
    for (const i of indexes) pipeline[queued[i]!.name]!(...queued[i]!.args);
    const results = (await pipeline.exec()) ?? [];
    indexes.forEach((i, n) => { replies[i] = results[n] ?? [new Error('no reply'), null]; });
  }));
  return replies;
}

/** The part of `key` Redis Cluster hashes: the first non-empty `{…}`, else the whole key. */
export function hashTag(key: string): string {
  const open = key.indexOf('{');
  if (open >= 0) {
    const close = key.indexOf('}', open + 1);
    if (close > open + 1) return key.slice(open + 1, close);
  }
  return key;
}
