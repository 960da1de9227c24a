/**
 * `getStatus`: partitions, owners and per-function lag, pending, retries and dead letters of a
 * namespace, read from Redis alone — XINFO, XPENDING, XLEN, HLEN and HGETALL of small hashes, a few
 * round trips of pipelined commands whatever the traffic. No stream is scanned: the only entries
 * read are the few stuck ones, by id.
 *
 * Functions come from the registry (deployed) and from the streams: every `fn:<name>` consumer
 * group, and every function in a partition's `versions` hash (each function that ever committed
 * there), which is how functions run by `fnrun dev` show up. See README "fnrun status".
 */
import type { Redis } from '../redis/redis.ts';
import { parseLeaseToken, type Keys } from '../redis/keys.ts';
import { resolvePartitions } from '../redis/namespace.ts';
import { consumerGroupName } from '../redis/consumer-groups.ts';
import type { Rates, RateWindow } from '../policy/rate-window.ts';
import { Registry, type FunctionSummary } from '../deploy/registry.ts';
import { EMPTY_STREAM, groupLag, parseGroupsInfo, parseStreamInfo, type GroupInfo, type StreamInfo } from '../redis/stream-info.ts';
import { compareStreamIds, streamIdTime } from '../redis/stream-id.ts';
import { collectStuck, type FailureRow } from './status-stuck.ts';
import type { FunctionStatus, GroupStatus, PartitionStatus, PendingEntry, Status } from './status-report.ts';
import { crossSlotPipeline } from '../redis/pipeline.ts';

export type * from './status-report.ts';

export interface StatusOptions {
  /** Checked against the namespace's stored count. @defaultValue the stored count */
  partitions?: number;
  /** Stuck events listed per function. @defaultValue 5 */
  stuckLimit?: number;
  /**
   * Earlier samples, for rates: pass the same window to successive calls (as `--watch` does).
   * Without one, every rate is null: one snapshot cannot tell a rate.
   */
  rates?: RateWindow;
}

/** What round 1 reads of one partition. */
interface PartitionRead {
  lease: string | null;
  leaseTtlMs: number;
  stream: StreamInfo;
  groups: GroupInfo[];
  /** Function → the version that last committed on this partition. */
  versions: Record<string, string>;
}

/**
 * A status snapshot of the namespace `keys` names.
 * @throws ConfigError when the namespace does not exist or `opts.partitions` does not match it
 */
export async function getStatus(redis: Redis, keys: Keys, opts: StatusOptions = {}): Promise<Status> {
  const partitionCount = await resolvePartitions(redis, keys, opts.partitions, { create: false });
  const deployed = await new Registry(redis, keys).list();
  const { time, members, parts } = await readPartitions(redis, keys, partitionCount);
  const rates = opts.rates?.add(time, counters(parts));
  const { fns, groupNames } = knownFunctions(deployed, parts);
  const names = [...fns.keys()].sort();
  const { oldest, totals, failing } = await readPendingAndCounts(redis, keys, time, parts, names);
  const groups = [...groupNames].sort().map((name) => groupStatus(name, parts, fns, oldest.get(name) ?? null, rates));
  const byGroup = new Map(groups.map((g) => [g.name, g]));
  const rows = await readFailures(redis, keys, failing);
  const stuck = await collectStuck(redis, keys, time, rows, (fn) => fns.get(fn)?.group ?? null, opts.stuckLimit ?? 5);

  const functions: FunctionStatus[] = names.map((name) => {
    const f = fns.get(name)!;
    const g = f.group === null ? undefined : byGroup.get(f.group);
    return {
      name, deployed: f.deployed, version: f.version, committedVersions: [...f.committed].sort(), group: f.group,
      lag: g?.lag ?? null, lagEstimated: g?.lagEstimated ?? false, pending: g?.pending ?? 0,
      oldestPending: g?.oldestPending ?? null, eventsPerSecond: g?.eventsPerSecond ?? null,
      retriesInFlight: totals.get(name)!.retries, deadLetters: totals.get(name)!.deadLetters, stuck: stuck.get(name) ?? [],
    };
  });
  const partitions: PartitionStatus[] = parts.map((p, partition) => {
    const lease = p.lease === null ? null : parseLeaseToken(p.lease);
    return {
      partition,
      owner: lease?.member ?? null,
      epoch: lease?.epoch ?? null,
      leaseTtlMs: p.lease === null || p.leaseTtlMs < 0 ? null : p.leaseTtlMs,
      length: p.stream.length, firstId: p.stream.firstId, lastId: p.stream.lastId, entriesAdded: p.stream.entriesAdded,
      publishedPerSecond: rates?.perSecond([`added:${partition}`]) ?? null,
    };
  });
  return { namespace: keys.namespace, partitionCount, time, rateWindowMs: rates?.windowMs ?? null, members, partitions, groups, functions };
}

