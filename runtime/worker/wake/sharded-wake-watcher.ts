/**
 * The single-server wake watcher for any number of partitions: a {@link WakeWatcher} per shard of
 * at most {@link SHARD_PARTITIONS} partitions, each blocked on its own connection.
 *
 * One blocked XREAD over every partition costs Redis in proportion to the streams it names, at
 * each issue and each wake-up (it is registered on, then removed from, every stream), and at a
 * trickle it is reissued about once per event. Measured at 2,000 events/s over 256 partitions:
 * 618 µs of Redis CPU per XREAD, a third of a core for the wake reads alone, and every other
 * command queued behind them (publish → handler start: p50 4 ms, p99 24 ms, against 1 and 7 over
 * 16 partitions). Per shard, an event costs the XREAD of at most 16 streams.
 *
 * A partition joins a shard when it first waits, the first shard with room (so a process that
 * works on 16 scattered partitions of 256 has one shard), and leaves it when the process stops
 * working on it ({@link forget}). A shard's connection is opened when its first partition waits
 * (the first shard uses the connection the runtime opened for the watcher), and kept until stop.
 * Idle, each shard reissues its read when the block times out; the blocks are as much longer as
 * the namespace could have shards (up to {@link MAX_BLOCK_MS}), so an idle process still sends
 * about one command per {@link BLOCK_MS}.
 */
import { reconnectDelayMs } from '../../policy/backoff.ts';
import type { Redis } from '../../redis/redis.ts';
import { BLOCK_MS, WakeWatcher, type PartitionWaker } from './wake-watcher.ts';

/** Partitions per shard: as many as a namespace has by default, so that one has one watcher. */
export const SHARD_PARTITIONS = 16;
/** The longest block of a shard's read (a reply lost with its connection is noticed within it and the reply deadline). */
export const MAX_BLOCK_MS = 60_000;
/** A shard whose connection failed to open is tried again after this, doubling up to 5 s (its waiters are woken then, to read and back off on their own). */
const RETRY_MS = 200;

export class ShardedWakeWatcher implements PartitionWaker {
  readonly #first: Redis;
  readonly #control: Redis;
  readonly #connect: () => Promise<Redis>;
  readonly #streamOf: (partition: number) => string;
  readonly #blockMs: number;
  readonly #onOpenFailed: (error: unknown) => void;
  /** Started shards, by shard number. */
  readonly #shards = new Map<number, WakeWatcher>();
  /** Shards whose connection is being opened. */
  readonly #opening = new Map<number, Promise<WakeWatcher | null>>();
  /** Connections this watcher opened (the first one belongs to the runtime). */
  readonly #opened: Redis[] = [];
  /** Each partition's shard, from its first wait until {@link forget}. */
  readonly #shardOf = new Map<number, number>();
  /** Partitions per shard. */
  readonly #load: number[] = [];
  /** Per shard whose last open failed: failures in a row, and when the next open may be tried. */
  readonly #failed = new Map<number, { count: number; retryAt: number }>();
  /** Waits for a shard not open yet (or retrying): wakeAll() and stop() end them, as they end every other wait. */
  readonly #early = new Set<() => void>();
  #firstUsed = false;
  #running = false;

  /**
   * `first`: the runtime's watcher connection; `control`: where CLIENT UNBLOCK goes; `connect`
   * opens a connection like `first`; `partitions`: the namespace's count (it sets the blocks'
   * length); `onOpenFailed`: told when a shard's connection could not be opened.
   */
  constructor(first: Redis, control: Redis, connect: () => Promise<Redis>, streamOf: (partition: number) => string, partitions: number, onOpenFailed: (error: unknown) => void = () => {}) {
    this.#first = first;
    this.#control = control;
    this.#connect = connect;
    this.#streamOf = streamOf;
    this.#blockMs = Math.min(MAX_BLOCK_MS, BLOCK_MS * Math.ceil(partitions / SHARD_PARTITIONS));
    this.#onOpenFailed = onOpenFailed;
  }

  async start(): Promise<void> {
    this.#running = true;
  }

