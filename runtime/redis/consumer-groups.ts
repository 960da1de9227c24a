/**
 * Consumer groups on the partition streams: their names, and their creation. Every group is
 * created here, by a deploy (on every partition, so a new function's cursor starts at the deploy)
 * or by a worker (for functions run without a deploy: `fnrun dev`, library runtimes).
 */
import type { Keys } from './keys.ts';
import { crossSlotPipeline } from './pipeline.ts';
import type { Redis } from './redis.ts';
import { isBusyGroup } from './reply-errors.ts';

/** Where a new consumer group starts: at new events, or at the earliest retained one. */
export type StartFrom = 'latest' | 'earliest';

/** Consumer-group name on the partition streams: one per solo function, one per shared group. */
export function consumerGroupName(kind: 'function' | 'group', name: string): string {
  return kind === 'function' ? `fn:${name}` : `group:${name}`;
}

/** The consumer-group name a function reads with, from its manifest's group. */
export function consumerGroupOf(fn: string, group: { name: string } | null): string {
  return group === null ? consumerGroupName('function', fn) : consumerGroupName('group', group.name);
}

/** Creates `group` on `stream` if missing (and the stream with it). */
export async function ensureConsumerGroup(redis: Redis, stream: string, group: string, startFrom: StartFrom): Promise<void> {
  try {
    await redis.xgroup('CREATE', stream, group, startFrom === 'earliest' ? '0' : '$', 'MKSTREAM');
  } catch (error) {
    if (!isBusyGroup(error)) throw error;
  }
}

/** Creates `group` on every partition of the namespace, if missing; one round trip (per slot on a Cluster). */
export async function ensureConsumerGroups(redis: Redis, keys: Keys, partitions: number, group: string, startFrom: StartFrom): Promise<void> {
  const pipeline = crossSlotPipeline(redis);
  for (let p = 0; p < partitions; p++) pipeline.xgroup('CREATE', keys.partition(p).events, group, startFrom === 'earliest' ? '0' : '$', 'MKSTREAM');
  for (const [error] of (await pipeline.exec()) ?? []) {
    if (error && !isBusyGroup(error)) throw error;
  }
}
