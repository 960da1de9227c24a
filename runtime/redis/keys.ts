/**
 * Every Redis key and consumer-group name fnrun uses is built here and nowhere else.
 *
 * All keys of one partition share the Redis Cluster hash tag `{p<i>}`, so a partition's stream,
 * bookkeeping and dead letters live in one slot and one Lua script or MULTI can touch them together.
 * The namespace prefix stays outside the tag: it separates apps, the tag only picks the slot.
 */
export interface PartitionKeys {
  /** The partition's event stream. */
  readonly events: string;
  /** Hash: `<entry id>` → failure record (attempts, first/last failure) of `fn` for that event. */
  attempts(fn: string): string;
  /** Hash: `<entry id>` → 1 once `fn` completed it (only for groups of several functions). */
  done(group: string, fn: string): string;
  /** Stream: the dead letters of `fn` from this partition. */
  deadLetters(fn: string): string;
  /** String: the stream id a dedupe id was published as, kept for the dedupe window. */
  dedupe(dedupeId: string): string;
  /** String `<member>|<epoch>` with a TTL: who owns the partition; the fencing token. */
  readonly lease: string;
  /** Counter: the lease epoch, incremented by every new owner. */
  readonly leaseEpoch: string;
  /** Hash: `<fn>` → the version that last committed on this partition. */
  readonly activeVersions: string;
  /** Stream per function: `version`, `fromId` — the entry id at which each version took over. */
  takeovers(fn: string): string;
  /** Stream: events emitted here for other partitions, waiting to be relayed (Redis Cluster only; see outbox-relay.ts). */
  readonly outbox: string;
  /** String: written by a publisher that waits for replicas, so its WAIT covers this partition's earlier writes. */
  readonly publishFence: string;
  /**
   * Hash: the per-key state of `fn` for event key `key` (a key of this partition): state name →
   * JSON text. The key comes last, so any characters in it are safe: the hash tag is `{p<i>}`.
   */
  state(fn: string, key: string): string;
  /** SCAN pattern matching every state hash of `fn` in this partition. */
  statePattern(fn: string): string;
}

/** Key builder for one namespace. */
export class Keys {
  readonly namespace: string;
  /** Hash: namespace metadata (`partitions`, `createdAt`). */
  readonly meta: string;
  /** Sorted set: live runtime processes, scored by their last heartbeat (Redis time, ms). */
  readonly members: string;
  private readonly partitions: PartitionKeys[] = [];

  constructor(namespace: string) {
    this.namespace = namespace;
    this.meta = `${namespace}:meta`;
    this.members = `${namespace}:members`;
  }

  /** Keys of partition `p`; memoised because workers ask on every batch. */
  partition(p: number): PartitionKeys {
    let keys = this.partitions[p];
    if (keys === undefined) {
      const prefix = `${this.namespace}:{p${p}}`;
      keys = {
        events: `${prefix}:events`,
        attempts: (fn) => `${prefix}:attempts:${fn}`,
        done: (group, fn) => `${prefix}:done:${group}:${fn}`,
        deadLetters: (fn) => `${prefix}:dlq:${fn}`,
        dedupe: (dedupeId) => `${prefix}:dedupe:${dedupeId}`,
        lease: `${prefix}:lease`,
        leaseEpoch: `${prefix}:lease-epoch`,
        activeVersions: `${prefix}:versions`,
        takeovers: (fn) => `${prefix}:takeovers:${fn}`,
        outbox: `${prefix}:outbox`,
        publishFence: `${prefix}:publish-fence`,
        state: (fn, key) => `${prefix}:state:${fn}:${key}`,
        statePattern: (fn) => `${prefix}:state:${fn}:*`,
      };
      this.partitions[p] = keys;
    }
    return keys;
  }

  /** The event key of a state hash name built by {@link PartitionKeys.state}. */
  stateKeyOf(p: number, fn: string, stateHash: string): string {
    return stateHash.slice(`${this.namespace}:{p${p}}:state:${fn}:`.length);
  }

  /** SCAN pattern matching every partition's dead-letter stream of `fn` (or of every function). */
  deadLetterPattern(fn?: string): string {
    return `${this.namespace}:{p*}:dlq:${fn ?? '*'}`;
  }

  /**
   * Set: names of deployed functions. Outside every function's slot, so it is updated around the
   * registry's scripts, not in them; a name whose function has no active version counts as absent.
   */
  get functionNames(): string {
    return `${this.namespace}:functions`;
  }

  /**
   * Pub/sub channel (not a key): batches of invocation records that `fnrun start` and `fnrun dev`
   * publish while someone listens (`fnrun tail`, the UI's Live page). See runtime/ops/feed/.
   */
  get invocationFeed(): string {
    return `${this.namespace}:feed:invocations`;
  }

  /** String: counter INCRed after every deploy, rollback and remove, for runtimes to poll. */
  get registryEpoch(): string {
    return `${this.namespace}:registry-epoch`;
  }

  /** Registry keys of function `name`; they share the hash tag `{fn:<name>}` (one slot per function). */
  fn(name: string): FunctionKeys {
    const prefix = `${this.namespace}:{fn:${name}}`;
    return { head: `${prefix}:head`, history: `${prefix}:history`, versions: `${prefix}:versions` };
  }
}

/** The registry keys of one function (see runtime/registry.ts). */
export interface FunctionKeys {
  /** Hash: `active` version, `last` version number given, and the active one's `hash` and `info`. */
  readonly head: string;
  /** Sorted set: the kept version numbers, scored by themselves. */
  readonly history: string;
  /** Hash: `<version>:hash`, `<version>:code`, `<version>:map`, `<version>:info` per kept version. */
  readonly versions: string;
}

/** Consumer-group name on the partition streams: one per solo function, one per shared group. */
export function consumerGroupName(kind: 'function' | 'group', name: string): string {
  return kind === 'function' ? `fn:${name}` : `group:${name}`;
}

/**
 * The consumer name inside every group. Each partition is its own stream, so one fixed name means
 * "whoever owns this partition": a new owner inherits the pending entries without XCLAIM and
 * without ever deleting a consumer (DELCONSUMER orphans pending entries; see NOTES-redis §1).
 */
export const CONSUMER_NAME = 'owner';
