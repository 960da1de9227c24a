/**
 * The events a handler emitted, encoded for the commit: validated like any publish, routed to
 * their partition by key, one hop deeper than the event that emitted them, and — on a Redis
 * Cluster, for another partition's key — addressed to this partition's outbox (outbox-relay.ts).
 */
import { encodeEvent } from '../events/publisher.ts';
import type { Keys, PartitionKeys } from '../redis/keys.ts';
import type { Emit } from '../types.ts';
import { outboxFields } from './outbox-relay.ts';

/** One emitted event, ready for the commit script's XADD. */
export interface EncodedEmit {
  stream: string;
  fields: string[];
  /** True when it went to the outbox (the relay must run after the commit). */
  outboxed: boolean;
}

/** Where emits of one partition go. */
export interface EmitRouting {
  keys: Keys;
  pk: PartitionKeys;
  partition: number;
  partitions: number;
  maxEventBytes: number;
  /** On a Redis Cluster, emits to other partitions go through the outbox. */
  outbox: boolean;
}

/**
 * Encodes `emits`; throws (with the offending emit's problem) when one is invalid: the invocation
 * then fails as if it had thrown, and nothing of it is published.
 */
export function encodeEmits(routing: EmitRouting, emits: readonly Emit[], hops: number, now: number): EncodedEmit[] {
  const out: EncodedEmit[] = [];
  for (const emit of emits) {
    const e = encodeEvent(routing.keys, routing.partitions, routing.maxEventBytes, { type: emit.type, key: emit.key ?? null, data: emit.data }, now, undefined, hops + 1);
    if (routing.outbox && e.partition !== routing.partition) out.push({ stream: routing.pk.outbox, fields: outboxFields(e.partition, e.fields), outboxed: true });
    else out.push({ stream: e.stream, fields: e.fields, outboxed: false });
  }
  return out;
}
