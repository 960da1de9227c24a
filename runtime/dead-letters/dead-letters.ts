/**
 * The dead-letter API: list, show, replay (to the one function only) and purge.
 *
 * A function's dead letters live in one stream per partition (`<ns>:{p<i>}:dlq:<fn>`), written in
 * the same atomic step as the ack. A dead letter's id is `<partition>:<entry id>`.
 */
import type { Redis } from '../redis/redis.ts';
import { ConfigError, FnrunError, NotFoundError } from '../errors.ts';
import { Keys } from '../redis/keys.ts';
import { parseDeadLetter, type DeadLetter } from './dead-letter-record.ts';
import { withScripts, type ScriptedRedis } from '../redis/scripts.ts';
import { encodeFields } from '../events/wire.ts';
import { crossSlotPipeline } from '../redis/pipeline.ts';
import { masterNodes } from '../redis/redis.ts';

const MAX_U64 = 2n ** 64n - 1n;

/** Header a replayed event carries: the id of the event it replays. */
export const REPLAY_OF_HEADER = 'fnrun-replay-of';

/**
 * A namespace's dead letters: per function and partition, the events given up on (after the last
 * attempt, past `maxEventAgeMs`, an emit loop, a non-retriable error, or malformed), each with its
 * error and mapped stack. Ids are `<partition>:<entry id>`.
 *
 * @example
 * ```ts
 * import { DeadLetterQueue, Keys } from 'fnrun';
 * import { Redis } from 'ioredis';
 *
 * const dlq = new DeadLetterQueue(new Redis(), new Keys('fnrun'), 16);
 * for (const letter of await dlq.list('billing', { limit: 10 })) {
 *   console.log(letter.id, letter.reason, letter.error.message);
 * }
 * await dlq.replay('billing', '3:1732300000000-0'); // back to its partition, for billing only
 * await dlq.purge('billing');                        // every dead letter of billing
 * ```
 */
export class DeadLetterQueue {
  private readonly redis: ScriptedRedis;
  private readonly keys: Keys;
  private readonly partitions: number;

  /** `partitions` must be the namespace's partition count (`fnrun status` shows it). */
  constructor(redis: Redis, keys: Keys, partitions: number) {
    this.redis = withScripts(redis);
    this.keys = keys;
    this.partitions = partitions;
  }

  /** Dead letters of `fn` (or of every function), oldest first, at most `limit`. */
  async list(fn?: string, opts: { limit?: number } = {}): Promise<DeadLetter[]> {
    const limit = opts.limit ?? 100;
    const streams = fn === undefined ? await this.allStreams() : this.streamsOf(fn);
    const pipeline = crossSlotPipeline(this.redis);
    for (const s of streams) pipeline.xrange(s.key, '-', '+', 'COUNT', limit);
    const replies = (await pipeline.exec()) ?? [];
    const out: DeadLetter[] = [];
    streams.forEach((s, i) => {
      const [error, entries] = replies[i] ?? [null, []];
      if (error) throw error;
      for (const [id, fields] of entries as [string, string[]][]) out.push(parseDeadLetter(s.partition, id, fields));
    });
    out.sort((a, b) => a.deadAt - b.deadAt || (a.id < b.id ? -1 : 1));
    return out.slice(0, limit);
  }

  /** Number of dead letters of `fn`. */
  async count(fn: string): Promise<number> {
    const pipeline = crossSlotPipeline(this.redis);
    for (const s of this.streamsOf(fn)) pipeline.xlen(s.key);
    const replies = (await pipeline.exec()) ?? [];
    return replies.reduce((sum, [, n]) => sum + Number(n ?? 0), 0);
  }

  /** One dead letter; throws NotFoundError. */
  async show(fn: string, id: string): Promise<DeadLetter> {
    const { partition, entryId } = this.parseId(id);
    const entries = (await this.redis.xrange(this.keys.partition(partition).deadLetters(fn), entryId, entryId)) as [string, string[]][];
    const entry = entries[0];
    if (!entry) throw new NotFoundError(`dead letter ${id} of function "${fn}" not found (fnrun dlq list ${fn} lists them)`);
    return parseDeadLetter(partition, entry[0], entry[1]);
  }

