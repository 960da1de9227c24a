/**
 * Writes a {@link CommitBatch} with one call of the `commit` Lua script (redis/lua/commit.lua):
 * builds its key list (every key under the partition's hash tag, so it works on a Cluster) and its
 * arguments. No spread of large arrays (they overflow the JS call stack), no re-serialising.
 */
import type { PartitionKeys } from '../redis/keys.ts';
import type { ScriptedRedis } from '../redis/scripts.ts';
import type { CommitBatch } from './commit-batch.ts';

/** Where and as whom a commit is written. */
export interface CommitTarget {
  redis: ScriptedRedis;
  pk: PartitionKeys;
  group: string;
  /** Every member of the group: their done marks and failure records are cleared for acked events. */
  members: readonly string[];
  /** Several members: completions are marked per member until the last one, then acked. */
  marks: boolean;
}

/**
 * Sends `batch` as commit `commitId` under lease `token` ('' when unfenced), after the worker's
 * commit `previous` ('' for its first). Rejects with FENCED if the lease moved, or if `previous` is
 * not the last commit applied (Redis lost it). Resolves with how many acked events were not
 * pending (recorded as settled: their read was lost in a failover).
 */
export async function writeCommit(t: CommitTarget, batch: CommitBatch, commitId: string, token: string, previous = ''): Promise<number> {
  const { pk, group } = t;
  const keys: string[] = [pk.events, pk.lease, pk.activeVersions, pk.commits, pk.settled(group)];
  const index = new Map<string, number>();
  const key = (k: string): number => {
    let i = index.get(k);
    if (i === undefined) {
      keys.push(k);
      i = keys.length; // Lua KEYS are 1-based
      index.set(k, i);
    }
    return i;
  };
  const args: (string | number)[] = [group, token, commitId, previous, batch.acks.length];
  for (const id of batch.acks) args.push(id);
  const clear: number[] = [];
  if (batch.acks.length > 0) {
    for (const m of t.members) {
      clear.push(key(pk.attempts(m)));
      if (t.marks) clear.push(key(pk.done(group, m)));
    }
  }
  args.push(clear.length);
  for (const c of clear) args.push(c);
  args.push(batch.parts.size);
  for (const p of batch.parts.values()) {
    args.push(p.name, p.version, p.firstId ?? '', key(pk.takeovers(p.name)), key(pk.attempts(p.name)), t.marks ? key(pk.done(group, p.name)) : 0, key(pk.deadLetters(p.name)));
    args.push(p.marks.length);
    for (const id of p.marks) args.push(id);
    args.push(p.failures.length);
    for (const [id, json] of p.failures) args.push(id, json);
    args.push(p.dead.length);
    for (const fields of p.dead) {
      args.push(fields.length);
      for (const f of fields) args.push(f);
    }
    args.push(p.emits.length);
    for (const e of p.emits) {
      args.push(key(e.stream), e.fields.length);
      for (const f of e.fields) args.push(f);
    }
    args.push(p.state.size);
    for (const s of p.state.values()) {
      const sets: [string, string][] = [];
      const dels: string[] = [];
      for (const [name, json] of s.writes) if (json === null) dels.push(name); else sets.push([name, json]);
      args.push(key(s.hash), s.ttlMs ?? 0, sets.length);
      for (const [name, json] of sets) args.push(name, json);
      args.push(dels.length);
      for (const name of dels) args.push(name);
    }
    args.push(p.released.length);
    for (const id of p.released) args.push(id);
  }
  return t.redis.fnrunCommit(keys.length, keys, args);
}
