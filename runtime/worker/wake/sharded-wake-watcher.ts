/**
 * The single-server wake watcher for any number of partitions: a {@link WakeWatcher} per shard of
 * {@link SHARD_PARTITIONS} consecutive partitions, each blocked on its own connection.
 *
 * One blocked XREAD over every partition costs Redis in proportion to the streams it names, at
 * each issue and each wake-up (it is registered on, then removed from, every stream), and at a
 * trickle it is reissued about once per event. Measured at 2,000 events/s over 256 partitions:
 * 618 µs of Redis CPU per XREAD, a third of a core for the wake reads alone, and every other
 * command queued behind them (publish → handler start: p50 4 ms, p99 24 ms, against 1 and 7 over
 * 16 partitions). Per shard, an event costs the XREAD of its own 16 streams.
 *
 * Idle, each shard reissues its read when the block times out; the blocks are as much longer as
 * there are shards (up to {@link MAX_BLOCK_MS}), so an idle process still sends about one command
 * per {@link BLOCK_MS} whatever its partitions. A shard's connection is opened when a partition of
 * it first waits (the first shard uses the connection the runtime opened for the watcher), and
 * kept until stop.
 */
import type { Redis } from '../../redis/redis.ts';
import { BLOCK_MS, WakeWatcher, type PartitionWaker } from './wake-watcher.ts';

/** Partitions per shard: as many as a namespace has by default, so that one has one watcher. */
export const SHARD_PARTITIONS = 16;
/** The longest block of a shard's read (a reply lost with its connection is noticed within it and the reply deadline). */
export const MAX_BLOCK_MS = 60_000;
/** A shard whose connection failed to open is tried again after this (its waiters are woken, to read and back off on their own). */
const RETRY_MS = 200;

export class ShardedWakeWatcher implements PartitionWaker {
  readonly #first: Redis;
  readonly #control: Redis;
  readonly #connect: () => Promise<Redis>;
  readonly #streamOf: (partition: number) => string;
  readonly #blockMs: number;
  /** Started shards, by shard number. */
  readonly #shards = new Map<number, WakeWatcher>();
  /** Shards whose connection is being opened. */
  readonly #opening = new Map<number, Promise<WakeWatcher | null>>();
  /** Connections this watcher opened (the first one belongs to the runtime). */
  readonly #opened: Redis[] = [];
  #firstUsed = false;
  #running = false;

  /**
   * `first`: the runtime's watcher connection; `control`: where CLIENT UNBLOCK goes; `connect`
   * opens a connection like `first`; `partitions`: the namespace's count (it sets the blocks' length).
   */
  constructor(first: Redis, control: Redis, connect: () => Promise<Redis>, streamOf: (partition: number) => string, partitions: number) {
    this.#first = first;
    this.#control = control;
    this.#connect = connect;
    this.#streamOf = streamOf;
    this.#blockMs = Math.min(MAX_BLOCK_MS, BLOCK_MS * Math.ceil(partitions / SHARD_PARTITIONS));
  }

  async start(): Promise<void> {
    this.#running = true;
  }

  waitFor(partition: number, afterId: string): Promise<void> {
    if (!this.#running) return Promise.resolve();
    const shard = Math.floor(partition / SHARD_PARTITIONS);
    const watcher = this.#shards.get(shard);
    if (watcher !== undefined) return watcher.waitFor(partition, afterId);
    return this.#open(shard).then((w) => (w !== null ? w.waitFor(partition, afterId) : new Promise<void>((r) => setTimeout(r, RETRY_MS))));
  }

  wakeAll(): void {
    for (const w of this.#shards.values()) w.wakeAll();
  }

  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    await Promise.allSettled(this.#opening.values());
    await Promise.all([...this.#shards.values()].map((w) => w.stop()));
    this.#shards.clear();
    for (const c of this.#opened.splice(0)) c.disconnect();
  }

  /** The shard's watcher, started; null when its connection could not be opened (or on stop). */
  #open(shard: number): Promise<WakeWatcher | null> {
    let opening = this.#opening.get(shard);
    if (opening === undefined) {
      opening = this.#startShard(shard).finally(() => this.#opening.delete(shard));
      this.#opening.set(shard, opening);
    }
    return opening;
  }

  async #startShard(shard: number): Promise<WakeWatcher | null> {
    let connection: Redis;
    if (!this.#firstUsed) {
      this.#firstUsed = true;
      connection = this.#first;
    } else {
      try {
        connection = await this.#connect();
      } catch {
        return null; // Redis unreachable: the waiters read (and fail, and back off) on their own
      }
      this.#opened.push(connection);
    }
    const watcher = new WakeWatcher(connection, this.#control, this.#streamOf, this.#blockMs);
    try {
      await watcher.start();
    } catch {
      if (connection === this.#first) this.#firstUsed = false;
      else {
        this.#opened.splice(this.#opened.indexOf(connection), 1);
        connection.disconnect();
      }
      return null;
    }
    if (!this.#running) {
      await watcher.stop();
      return null;
    }
    this.#shards.set(shard, watcher);
    return watcher;
  }
}
