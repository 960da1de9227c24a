/**
 * Every Redis key and consumer-group name fnrun uses is built here and nowhere else.
 *
 * All keys of one partition share the Redis Cluster hash tag `{p<i>}`, so a partition's stream,
 * bookkeeping and dead letters live in one slot and one Lua script or MULTI can touch them together.
 * The namespace prefix stays outside the tag: it separates apps, the tag only picks the slot.
 */
import { ConfigError } from '../errors.ts';

export interface PartitionKeys {
  /** The partition's event stream. */
  readonly events: string;
  /** Hash: `<entry id>` → failure record (attempts, first/last failure) of `fn` for that event. */
  attempts(fn: string): string;
  /** Hash: `<entry id>` → 1 once `fn` completed it (only for groups of several functions). */
  done(group: string, fn: string): string;
  /**
   * Hash: `<entry id>` → 1 for events whose completion by `group` was committed while they were
   * not in the group's pending list — the read that delivered them was lost in a failover — so a
   * redelivery of one is acknowledged, not run again. Expires a day after its last write.
   */
  settled(group: string): string;
  /** Stream: the dead letters of `fn` from this partition. */
  deadLetters(fn: string): string;
  /**
   * String: the stream id an event published with a dedupe id was given, kept for the dedupe
   * window. Scoped per (type, key): two events of other types or keys never drop each other. The
   * scope is JSON, so no type, key or id can imitate another's (the type has no `"`; JSON escapes
   * the rest), and it comes after the partition tag, so braces in it pick no slot.
   */
  eventDedupe(type: string, key: string | null, dedupeId: string): string;
  /** String: as {@link eventDedupe}, for fnrun's own relays, whose ids (`outbox:<p>:<id>`) are unique per partition. */
  dedupe(dedupeId: string): string;
  /** String `<member>|<epoch>` with a TTL: who owns the partition; the fencing token. */
  readonly lease: string;
  /** Counter: the lease epoch, incremented by every new owner. */
  readonly leaseEpoch: string;
  /** Hash: `<consumer group>` → id of the last commit applied, so a resent commit writes nothing twice. */
  readonly commits: string;
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

const NAMESPACE_RE = /^[A-Za-z0-9._-]{1,64}$/;

/**
 * Why `namespace` cannot name a namespace, or `undefined`. Every key starts with `<namespace>:`
 * and a partition's hash tag follows, so a namespace holding `:` or braces could build the keys
 * of another namespace (`a:{p0}` + `:events` is a key of namespace `a`) and a SCAN pattern char
 * would match other namespaces' keys: only letters, digits, `.`, `_` and `-` are accepted.
 */
export function namespaceProblem(namespace: string): string | undefined {
  if (NAMESPACE_RE.test(namespace)) return undefined;
  if (namespace.length === 0) return 'it is empty';
  if (namespace.length > 64) return `it is ${namespace.length} characters long, over 64`;
  const bad = [...namespace].find((c) => !/[A-Za-z0-9._-]/.test(c))!;
  return `it contains ${JSON.stringify(bad)}; use 1 to 64 letters, digits, ".", "_" or "-" (no braces, colons, whitespace or control characters: they would let its keys collide with another namespace's)`;
}

/** Key builder for one namespace. */
export class Keys {
  readonly namespace: string;
  /** Hash: namespace metadata (`partitions`, `createdAt`). */
  readonly meta: string;
  /** Sorted set: live runtime processes, scored by their last heartbeat (Redis time, ms). */
  readonly members: string;
  private readonly partitions: PartitionKeys[] = [];

  /** @throws ConfigError when `namespace` is not a valid namespace name (see {@link namespaceProblem}) */
  constructor(namespace: string) {
    const problem = namespaceProblem(namespace);
    if (problem !== undefined) throw new ConfigError(`invalid namespace ${JSON.stringify(namespace)}: ${problem}`);
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
        settled: (group) => `${prefix}:settled:${group}`,
        deadLetters: (fn) => `${prefix}:dlq:${fn}`,
        eventDedupe: (type, key, dedupeId) => `${prefix}:dedupe:${JSON.stringify([type, key, dedupeId])}`,
        dedupe: (dedupeId) => `${prefix}:dedupe:${dedupeId}`,
        lease: `${prefix}:lease`,
        leaseEpoch: `${prefix}:lease-epoch`,
        activeVersions: `${prefix}:versions`,
        commits: `${prefix}:commits`,
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
   * Sorted set: the `fnrun dev` sessions running on this namespace (`<host>:<pid>`), scored by
   * their last heartbeat (ms), so that a second one can warn that they would share the events.
   */
  get devSessions(): string {
    return `${this.namespace}:dev-sessions`;
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

  /** String: counter INCRed before every deploy and rollback; a function's `joined` field takes its value when it joins a group. */
  get registryOrder(): string {
    return `${this.namespace}:registry-order`;
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

/**
 * The consumer name inside every group. Each partition is its own stream, so one fixed name means
 * "whoever owns this partition": a new owner inherits the pending entries without XCLAIM and
 * without ever deleting a consumer (DELCONSUMER orphans pending entries; see NOTES-redis §1).
 */
export const CONSUMER_NAME = 'owner';

/**
 * A partition lease's value, `<member>|<epoch>` (the fencing token): who holds it, and since which
 * epoch. A value without an epoch (written by hand) names its holder only.
 */
export function leaseToken(member: string, epoch: number): string {
  return `${member}|${epoch}`;
}

/** Parses {@link leaseToken}'s format. */
export function parseLeaseToken(token: string): { member: string; epoch: number | null } {
  const sep = token.indexOf('|');
  return sep < 0 ? { member: token, epoch: null } : { member: token.slice(0, sep), epoch: Number(token.slice(sep + 1)) };
}
