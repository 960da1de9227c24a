/**
 * Which process should own which partition, computed identically by every process from the same
 * list of live members, with no coordinator.
 *
 * Rendezvous (highest-random-weight) hashing ranks the members for each partition; a partition goes
 * to its highest-ranked member that still has room, room being ceil(P / N). So shares are balanced
 * (no member gets more than ceil(P / N)), and a member joining or leaving moves few partitions:
 * mostly those it takes or gives up.
 */
import { xxh64Hex } from './xxhash64.ts';

/** `owner[p]` is the member that should own partition p; `members` may come in any order. */
export function assignPartitions(members: readonly string[], partitions: number): string[] {
  const sorted = [...new Set(members)].sort();
  if (sorted.length === 0) return [];
  const room = Math.ceil(partitions / sorted.length);
  const load = new Map(sorted.map((m) => [m, 0]));
  const owner = new Array<string>(partitions);
  for (let p = 0; p < partitions; p++) {
    const ranked = sorted.map((m) => ({ m, w: xxh64Hex(`${m}\u0000${p}`) })).sort((a, b) => (a.w < b.w ? 1 : a.w > b.w ? -1 : 0));
    const chosen = ranked.find((r) => load.get(r.m)! < room)!;
    owner[p] = chosen.m;
    load.set(chosen.m, load.get(chosen.m)! + 1);
  }
  return owner;
}
