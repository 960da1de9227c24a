/**
 * Consumer groups: by default each function is its own group (its own cursor, retries and pace);
 * functions that name the same `group` share one cursor and run per event in declared order
 * (`sequential`) or side by side (`parallel`). A shared group's owner (the member that joined it
 * first) decides its settings; members that conflict with it are left out (policy/group-owners.ts).
 */
import type { GroupConflictError } from '../errors.ts';
import type { FunctionHandle } from './function-handle.ts';
import { consumerGroupName } from '../redis/consumer-groups.ts';
import { resolveGroups } from '../policy/group-owners.ts';
import type { GroupMode } from '../types.ts';

export interface ConsumerGroup {
  /** The consumer-group name on the partition streams (`fn:<name>` or `group:<name>`). */
  readonly name: string;
  /** Read at the start of every batch, so a reload takes effect between batches. */
  mode: GroupMode;
  /** In invocation order; replaced as a whole when a member is reloaded. */
  members: readonly FunctionHandle[];
  /** Where a new consumer group starts (the owner's `startFrom`): at new events, or at the earliest retained one. */
  readonly startFrom: 'latest' | 'earliest';
}

/** The consumer groups of `functions`, and the members refused by their group's owner. */
export interface GroupPlan {
  groups: ConsumerGroup[];
  refused: Map<string, GroupConflictError>;
}

/** Groups loaded functions; `rank(name)` orders who joined a shared group first (lower first). */
export function planGroups(functions: readonly FunctionHandle[], rank: (name: string) => number): GroupPlan {
  const byName = new Map(functions.map((f) => [f.name, f]));
  const groups: ConsumerGroup[] = functions
    .filter((fn) => fn.manifest.group === null)
    .map((fn) => ({ name: consumerGroupName('function', fn.name), mode: 'sequential', members: [fn], startFrom: fn.manifest.startFrom }));
  const resolved = resolveGroups(functions.map((f) => ({ name: f.name, manifest: f.manifest, rank: rank(f.name), file: f.file })));
  for (const shared of resolved.groups) {
    const members = shared.members.map((name) => byName.get(name)!);
    groups.push({ name: consumerGroupName('group', shared.name), mode: shared.mode, members, startFrom: byName.get(shared.owner)!.manifest.startFrom });
  }
  return { groups, refused: resolved.refused };
}