  waitFor(partition: number, afterId: string): Promise<void> {
    if (!this.#running) return Promise.resolve();
    const shard = this.#assign(partition);
    const watcher = this.#shards.get(shard);
    if (watcher !== undefined) return watcher.waitFor(partition, afterId);
    return new Promise<void>((resolve) => {
      let done = false;
      const end = () => {
        if (done) return;
        done = true;
        this.#early.delete(end);
        resolve();
      };
      this.#early.add(end);
      // Could not open: its waiters are woken when the backoff is over, to read (and back off) on
      // their own; until then no other wait of the shard tries again.
      const retryAt = () => this.#failed.get(shard)?.retryAt ?? 0;
      const untilRetry = () => setTimeout(end, Math.max(0, retryAt() - Date.now())).unref();
      if (retryAt() > Date.now()) return void untilRetry();
      this.#open(shard).then((w) => {
        if (done) return;
        if (!this.#running) return end();
        if (w === null) return void untilRetry();
        this.#early.delete(end);
        w.waitFor(partition, afterId).then(end, end);
      }, end);
    });
  }

  wakeAll(): void {
    for (const end of [...this.#early]) end();
    for (const w of this.#shards.values()) w.wakeAll();
  }

  forget(partition: number): void {
    const shard = this.#shardOf.get(partition);
    if (shard === undefined) return;
    this.#shardOf.delete(partition);
    this.#load[shard]!--;
  }

  /** Stops the shards' reads; a shard still opening closes its connection once it opens. */
  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    for (const end of [...this.#early]) end();
    await Promise.all([...this.#shards.values()].map((w) => w.stop()));
    this.#shards.clear();
    for (const c of this.#opened.splice(0)) c.disconnect();
  }

  /** The shard of `partition`: its own if it has one, else the first with room. */
  #assign(partition: number): number {
    let shard = this.#shardOf.get(partition);
    if (shard !== undefined) return shard;
    shard = 0;
    while ((this.#load[shard] ?? 0) >= SHARD_PARTITIONS) shard++;
    this.#load[shard] = (this.#load[shard] ?? 0) + 1;
    this.#shardOf.set(partition, shard);
    return shard;
  }

  /** The shard's watcher, started; null when its connection could not be opened (or on stop). */
  #open(shard: number): Promise<WakeWatcher | null> {
    let opening = this.#opening.get(shard);
    if (opening === undefined) {
      opening = this.#startShard().catch(() => null).then((w) => {
        if (w !== null && !this.#running) {
          void w.stop(); // stopped between the open and this: stop() did not see it
          return null;
        }
        if (w !== null) {
          this.#failed.delete(shard);
          this.#shards.set(shard, w);
        } else if (this.#running) {
          const count = (this.#failed.get(shard)?.count ?? 0) + 1;
          this.#failed.set(shard, { count, retryAt: Date.now() + reconnectDelayMs(count - 1, RETRY_MS, 5000) });
        }
        return w;
      }).finally(() => this.#opening.delete(shard));
      this.#opening.set(shard, opening);
    }
    return opening;
  }

  #reportOpenFailed(error: unknown): void {
    try {
      this.#onOpenFailed(error);
    } catch {
      // a logger that throws must not leave the shard's waiters waiting
    }
  }

  /** A started watcher on a connection of its own (the runtime's for the first); null if that failed or the watcher stopped meanwhile. */
  async #startShard(): Promise<WakeWatcher | null> {
    const useFirst = !this.#firstUsed;
    let connection: Redis;
    if (useFirst) {
      this.#firstUsed = true;
      connection = this.#first;
    } else {
      try {
        connection = await this.#connect();
      } catch (error) {
        if (this.#running) this.#reportOpenFailed(error);
        return null;
      }
    }
    const discard = () => {
      if (useFirst) this.#firstUsed = false;
      else connection.disconnect();
    };
    const watcher = new WakeWatcher(connection, this.#control, this.#streamOf, this.#blockMs);
    try {
      if (!this.#running) throw new Error('stopped');
      await watcher.start();
    } catch (error) {
      discard();
      if (this.#running) this.#reportOpenFailed(error);
      return null;
    }
    if (!this.#running) {
      await watcher.stop();
      discard();
      return null;
    }
    if (!useFirst) this.#opened.push(connection);
    return watcher;
  }
}
