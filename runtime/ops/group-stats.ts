/**
 * Lag and pending per (function, partition), as the metrics scrape them: one XINFO GROUPS per
 * owned partition in one pipeline, each consumer group's numbers given to every member function
 * (a shared group's members share one cursor, so they share its lag).
 */
import type { Keys } from '../redis/keys.ts';
import { crossSlotPipeline } from '../redis/pipeline.ts';
import type { Redis } from '../redis/redis.ts';
import { parseGroupsInfo } from '../redis/stream-info.ts';

/** One function's lag and pending on one partition; lag is null when Redis cannot tell. */
export interface GroupStat {
  fn: string;
  partition: number;
  lag: number | null;
  pending: number;
}

/** The consumer groups running, by their name on the streams, with their member functions. */
export interface RunningGroup {
  readonly name: string;
  readonly members: readonly { readonly name: string }[];
}

/**
 * Stats of the groups running on `partitions`; a partition whose XINFO fails (no stream yet) is
 * left out. The groups are asked for once Redis replied: a function that came or went meanwhile
 * counts as it is then.
 */
export async function readGroupStats(redis: Redis, keys: Keys, partitions: readonly number[], running: () => readonly RunningGroup[]): Promise<GroupStat[]> {
  const pipeline = crossSlotPipeline(redis);
  for (const p of partitions) pipeline.xinfo('GROUPS', keys.partition(p).events);
  const replies = (await pipeline.exec()) ?? [];
  const byName = new Map(running().map((g) => [g.name, g]));
  const out: GroupStat[] = [];
  partitions.forEach((p, i) => {
    const [error, reply] = replies[i] ?? [null, []];
    if (error) return;
    for (const g of parseGroupsInfo(reply as unknown[])) {
      const group = byName.get(g.name);
      if (group) for (const member of group.members) out.push({ fn: member.name, partition: p, lag: g.lag, pending: g.pending });
    }
  });
  return out;
}
