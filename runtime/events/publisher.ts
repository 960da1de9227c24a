/**
 * Publishing events: `publish(type, key, data)` and a pipelined batch form.
 */
import type { Redis } from '../redis/redis.ts';
import { InvalidEventError, NotReplicatedError, PayloadTooLargeError } from '../errors.ts';
import { Keys } from '../redis/keys.ts';
import { resolvePartitions } from '../redis/namespace.ts';
import { partitionFor } from '../policy/partitioner.ts';
import { connectionEpoch, connectRedis, masterNodes } from '../redis/redis.ts';
import { withScripts, type ScriptedRedis } from '../redis/scripts.ts';
import { isEventType } from '../policy/event-matcher.ts';
import { DEFAULT_MAX_EVENT_BYTES, encodeFields, eventSizeProblem } from './wire.ts';
import { crossSlotPipeline } from '../redis/pipeline.ts';

/** Options of one publish. */
export interface PublishOptions {
  /**
   * Makes the publish idempotent: a second publish of the same type and key with the same dedupe
   * id within `dedupeWindowMs` appends nothing and returns the first event's id. The scope is
   * (type, key, dedupe id): events of other types or keys never drop each other. A keyless event
   * with a dedupe id goes to the partition of its dedupe id (so a retry reaches the same one).
   */
  dedupeId?: string;
  headers?: Record<string, string>;
}

/** An event to publish in a batch. */
export interface EventInput extends PublishOptions {
  type: string;
  key: string | null;
  data: unknown;
}

export interface PublishResult {
  /** Stream entry id: the event's id. */
  id: string;
  partition: number;
  /** True when a dedupe id matched an earlier publish and nothing was appended. */
  duplicate: boolean;
}

/**
 * How {@link Publisher.connect} reaches a namespace.
 *
 * @example
 * ```ts
 * const options: PublisherOptions = {
 *   redis: process.env.FNRUN_REDIS_URL ?? 'redis://127.0.0.1:6379',
 *   namespace: 'shop',
 *   waitForReplicas: { replicas: 1, timeoutMs: 500 }, // survive a failover
 * };
 * ```
 */
export interface PublisherOptions {
  /** Redis URL or an open ioredis connection (not closed by {@link Publisher.close}). */
  redis: string | Redis;
  /** @defaultValue `'fnrun'` */
  namespace?: string;
  /** Must match the namespace's stored count; omit to use it. */
  partitions?: number;
  /** @defaultValue 1 MiB */
  maxEventBytes?: number;
  /** @defaultValue 1 hour */
  dedupeWindowMs?: number;
  /**
   * Durability against failover: after each publish, `WAIT replicas timeoutMs`, and throw
   * {@link NotReplicatedError} when fewer replicas acknowledged. Replication is asynchronous
   * otherwise, and a failover can drop a publish the primary had acknowledged. On a Cluster the
   * WAIT goes to every master. Default: no wait.
   */
  waitForReplicas?: { replicas: number; timeoutMs: number };
}

export const DEFAULT_DEDUPE_WINDOW_MS = 60 * 60 * 1000;

/** One encoded event, ready for XADD. */
export interface EncodedEvent {
  partition: number;
  stream: string;
  fields: string[];
  dedupeKey: string | null;
}

/**
 * Validates and encodes an event for partition routing. Shared by publishers and by emits.
 * A null key picks a random partition: such events have no order to keep.
 */
export function encodeEvent(
  keys: Keys,
  partitions: number,
  maxEventBytes: number,
  input: EventInput,
  time: number,
  extraHeaders?: Record<string, string>,
  hops = 0,
): EncodedEvent {
  if (typeof input.type !== 'string' || !isEventType(input.type)) {
    throw new InvalidEventError(`invalid event type ${JSON.stringify(input.type)}: expected dotted names of [A-Za-z0-9_-], e.g. "post.created"`);
  }
  if (input.key !== null && typeof input.key !== 'string') throw new InvalidEventError(`event key must be a string or null, got ${typeof input.key}`);
  let dataText: string | undefined;
  try {
    dataText = input.data === undefined ? 'null' : JSON.stringify(input.data);
  } catch (error) {
    // A BigInt, a cycle, a throwing toJSON: say it is the event that is wrong.
    throw new InvalidEventError(`event data is not JSON-serialisable: ${(error as Error).message}`);
  }
  if (dataText === undefined) throw new InvalidEventError(`event data of type ${typeof input.data} is not JSON-serialisable`);
  const headers = extraHeaders ? { ...input.headers, ...extraHeaders } : input.headers;
  const headersText = headers && Object.keys(headers).length > 0 ? JSON.stringify(headers) : null;
  const tooBig = eventSizeProblem(dataText, input.key, headersText, maxEventBytes);
  if (tooBig !== null) throw new PayloadTooLargeError(tooBig);
  const dedupeId = input.dedupeId;
  if (dedupeId !== undefined && typeof dedupeId !== 'string') throw new InvalidEventError(`dedupeId must be a string, got ${typeof dedupeId}`);
  // A keyless event goes to any partition, but a retried publish with a dedupe id must reach the
  // same one for the dedupe to work: its partition follows from the id.
  const routing = input.key ?? dedupeId;
  const partition = routing === undefined ? Math.floor(Math.random() * partitions) : partitionFor(routing, partitions);
  const pk = keys.partition(partition);
  return {
    partition,
    stream: pk.events,
    fields: encodeFields(input.type, input.key, dataText, time, headers, null, hops),
    dedupeKey: dedupeId === undefined ? null : pk.eventDedupe(input.type, input.key, dedupeId),
  };
}