  /**
   * Moves a dead letter back to its partition as a new entry addressed to `fn` only: the other
   * functions skip it. It keeps its type, key, data and time, and gets the header
   * `fnrun-replay-of: <original id>`. Returns the new event id.
   */
  async replay(fn: string, id: string): Promise<string> {
    const letter = await this.show(fn, id);
    if (letter.event === null || letter.event.type === null) {
      throw new FnrunError('ERR_INVALID_EVENT', `dead letter ${id} is a malformed entry (${letter.error.message}); it cannot be replayed, only purged`);
    }
    const { type, key, data, time, headers } = letter.event;
    const pk = this.keys.partition(letter.partition);
    const fields = encodeFields(type, key, JSON.stringify(data), time ?? Date.now(), { ...headers, [REPLAY_OF_HEADER]: letter.eventId }, fn);
    const newId = await this.redis.fnrunReplay(pk.deadLetters(fn), pk.events, letter.id.slice(letter.id.indexOf(':') + 1), ...fields);
    if (newId === null) throw new NotFoundError(`dead letter ${id} of "${fn}" was replayed or purged meanwhile`);
    return newId;
  }

  /** Replays every dead letter of `fn` that can be replayed; returns how many. */
  async replayAll(fn: string): Promise<number> {
    let count = 0;
    for (;;) {
      const batch = (await this.list(fn, { limit: 1000 })).filter((l) => l.event !== null);
      if (batch.length === 0) return count;
      for (const letter of batch) {
        await this.replay(fn, letter.id);
        count++;
      }
    }
  }

  /** Deletes every dead letter of `fn` (or just `id`); returns how many. */
  async purge(fn: string, id?: string): Promise<number> {
    if (id !== undefined) {
      const { partition, entryId } = this.parseId(id);
      return this.redis.xdel(this.keys.partition(partition).deadLetters(fn), entryId);
    }
    const streams = this.streamsOf(fn);
    const pipeline = crossSlotPipeline(this.redis);
    for (const s of streams) pipeline.xlen(s.key);
    for (const s of streams) pipeline.del(s.key);
    const replies = (await pipeline.exec()) ?? [];
    return replies.slice(0, streams.length).reduce((sum, [, n]) => sum + Number(n ?? 0), 0);
  }

  private streamsOf(fn: string): { partition: number; key: string }[] {
    return Array.from({ length: this.partitions }, (_, p) => ({ partition: p, key: this.keys.partition(p).deadLetters(fn) }));
  }

  private async allStreams(): Promise<{ partition: number; key: string }[]> {
    const found: { partition: number; key: string }[] = [];
    // On a Cluster each master holds some partitions' keys, and SCAN sees one node's keyspace.
    for (const node of masterNodes(this.redis)) {
      let cursor = '0';
      do {
        const [next, keys] = await node.scan(cursor, 'MATCH', this.keys.deadLetterPattern(), 'COUNT', 1000);
        cursor = next;
        for (const key of keys) {
          const m = /\{p(\d+)\}/.exec(key);
          if (m) found.push({ partition: Number(m[1]), key });
        }
      } while (cursor !== '0');
    }
    return found;
  }

  private parseId(id: string): { partition: number; entryId: string } {
    const m = /^(\d+):((\d+)-(\d+))$/.exec(id);
    if (!m) throw new ConfigError(`invalid dead-letter id ${JSON.stringify(id)}: expected <partition>:<entry id>, e.g. 3:1700000000000-0`);
    // Well-formed but out of range (a partition this namespace lacks, a part past 64 bits that
    // Redis would reject): no such dead letter.
    if (Number(m[1]) >= this.partitions || BigInt(m[3]!) > MAX_U64 || BigInt(m[4]!) > MAX_U64) {
      throw new NotFoundError(`dead letter ${id} not found: this namespace has partitions 0 to ${this.partitions - 1} (fnrun dlq list shows the ids)`);
    }
    return { partition: Number(m[1]), entryId: m[2]! };
  }
}
