/**
 * Consumer groups: by default each function is its own group (its own cursor, retries and pace);
 * functions that name the same `group` share one cursor and run per event in declared order
 * (`sequential`) or side by side (`parallel`).
 */
import type { FunctionHandle } from './function-handle.ts';
import { consumerGroupName } from '../redis/consumer-groups.ts';
import { validateGroups } from './manifest.ts';
import type { GroupMode } from '../types.ts';

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
