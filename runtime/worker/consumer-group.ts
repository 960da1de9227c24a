/**
 * Consumer groups: by default each function is its own group (its own cursor, retries and pace);
 * functions that name the same `group` share one cursor and run per event in declared order
 * (`sequential`) or side by side (`parallel`).
 */
import type { FunctionHandle } from '../loading/function-handle.ts';
import { consumerGroupName } from '../redis/keys.ts';
import { validateGroups } from '../loading/manifest.ts';
import type { Redis } from 'ioredis';
import type { Keys } from '../redis/keys.ts';
import type { GroupMode, Manifest } from '../types.ts';
import { crossSlotPipeline } from '../redis/pipeline.ts';

export interface ConsumerGroup {
  /** The consumer-group name on the partition streams (`fn:<name>` or `group:<name>`). */
  readonly name: string;
  /** Read at the start of every batch, so a reload takes effect between batches. */
  mode: GroupMode;
  /** In invocation order; replaced as a whole when a member is reloaded. */
  members: readonly FunctionHandle[];
  /** Where a new consumer group starts: at new events, or at the earliest retained one. */
  readonly startFrom: 'latest' | 'earliest';
}

function startOf(members: readonly FunctionHandle[]): 'latest' | 'earliest' {
  return members.some((m) => m.manifest.startFrom === 'earliest') ? 'earliest' : 'latest';
}

/** Groups loaded functions; throws ManifestError when members of one group disagree on its mode. */
export function planGroups(functions: readonly FunctionHandle[]): ConsumerGroup[] {
  const byName = new Map(functions.map((f) => [f.name, f]));
  const groups: ConsumerGroup[] = functions
    .filter((fn) => fn.manifest.group === null)
    .map((fn) => ({ name: consumerGroupName('function', fn.name), mode: 'sequential', members: [fn], startFrom: startOf([fn]) }));
  for (const shared of validateGroups(functions)) {
    const members = shared.members.map((name) => byName.get(name)!);
    groups.push({ name: consumerGroupName('group', shared.name), mode: shared.mode, members, startFrom: startOf(members) });
  }
  return groups;
}

/** The consumer-group name a function reads with, from its manifest. */
export function consumerGroupOf(fn: string, manifest: Manifest): string {
  return manifest.group === null ? consumerGroupName('function', fn) : consumerGroupName('group', manifest.group.name);
}

/**
 * Creates a function's consumer group on every partition, if missing: at the end of each stream
 * (`startFrom: 'latest'`) or at its start. A deploy does this, so a new function's cursor starts at
 * the deploy — not whenever some process gets around to starting a worker for each partition.
 */
export async function ensureConsumerGroups(redis: Redis, keys: Keys, partitions: number, fn: string, manifest: Manifest): Promise<void> {
  const group = consumerGroupOf(fn, manifest);
  const pipeline = crossSlotPipeline(redis);
  for (let p = 0; p < partitions; p++) pipeline.xgroup('CREATE', keys.partition(p).events, group, manifest.startFrom === 'earliest' ? '0' : '$', 'MKSTREAM');
  for (const [error] of (await pipeline.exec()) ?? []) {
    if (error && !error.message.includes('BUSYGROUP')) throw error;
  }
}
