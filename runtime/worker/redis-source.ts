/**
 * A worker's entries, from Redis: non-blocking reads, the pending list's delivery counts and
 * failure records, and the wake watcher's blocking XREAD to wait on when idle.
 *
 * Reads of new entries are a plain XREADGROUP: in a Lua script, which could check the lease first,
 * the same 100 entries cost Redis about 2.7 times the CPU (Lua converts the reply twice), a third
 * of a trivial event's whole cost. Without a lease, the first read after the pending list's (at a
 * start most streams are idle) goes in one MULTI with the stream's last entry, where to wait from
 * when it finds nothing; later reads are plain (the worker reads again only after a read that
 * found entries, or after a wake-up), and send the MULTI only when they find nothing after all.
 * A MULTI is not free: ioredis builds a pipeline object for each (about 10 µs and 4 KB), and at
 * 2,000 events/s those were most of what survived each scavenge, which made the scavenges (and
 * the latency's p99) several times longer. With a lease the same rule picks between a plain read
 * and the fenced script, below.
 *
 * With a lease, a process whose lease ran out (paused past it) may still read, and take entries
 * the holder would otherwise skip, breaking their keys' order; what the script's check prevented,
 * two guards prevent:
 * - a process reads plainly only while its lease is surely its own (renewed less than 80% of a TTL
 *   ago, on the monotonic clock); a paused process finds that false as soon as it runs again, and
 *   then reads through the fenced script (read.lua), which refuses it; a plain read answered after
 *   such a pause is given back unrun;
 * - every read of the holder is followed, in the same round trip, by a look at the first entry
 *   pending past everything it read before: one that is not its own was read by somebody else, and
 *   the read reports itself `overtaken`. The worker gives its entries back uncharged and re-reads
 *   the pending list, in id order, before anything later runs.
 * Whoever else read can complete nothing: commits are fenced (commit.lua). With a lease, a read
 * that finds nothing runs the script too, for the stream's tip in the same step.
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
import { compareStreamIds } from '../redis/stream-id.ts';
import { REDIS_REPLY_TIMEOUT_MS, replyWithin } from '../redis/reply-deadline.ts';
import type { ScriptedRedis } from '../redis/scripts.ts';
import type { PartitionSource } from './partition-worker.ts';
import type { Prior } from './run-context.ts';
import type { PartitionWaker } from './wake/wake-watcher.ts';

type StreamReply = [string, [string, string[] | null][]][] | null;
type ReadReply = StreamReply | ['tip', string];

const isTip = (r: ReadReply): r is ['tip', string] => r !== null && r[0] === 'tip';
const entriesOf = (r: ReadReply) => (isTip(r) ? [] : r?.[0]?.[1] ?? []);
const isEmpty = (r: ReadReply) => entriesOf(r).length === 0;
const firstIdOf = (r: ReadReply) => entriesOf(r)[0]?.[0] ?? null;
const idsOf = (r: ReadReply) => entriesOf(r).map((e) => e[0]);

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
  /** False when the lease may have run out (renewals unconfirmed for most of a TTL): reads then go through the fenced script. */
  leaseFresh: () => boolean;
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
  const fenced = o.token !== '';
  /** The highest id a read of this source returned: a pending entry past it was read by someone else. */
  let lastSeen = '0-0';
  /** The last read was of the pending list (a start, a reconnect, an overtaken read). */
  let afterPending = false;
  const plainRead = (cursor: string, count: number) => redis.xreadgroup('GROUP', group, CONSUMER_NAME, 'COUNT', count, 'STREAMS', pk.events, cursor);
  /** The fenced read script (with a lease only). */
  const readScript = (cursor: string, count: number) => redis.fnrunRead(2, pk.events, pk.lease, o.token, group, CONSUMER_NAME, count, cursor);
  const readWithTip = async (count: number): Promise<ReadReply> => {
    const results = await redis.multi().xreadgroup('GROUP', group, CONSUMER_NAME, 'COUNT', count, 'STREAMS', pk.events, '>').xrevrange(pk.events, '+', '-', 'COUNT', 1).exec();
    if (results === null) throw new Error('the read transaction was discarded');
    const [[readError, read], [tipError, tip]] = results as [[Error | null, unknown], [Error | null, unknown]];
    if (readError !== null) throw readError;
    if (tipError !== null) throw tipError;
    const r = read as StreamReply;
    return isEmpty(r) ? ['tip', (tip as [string, string[]][])[0]?.[0] ?? '0-0'] : r;
  };
  const firstPendingAfter = async (id: string) => ((await redis.xpending(pk.events, group, `(${id}`, '+', 1)) as [string][])[0]?.[0] ?? null;
  // Only ids past `since` are given back: one at or before it is a redelivery of an entry this
  // source read before (a failover lost it from the pending list), in flight or done already.
  const overtaken = (since: string, ids: readonly string[]) => ({ entries: [], tipId: null, overtaken: ids.filter((id) => compareStreamIds(id, since) > 0) });
  const [groupCheck, aRead, settledLookup, pendingLookup] = [label('the consumer group check'), label('a read'), label('the settled-ids lookup'), label('the pending entries\' lookup')];
  return {
    ensureGroup: () => replyWithin(ensureConsumerGroup(redis, pk.events, group, o.startFrom()), groupCheck, ms),

    async read(cursor, count) {
      const since = lastSeen;
      let reply: ReadReply;
      if (cursor !== '>') {
        afterPending = true;
        // The pending list, re-read: it moves nothing into it, but a process whose lease is gone
        // must not count deliveries the new holder would charge as attempts.
        reply = (await replyWithin(fenced ? readScript(cursor, count) : plainRead(cursor, count), aRead, ms, late)) as StreamReply;
      } else if (!fenced) {
        // Plain, except first after the pending list's; when that finds nothing, the read and the
        // stream's last entry in one transaction: that entry is where to wait from, and nothing
        // can be appended in between (see read.lua).
        const found = afterPending ? null : ((await replyWithin(plainRead('>', count), aRead, ms, late)) as ReadReply);
        afterPending = false;
        reply = isEmpty(found) ? await replyWithin(readWithTip(count), aRead, ms, late) : found;
      } else {
        // Plain only while the lease is surely ours, else the script checks it in Redis; the
        // script also for the first read after the pending list's (at a start most streams are
        // idle, and it finds the tip in the same call). Either way followed, in the same round
        // trip, by the first entry pending past everything this source read before: another
        // reader's entries come before ours, or are the first when ours are none.
        const plain = o.leaseFresh() && !afterPending;
        afterPending = false;
        const [r, first] = await replyWithin(Promise.all([plain ? plainRead('>', count) : readScript('>', count), firstPendingAfter(since)]), aRead, ms, late);
        reply = r as ReadReply;
        if (first !== firstIdOf(reply)) return overtaken(since, idsOf(reply));
        // Answered after a pause long enough to doubt the lease: give the entries back unrun.
        if (plain && !o.leaseFresh()) return overtaken(since, idsOf(reply));
        if (plain && isEmpty(reply)) {
          reply = (await replyWithin(readScript('>', count), aRead, ms, late)) as ReadReply;
          // The script read something after all: another reader may have read in between.
          if (!isEmpty(reply) && (await replyWithin(firstPendingAfter(since), aRead, ms, late)) !== firstIdOf(reply)) return overtaken(since, idsOf(reply));
        }
      }
      if (isTip(reply)) return { entries: [], tipId: reply[1] };
      const raw = entriesOf(reply);
      if (raw.length === 0) return { entries: [], tipId: null };
      const entries = new Array<DecodedEntry>(raw.length);
      for (let i = 0; i < raw.length; i++) entries[i] = decodeEntry(raw[i]![0], raw[i]![1], o.maxEventBytes);
      const last = raw[raw.length - 1]![0];
      if (compareStreamIds(last, lastSeen) > 0) lastSeen = last;
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