/**
 * Publishes events into a namespace's partition streams: an event with a key goes to the
 * partition its key hashes to (so one key's events keep their order), a keyless one to a random
 * partition. See the README's wire format for producers in other languages.
 *
 * @example
 * ```ts
 * import { Publisher } from 'fnrun';
 *
 * const publisher = await Publisher.connect({ redis: 'redis://127.0.0.1:6379' });
 * const { id, partition } = await publisher.publish('post.created', 'thread-42', { postId: 'p1' });
 * // A retry with the same dedupe id (within dedupeWindowMs) appends nothing:
 * await publisher.publish('post.created', 'thread-42', { postId: 'p1' }, { dedupeId: 'p1' });
 * await publisher.close();
 * ```
 */
export class Publisher {
  readonly partitions: number;
  readonly keys: Keys;
  private readonly redis: ScriptedRedis;
  private readonly ownsConnection: boolean;
  private readonly maxEventBytes: number;
  private readonly dedupeWindowMs: number;
  private readonly waitForReplicas: { replicas: number; timeoutMs: number } | null;
  private readonly connectionEpoch: () => number;

  private constructor(redis: Redis, owns: boolean, keys: Keys, partitions: number, opts: PublisherOptions) {
    this.redis = withScripts(redis);
    this.ownsConnection = owns;
    this.keys = keys;
    this.partitions = partitions;
    this.maxEventBytes = opts.maxEventBytes ?? DEFAULT_MAX_EVENT_BYTES;
    this.dedupeWindowMs = opts.dedupeWindowMs ?? DEFAULT_DEDUPE_WINDOW_MS;
    this.waitForReplicas = opts.waitForReplicas ?? null;
    this.connectionEpoch = connectionEpoch(redis);
  }

  /** Connects and checks the namespace's partition count. */
  static async connect(opts: PublisherOptions): Promise<Publisher> {
    const owns = typeof opts.redis === 'string';
    const redis = typeof opts.redis === 'string' ? await connectRedis(opts.redis, 'fnrun-publisher') : opts.redis;
    try {
      const keys = new Keys(opts.namespace ?? 'fnrun');
      const partitions = await resolvePartitions(redis, keys, opts.partitions);
      return new Publisher(redis, owns, keys, partitions, opts);
    } catch (error) {
      if (owns) redis.disconnect();
      throw error;
    }
  }

  /**
   * Publishes one event.
   * @example `await publisher.publish('post.created', 'thread-42', { postId: 7 })`
   */
  async publish(type: string, key: string | null, data: unknown, opts: PublishOptions = {}): Promise<PublishResult> {
    const [result] = await this.publishBatch([{ type, key, data, ...opts }]);
    return result!;
  }

  /** Publishes many events in one pipeline; per key, they are appended in array order. */
  async publishBatch(events: readonly EventInput[]): Promise<PublishResult[]> {
    const now = Date.now();
    const encoded = events.map((e) => encodeEvent(this.keys, this.partitions, this.maxEventBytes, e, now));
    const pipeline = crossSlotPipeline(this.redis);
    for (const e of encoded) {
      if (e.dedupeKey === null) pipeline.xadd(e.stream, '*', ...e.fields);
      else (pipeline as unknown as ScriptedRedis).fnrunPublishDedupe(e.stream, e.dedupeKey, this.dedupeWindowMs, ...e.fields);
    }
    const wait = this.waitForReplicas;
    const epoch = this.connectionEpoch();
    if (wait !== null) {
      // WAIT covers what this connection wrote. A dedupe hit writes nothing, yet its event (written
      // earlier, maybe by another connection) may not have reached the replica either: a write on
      // each partition's connection makes the WAIT cover everything before it.
      for (const p of new Set(encoded.map((e) => e.partition))) pipeline.set(this.keys.partition(p).publishFence, '1', 'PX', 60_000);
    }
    const replies = (await pipeline.exec()) ?? [];
    if (wait !== null) {
      await this.awaitReplicas(wait);
      // After a reconnect the WAIT ran on a connection that wrote nothing (maybe to a new primary
      // that never got the batch): it proves nothing.
      if (this.connectionEpoch() !== epoch) throw new NotReplicatedError(0, wait.replicas, wait.timeoutMs);
    }
    return encoded.map((e, i) => {
      const [error, reply] = replies[i] ?? [new Error('no reply')];
      if (error) throw error;
      if (e.dedupeKey === null) return { id: reply as string, partition: e.partition, duplicate: false };
      const [id, duplicate] = reply as [string, number];
      return { id, partition: e.partition, duplicate: duplicate === 1 };
    });
  }

  /** WAIT on every connection the batch was written through (one, or each master of a Cluster). */
  private async awaitReplicas({ replicas, timeoutMs }: { replicas: number; timeoutMs: number }): Promise<void> {
    const acknowledged = await Promise.all(masterNodes(this.redis).map((node) => node.wait(replicas, timeoutMs)));
    const least = Math.min(...acknowledged.map(Number));
    if (least < replicas) throw new NotReplicatedError(least, replicas, timeoutMs);
  }

  /** Closes the connection if this publisher opened it. Idempotent. */
  async close(): Promise<void> {
    if (this.ownsConnection && this.redis.status !== 'end') await this.redis.quit().catch(() => this.redis.disconnect());
  }
}
