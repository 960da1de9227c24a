/**
 * Who decides a shared group's settings: its **owner**, the member that joined the group first
 * (the lowest rank; the caller says what the ranks are — the registry's deploy order, or the order
 * functions were loaded in). Members share one cursor, so one member's settings hold back every
 * member's events: the group's `mode`; `ordering: 'partition'` (every key of a partition behind
 * every other); a long `timeoutMs` or retry schedule (a key held while the member runs or waits);
 * a low `concurrency` or fewer `instances` (every key queued for the member's few slots or
 * threads). A member may ask for none of
 * these beyond its owner, so the longest the group's events can wait on any member is what they
 * could wait on the owner itself. A member that does is refused, naming both functions; the owner
 * and the members that fit run.
 *
 * Pure: no Redis, no sandbox; unit-tested in test/unit/group-owners.test.ts.
 */
import { GroupConflictError, type ManifestIssue } from '../errors.ts';
import type { GroupMode, Manifest, RetryPolicy } from '../types.ts';
import { nominalDelayMs } from './backoff.ts';

/** A function that names a group (or none), with its rank: lower joined first. */
export interface GroupMember {
  name: string;
  manifest: Manifest;
  /** Lower joined the group first; ties break by name. */
  rank: number;
  /** Named in errors (its source file); the function's name when absent. */
  file?: string;
}

/** A shared group as resolved: its owner decides `mode`; `members` are in invocation order. */
export interface OwnedGroup {
  name: string;
  owner: string;
  mode: GroupMode;
  /** The members that run: by `order`, then by name. */
  members: string[];
}

/** The groups, and the members refused because they conflict with their group's owner. */
export interface GroupResolution {
  /** Sorted by group name. */
  groups: OwnedGroup[];
  /** One error per refused member (it names the member, the owner and every conflicting field). */
  refused: Map<string, GroupConflictError>;
}

/**
 * The longest a retry schedule waits between attempts in all, without jitter (jitter only ever
 * shortens a delay): the sum of the nominal delays after attempts 1 … attempts − 1.
 * @example retryWaitMs({ attempts: 3, backoff: 'exponential', initialDelayMs: 200, maxDelayMs: 30_000 }) === 600
 */
export function retryWaitMs(policy: RetryPolicy): number {
  let total = 0;
  for (let failed = 1; failed < policy.attempts; failed++) {
    total += nominalDelayMs(policy, failed);
  }
  return total;
}

/** The fields of `member` that ask for more than `owner` allows (empty: it fits). */
export function ownerConflicts(member: { name: string; manifest: Manifest }, owner: { name: string; manifest: Manifest }): ManifestIssue[] {
  const m = member.manifest;
  const o = owner.manifest;
  const group = o.group?.name ?? m.group?.name ?? '';
  const theirs = `group "${group}"'s owner "${owner.name}"`;
  const issues: ManifestIssue[] = [];
  if (m.group !== null && o.group !== null && m.group.mode !== o.group.mode) {
    issues.push({
      path: 'group.mode',
      message: `function "${member.name}" puts group "${group}" in "${m.group.mode}" mode but ${theirs} has "${o.group.mode}" ` +
        '("sequential" is the default when a group is given by name only); every function in a group must use its owner\'s mode',
    });
  }
  if (m.ordering === 'partition' && o.ordering !== 'partition') {
    issues.push({
      path: 'ordering',
      message: `function "${member.name}" asks for ordering "partition", which would hold every key of group "${group}" behind each other, but ${theirs} has "${o.ordering}"; use ordering "${o.ordering}", or leave the group`,
    });
  }
  if (m.timeoutMs > o.timeoutMs) {
    issues.push({
      path: 'timeoutMs',
      message: `function "${member.name}" has timeoutMs ${m.timeoutMs}, above the ${o.timeoutMs} of ${theirs}: a member may not hold the group's events longer than its owner; lower it to at most ${o.timeoutMs}, or leave the group`,
    });
  }
  if (m.retry.attempts > o.retry.attempts) {
    issues.push({
      path: 'retry.attempts',
      message: `function "${member.name}" has retry.attempts ${m.retry.attempts}, above the ${o.retry.attempts} of ${theirs}; lower it to at most ${o.retry.attempts}, or leave the group`,
    });
  }
  const wait = retryWaitMs(m.retry);
  const ownerWait = retryWaitMs(o.retry);
  if (wait > ownerWait) {
    issues.push({
      path: 'retry',
      message: `the retries of function "${member.name}" wait up to ${wait} ms in all (its backoff, initialDelayMs and maxDelayMs), above the ${ownerWait} ms of ${theirs}; shorten its delays, or leave the group`,
    });
  }
  if (m.instances < o.instances) {
    issues.push({
      path: 'instances',
      message: `function "${member.name}" has instances ${m.instances}, below the ${o.instances} of ${theirs}: the group's events would queue for its isolates; raise it to at least ${o.instances}, or leave the group`,
    });
  }
  if (m.concurrency < o.concurrency) {
    issues.push({
      path: 'concurrency',
      message: `function "${member.name}" has concurrency ${m.concurrency}, below the ${o.concurrency} of ${theirs}: the group's keys would queue for its slots; raise it to at least ${o.concurrency}, or leave the group`,
    });
  }
  return issues;
}

const byName = (a: { name: string }, b: { name: string }) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/**
 * Resolves every shared group of `functions` (those without a group are ignored): each group's
 * owner is its lowest-ranked member (then by name); members that conflict with it are refused.
 * The owner itself is never refused, and whether a member fits depends on it and the owner alone,
 * so the result does not depend on the order of `functions`.
 */
export function resolveGroups(functions: readonly GroupMember[]): GroupResolution {
  const byGroup = new Map<string, GroupMember[]>();
  for (const fn of functions) {
    if (fn.manifest.group === null) continue;
    const members = byGroup.get(fn.manifest.group.name) ?? [];
    members.push(fn);
    byGroup.set(fn.manifest.group.name, members);
  }
  const groups: OwnedGroup[] = [];
  const refused = new Map<string, GroupConflictError>();
  for (const [name, members] of [...byGroup.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const owner = [...members].sort((a, b) => a.rank - b.rank || byName(a, b))[0]!;
    const running: GroupMember[] = [];
    for (const m of members) {
      const issues = m === owner ? [] : ownerConflicts(m, owner);
      if (issues.length === 0) running.push(m);
      else refused.set(m.name, new GroupConflictError(m.file ?? m.name, issues, { group: name, member: m.name, owner: owner.name }));
    }
    const order = (m: GroupMember) => m.manifest.group!.order;
    groups.push({ name, owner: owner.name, mode: owner.manifest.group!.mode, members: running.sort((a, b) => order(a) - order(b) || byName(a, b)).map((m) => m.name) });
  }
  return { groups, refused };
}
