/**
 * The shape of a status report: what `getStatus` returns and `fnrun status --json` prints (one
 * document, or one line per redraw with `--watch`). Fields are only ever added, never renamed.
 * Times are ms since the epoch and ages are measured with Redis' clock (`time`), not the caller's.
 */

/** A snapshot of a namespace, read from Redis only. */
export interface Status {
  namespace: string;
  partitionCount: number;
  /** Redis' clock when the snapshot was taken; every age is relative to it. */
  time: number;
  /** How long the rates were measured over; null when there was no earlier sample (a one-shot status). */
  rateWindowMs: number | null;
  /** Processes heartbeating into `<ns>:members` (`fnrun start`; `fnrun dev` does not join). */
  members: MemberStatus[];
  partitions: PartitionStatus[];
  /** Every consumer group found on the partition streams, plus deployed groups not created yet. */
  groups: GroupStatus[];
  /** Deployed functions, and functions seen on the streams only (run by `fnrun dev` or removed). */
  functions: FunctionStatus[];
}

export interface MemberStatus {
  id: string;
  /** Since its last heartbeat; members silent for a lease TTL are dropped by the others. */
  heartbeatAgeMs: number;
}

export interface PartitionStatus {
  partition: number;
  /** Member id from the lease; null when nobody holds one (no process, or unleased `fnrun dev`). */
  owner: string | null;
  /** The lease's fencing epoch. */
  epoch: number | null;
  /** Time left on the lease. */
  leaseTtlMs: number | null;
  /** Entries retained in the stream (XLEN). */
  length: number;
  firstId: string | null;
  lastId: string | null;
  /** Every entry ever appended to the stream (XINFO STREAM `entries-added`). */
  entriesAdded: number;
  /** Entries appended per second over `rateWindowMs`; null without an earlier sample. */
  publishedPerSecond: number | null;
}

/** The oldest entry delivered to a consumer group and not yet settled. */
export interface PendingEntry {
  partition: number;
  id: string;
  /** Since the entry was appended (its id's time): how late the group is on it. */
  ageMs: number;
  /** Since it was last delivered (XPENDING); resets when a new owner re-reads it. */
  idleMs: number;
  /** Times delivered; above 1 after a crash or a lease takeover. */
  deliveries: number;
}

export interface GroupStatus {
  /** `fn:<function>` or `group:<group>`. */
  name: string;
  /** Functions known to use it (from the registry or deduced; see README "fnrun status"). */
  functions: string[];
  /** Partitions on which the group exists (created by a runtime's first worker there). */
  partitions: number;
  /** Entries not yet read, summed over partitions; null when the group exists nowhere yet. */
  lag: number | null;
  /** True when some partition's lag is an upper-bound estimate (Redis could not count it). */
  lagEstimated: boolean;
  /** Entries read and not yet settled (XPENDING count). */
  pending: number;
  oldestPending: PendingEntry | null;
  /** Entries read per second over `rateWindowMs` (`entries-read`), of every type; null without an earlier sample. */
  eventsPerSecond: number | null;
}

/** An event that failed and is waiting for its next attempt, blocking its partition for the function. */
export interface StuckEvent {
  partition: number;
  id: string;
  key: string | null;
  type: string | null;
  /** Since the event was appended. */
  ageMs: number;
  /** Attempts failed so far. */
  attempts: number;
  firstFailureAt: number;
  lastFailureAt: number;
  /** From XPENDING; null when the entry is no longer pending for the group. */
  idleMs: number | null;
  deliveries: number | null;
}

export interface FunctionStatus {
  name: string;
  /** In the registry (`fnrun deploy`). */
  deployed: boolean;
  /** The registry's active version; null when not deployed. */
  version: string | null;
  /** Versions that last committed on some partition (registry numbers, or content hashes from `fnrun dev`). */
  committedVersions: string[];
  /** Its consumer group; null when it cannot be told (see README "fnrun status"). */
  group: string | null;
  /** Lag, pending, oldest pending and rate are the consumer group's: functions in a group share them. */
  lag: number | null;
  lagEstimated: boolean;
  pending: number;
  oldestPending: PendingEntry | null;
  eventsPerSecond: number | null;
  /** Events with a failure record: failed at least once, not yet settled (the `attempts` hashes). */
  retriesInFlight: number;
  /** Entries in its dead-letter streams. */
  deadLetters: number;
  /** The oldest events with a failure record, oldest first (at most `stuckLimit`). */
  stuck: StuckEvent[];
}
