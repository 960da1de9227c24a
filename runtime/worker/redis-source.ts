/**
 * A worker's entries, from Redis: non-blocking reads, fenced when the partition has a lease (a Lua
 * script that checks it, since only the lease holder may move entries into the pending list), the
 * pending list's delivery counts and failure records, and the wake watcher's blocking XREAD to wait
 * on when idle.
 *
 * Each command has a reply deadline (redis/reply-deadline.ts): a lost reply fails the step, and the
 * worker re-reads its pending list, where the entries of a read whose reply was lost are. A read
 * answered after its deadline counts as a reconnect (connectionEpoch), for the same reason; a late
 * answer to the other lookups changes nothing.
 */
import type { FailureRecord } from '../dead-letters/dead-letter-record.ts';
import { decodeEntry, type DecodedEntry } from '../events/wire.ts';
import { ensureConsumerGroup, type StartFrom } from '../redis/consumer-groups.ts';
import { CONSUMER_NAME, type PartitionKeys } from '../redis/keys.ts';
import { REDIS_REPLY_TIMEOUT_MS, replyWithin } from '../redis/reply-deadline.ts';
import type { ScriptedRedis } from '../redis/scripts.ts';
import type { PartitionSource } from './partition-worker.ts';
import type { Prior } from './run-context.ts';
import type { PartitionWaker } from './wake/wake-watcher.ts';

type StreamReply = [string, [string, string[] | null][]][] | null;

/** What a source reads with. */
export interface RedisSourceOptions {
  redis: ScriptedRedis;
  pk: PartitionKeys;
  partition: number;
  group: string;
  /** The group's members (their failure records and done marks come with pending entries). */
  members: () => readonly string[];
  startFrom: () => StartFrom;
  /** The partition's lease token; '' when this process owns every partition unfenced. */
  token: string;
  maxEventBytes: number;
  watcher: PartitionWaker;
  connectionEpoch: () => number;
  /** @defaultValue {@link REDIS_REPLY_TIMEOUT_MS} */
  replyTimeoutMs?: number;
}

export function redisSource(o: RedisSourceOptions): PartitionSource {
  const { redis, pk, group } = o;
  const settled = pk.settled(group);
  const ms = o.replyTimeoutMs ?? REDIS_REPLY_TIMEOUT_MS;
  let lateReads = 0;
  const late = () => { lateReads++; };
  const label = (what: string) => `${what} of partition ${o.partition}`;
  const [groupCheck, aRead, settledLookup, pendingLookup] = [label('the consumer group check'), label('a read'), label('the settled-ids lookup'), label('the pending entries\' lookup')];
  return {
    ensureGroup: () => replyWithin(ensureConsumerGroup(redis, pk.events, group, o.startFrom()), groupCheck, ms),

    async read(cursor, count) {
      let reply: StreamReply | ['tip', string];
      if (o.token !== '') reply = (await replyWithin(redis.fnrunRead(2, pk.events, pk.lease, o.token, group, CONSUMER_NAME, count, cursor), aRead, ms, late)) as StreamReply | ['tip', string];
      else {
        // Unfenced, a plain XREADGROUP: the script costs Redis about 2.7 times as much CPU for the
        // same entries (Lua converts the reply twice). Only a '>' read that found nothing needs the
        // script, for the stream's tip in the same step (see read.lua); it reads again first.
        reply = (await replyWithin(redis.xreadgroup('GROUP', group, CONSUMER_NAME, 'COUNT', count, 'STREAMS', pk.events, cursor), aRead, ms, late)) as StreamReply;
        if (cursor === '>' && !(reply?.[0]?.[1]?.length)) reply = (await replyWithin(redis.fnrunRead(1, pk.events, '', group, CONSUMER_NAME, count, cursor), aRead, ms, late)) as StreamReply | ['tip', string];
      }
      if (reply !== null && reply[0] === 'tip') return { entries: [], tipId: reply[1] as string };
      const raw = (reply as StreamReply)?.[0]?.[1];
      if (!raw || raw.length === 0) return { entries: [], tipId: null };
      const entries = new Array<DecodedEntry>(raw.length);
      for (let i = 0; i < raw.length; i++) entries[i] = decodeEntry(raw[i]![0], raw[i]![1], o.maxEventBytes);
      return { entries, tipId: null };
    },

    // A command of its own, not in the read script: during a slot migration a script naming a key
    // that does not exist (this hash, nearly always) gets TRYAGAIN until the move is over.
    settled: () => replyWithin(redis.hkeys(settled), settledLookup, ms),

    async prior(ids) {
      const members = o.members();
      const multi = members.length > 1;
      // Separate commands, not one pipeline: during a slot migration the source answers ASK for a
      // key it lacks (a done hash that does not exist yet), and ioredis then resends a whole
      // pipeline to the target, where nothing is yet; single commands are each redirected right.
      const [pendingRows, ...hashes] = await replyWithin(Promise.all([
        redis.xpending(pk.events, group, ids[0]!, ids[ids.length - 1]!, ids.length, CONSUMER_NAME) as Promise<[string, string, number, number][]>,
        ...members.flatMap((m) => [redis.hmget(pk.attempts(m), ...ids), multi ? redis.hmget(pk.done(group, m), ...ids) : Promise.resolve([] as (string | null)[])]),
      ]), pendingLookup, ms);
      const out = new Map<string, Prior>();
      for (const id of ids) out.set(id, { deliveries: 1, records: new Map(), done: new Set() });
      for (const row of pendingRows) {
        const p = out.get(row[0]);
        if (p !== undefined) p.deliveries = Number(row[3]);
      }
      members.forEach((m, k) => {
        const records = hashes[2 * k] as (string | null)[];
        const done = hashes[2 * k + 1] as (string | null)[];
        ids.forEach((id, i) => {
          const p = out.get(id)!;
          if (records[i]) p.records.set(m, JSON.parse(records[i]!) as FailureRecord);
          if (done[i]) p.done.add(m);
        });
      });
      return out;
    },

    wait: (afterId) => o.watcher.waitFor(o.partition, afterId),
    // Both only grow, so their sum changes whenever either does.
    connectionEpoch: () => o.connectionEpoch() + lateReads,
  };
}