interface KnownFunction {
  deployed: boolean;
  version: string | null;
  group: string | null;
  committed: Set<string>;
}

/**
 * The functions to report and the consumer group of each: deployed ones with the group their
 * manifest names; the rest from the streams (`fn:<name>` groups, partitions' `versions` hashes).
 */
function knownFunctions(deployed: readonly FunctionSummary[], parts: readonly PartitionRead[]) {
  const fns = new Map<string, KnownFunction>();
  for (const d of deployed) {
    const group = d.manifest.group ? consumerGroupName('group', d.manifest.group.name) : consumerGroupName('function', d.name);
    fns.set(d.name, { deployed: true, version: String(d.active), group, committed: new Set() });
  }
  const groupNames = new Set(parts.flatMap((p) => p.groups.map((g) => g.name)));
  for (const name of groupNames) {
    const fn = name.startsWith('fn:') ? name.slice(3) : null;
    if (fn !== null && !fns.has(fn)) fns.set(fn, { deployed: false, version: null, group: name, committed: new Set() });
  }
  for (const p of parts) {
    for (const [fn, version] of Object.entries(p.versions)) {
      if (!fns.has(fn)) fns.set(fn, { deployed: false, version: null, group: null, committed: new Set() });
      fns.get(fn)!.committed.add(version);
    }
  }
  // A function that committed but has no `fn:` group runs in a shared group. Without the registry
  // its manifest is unknown; when exactly one shared group is unaccounted for, it must be that one.
  const claimed = new Set([...fns.values()].map((f) => f.group));
  const unclaimed = [...groupNames].filter((g) => g.startsWith('group:') && !claimed.has(g));
  if (unclaimed.length === 1) for (const f of fns.values()) if (f.group === null) f.group = unclaimed[0]!;
  // Deployed groups that no runtime created yet are reported too (lag null, nothing pending).
  for (const f of fns.values()) if (f.group !== null) groupNames.add(f.group);
  return { fns, groupNames };
}

/** Round 2: the oldest pending entry of each group (XPENDING - + 1 per partition), failure-record counts and DLQ sizes. */
async function readPendingAndCounts(redis: Redis, keys: Keys, time: number, parts: readonly PartitionRead[], names: readonly string[]) {
  const round = crossSlotPipeline(redis);
  const pendingAt: { group: string; partition: number }[] = [];
  parts.forEach((p, partition) => {
    for (const g of p.groups) {
      if (g.pending === 0) continue;
      pendingAt.push({ group: g.name, partition });
      round.xpending(keys.partition(partition).events, g.name, '-', '+', 1);
    }
  });
  for (const fn of names) {
    for (let p = 0; p < parts.length; p++) round.hlen(keys.partition(p).attempts(fn)).xlen(keys.partition(p).deadLetters(fn));
  }
  const replies = await exec(round);

  const oldest = new Map<string, PendingEntry>();
  pendingAt.forEach(({ group, partition }, i) => {
    const row = (replies[i] as [string, string, number, number][])[0];
    if (row === undefined) return; // acknowledged between XINFO and XPENDING
    const entry: PendingEntry = { partition, id: row[0], ageMs: Math.max(0, time - streamIdTime(row[0])), idleMs: Number(row[2]), deliveries: Number(row[3]) };
    const known = oldest.get(group);
    if (known === undefined || compareStreamIds(entry.id, known.id) < 0) oldest.set(group, entry);
  });
  const failing: { fn: string; partition: number }[] = [];
  const totals = new Map<string, { retries: number; deadLetters: number }>();
  names.forEach((fn, f) => {
    const sum = { retries: 0, deadLetters: 0 };
    for (let p = 0; p < parts.length; p++) {
      const at = pendingAt.length + 2 * (f * parts.length + p);
      const retries = Number(replies[at]);
      if (retries > 0) failing.push({ fn, partition: p });
      sum.retries += retries;
      sum.deadLetters += Number(replies[at + 1]);
    }
    totals.set(fn, sum);
  });
  return { oldest, totals, failing };
}

