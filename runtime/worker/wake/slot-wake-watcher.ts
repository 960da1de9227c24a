/**
 * The wake watcher for a Redis Cluster. A multi-stream XREAD must stay in one slot, and every
 * partition is its own slot, so here each partition with idle workers gets its own blocking
 * `XREAD BLOCK … STREAMS <stream> <id>` on its own connection (opened on first use, kept until
 * stop). Same contract as {@link WakeWatcher}: `waitFor` resolves when the partition has an entry
 * after `afterId`, on stop, or spuriously.
 */
import type { Redis } from '../../redis/redis.ts';
import { NoReplyError, REDIS_REPLY_TIMEOUT_MS, replyWithin } from '../../redis/reply-deadline.ts';
import { compareStreamIds } from '../../redis/stream-id.ts';
import type { PartitionWaker } from './wake-watcher.ts';
import { WaiterList } from './wake-waiters.ts';

/** One blocked read's length; on expiry the partition's waiters are woken as a safety net. */
const BLOCK_MS = 5000;

export class SlotWakeWatcher implements PartitionWaker {
  private readonly connect: () => Promise<Redis>;
  private readonly streamOf: (partition: number) => string;
  private readonly waiters = new WaiterList();
  private readonly connections = new Map<number, Promise<Redis>>();
  private readonly loops = new Map<number, Promise<void>>();
  /** The id each partition's read in flight waits past. */
  private readonly blockedOn = new Map<number, string>();
  private running = false;

  constructor(connect: () => Promise<Redis>, streamOf: (partition: number) => string) {
    this.connect = connect;
    this.streamOf = streamOf;
  }

  async start(): Promise<void> {
    this.running = true;
  }

  waitFor(partition: number, afterId: string): Promise<void> {
    if (!this.running) return Promise.resolve();
    const blocked = this.blockedOn.get(partition);
    // Entries after an older id than the read covers exist already: no need to wait.
    if (blocked !== undefined && compareStreamIds(afterId, blocked) < 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.waiters.add(partition, afterId, resolve);
      if (!this.loops.has(partition)) {
        const loop = this.run(partition).finally(() => this.loops.delete(partition));
        this.loops.set(partition, loop);
      }
    });
  }

  wakeAll(): void {
    this.waiters.wakeAll();
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    const connections = await Promise.allSettled(this.connections.values());
    // Disconnecting fails the blocked reads, which ends every loop.
    for (const c of connections) if (c.status === 'fulfilled') c.value.disconnect();
    await Promise.all(this.loops.values());
    this.wakeAll();
  }

  #drop(partition: number): void {
    const connection = this.connections.get(partition);
    this.connections.delete(partition);
    connection?.then((c) => c.disconnect(), () => {});
  }

  private async run(partition: number): Promise<void> {
    const stream = this.streamOf(partition);
    const label = `the wake read of partition ${partition}`;
    while (this.running) {
      const min = this.waiters.oldestAfterId(partition);
      if (min === undefined) return;
      let reply: [string, [string, string[]][]][] | null;
      try {
        let connection = this.connections.get(partition);
        if (connection === undefined) {
          connection = this.connect();
          this.connections.set(partition, connection);
          connection.catch(() => this.connections.delete(partition));
        }
        this.blockedOn.set(partition, min);
        const read = (await connection).call('XREAD', 'COUNT', 1, 'BLOCK', BLOCK_MS, 'STREAMS', stream, min);
        reply = (await replyWithin(read, label, BLOCK_MS + REDIS_REPLY_TIMEOUT_MS)) as typeof reply;
      } catch (error) {
        // Redis down, failing over or resharding: wake the workers so they notice and back off.
        this.blockedOn.delete(partition);
        // A reply that never came: the connection's bookkeeping is not to be trusted, use a new one.
        if (error instanceof NoReplyError) this.#drop(partition);
        this.waiters.wake(partition);
        if (this.running) await new Promise((r) => setTimeout(r, 200));
        continue;
      } finally {
        this.blockedOn.delete(partition);
      }
      // A timeout wakes nobody: the read is issued again (one command per BLOCK_MS per idle partition).
      const first = reply?.[0]?.[1][0];
      if (first !== undefined) this.waiters.wakePast(partition, first[0]);
    }
  }
}