/** Round 1: Redis' clock, the members, and each partition's lease, stream, groups and versions. */
async function readPartitions(redis: Redis, keys: Keys, partitionCount: number) {
  const round = crossSlotPipeline(redis).time().zrange(keys.members, 0, -1, 'WITHSCORES');
  for (let p = 0; p < partitionCount; p++) {
    const pk = keys.partition(p);
    round.get(pk.lease).pttl(pk.lease).xinfo('STREAM', pk.events).xinfo('GROUPS', pk.events).hgetall(pk.activeVersions);
  }
  const replies = await exec(round, (error) => /no such key/i.test(error.message));
  const [seconds, micros] = replies[0] as [string, string];
  const time = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
  const flat = replies[1] as string[];
  const members = [];
  for (let i = 0; i + 1 < flat.length; i += 2) members.push({ id: flat[i]!, heartbeatAgeMs: Math.max(0, time - Number(flat[i + 1])) });
  const parts: PartitionRead[] = [];
  for (let p = 0; p < partitionCount; p++) {
    const [lease, ttl, stream, groups, versions] = replies.slice(2 + 5 * p, 7 + 5 * p);
    parts.push({
      lease: (lease as string | null) ?? null,
      leaseTtlMs: Number(ttl),
      stream: stream === undefined ? EMPTY_STREAM : parseStreamInfo(stream as unknown[]),
      groups: groups === undefined ? [] : parseGroupsInfo(groups as unknown[]),
      versions: versions as Record<string, string>,
    });
  }
  return { time, members, parts };
}

/** Round 3: the failure records of the (function, partition) pairs that have any. */
async function readFailures(redis: Redis, keys: Keys, failing: readonly { fn: string; partition: number }[]): Promise<FailureRow[]> {
  if (failing.length === 0) return [];
  const round = crossSlotPipeline(redis);
  for (const { fn, partition } of failing) round.hgetall(keys.partition(partition).attempts(fn));
  const replies = await exec(round);
  return failing.flatMap(({ fn, partition }, i) =>
    Object.entries(replies[i] as Record<string, string>).map(([id, record]) => ({ fn, partition, id, record })));
}

function groupStatus(
  name: string,
  parts: readonly PartitionRead[],
  fns: ReadonlyMap<string, KnownFunction>,
  oldestPending: PendingEntry | null,
  rates: Rates | undefined,
): GroupStatus {
  let lag: number | null = null;
  let lagEstimated = false;
  let pending = 0;
  let partitions = 0;
  const readCounters: string[] = [];
  parts.forEach((p, partition) => {
    const g = p.groups.find((x) => x.name === name);
    if (g === undefined) return;
    const l = groupLag(g, p.stream);
    lag = (lag ?? 0) + l.lag;
    lagEstimated ||= l.estimated;
    pending += g.pending;
    partitions++;
    readCounters.push(`read:${name}:${partition}`);
  });
  const functions = [...fns].filter(([, f]) => f.group === name).map(([fn]) => fn).sort();
  return { name, functions, partitions, lag, lagEstimated, pending, oldestPending, eventsPerSecond: rates?.perSecond(readCounters) ?? null };
}

/** The monotonic counters rates are computed from: entries read per group and partition, added per partition. */
function counters(parts: readonly PartitionRead[]): Map<string, number> {
  const out = new Map<string, number>();
  parts.forEach((p, partition) => {
    out.set(`added:${partition}`, p.stream.entriesAdded);
    for (const g of p.groups) {
      // Redis reports no `entries-read` for a group created at `$` until it reads, but its lag then
      // still tells the read position: entries-read = entries-added − lag whenever both are known.
      const read = g.entriesRead ?? (g.lag === null ? null : p.stream.entriesAdded - g.lag);
      if (read !== null) out.set(`read:${g.name}:${partition}`, read);
    }
  });
  return out;
}

/** Runs a pipeline; replies of failed commands are `undefined` when `tolerated`, else the error is thrown. */
async function exec(pipeline: ReturnType<Redis['pipeline']>, tolerated: (error: Error) => boolean = () => false): Promise<unknown[]> {
  const replies = (await pipeline.exec()) ?? [];
  return replies.map(([error, reply]) => {
    if (error === null) return reply;
    if (tolerated(error)) return undefined;
    throw error;
  });
}
