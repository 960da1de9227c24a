/**
 * One blocking connection per process that tells idle workers when their partition has new entries.
 *
 * Workers read with non-blocking XREADGROUP (so one connection serves every partition and group)
 * and, when a read comes back empty, wait here. The watcher blocks in a side-effect-free
 * `XREAD BLOCK … STREAMS <idle partitions> <last ids>` and wakes the workers whose partition moved.
 * When a worker starts waiting on a partition the blocked read does not cover, the read is cut
 * short with CLIENT UNBLOCK from the command connection and reissued.
 *
 * A partition whose workers were just woken stays in the reads that follow, past the entry that woke
 * them, until they wait again: back after reading that entry, they wait past it or a later id, so
 * the read in flight covers them and is not cut short (without this, a steady trickle of events
 * cost a CLIENT UNBLOCK and one more XREAD per event). An entry that arrives while its partition's
 * workers are still busy with the previous one wakes nobody; the watcher remembers it, so a worker
 * that then waits for an older id is let through at once, and keeps the partition in the next read,
 * past that entry, where the worker's next wait finds it covered. Measured at 2,000 events/s over
 * 16 partitions, one event in ten arrived so, and each cost a CLIENT UNBLOCK and a reissued XREAD
 * before its worker could read it: two round trips in the latency's tail. A partition is dropped
 * after two such entries in a row (a busy one must not end every read at once), and when a read
 * times out.
 */
import type { Redis } from '../../redis/redis.ts';
import { NoReplyError, REDIS_REPLY_TIMEOUT_MS, replyWithin } from '../../redis/reply-deadline.ts';
import { compareStreamIds } from '../../redis/stream-id.ts';
import { WaiterList } from './wake-waiters.ts';

/** What partition workers wait on when a read comes back empty. */
export interface PartitionWaker {
  start(): Promise<void>;
  /** Resolves when `partition` has an entry after `afterId` (or on stop, or spuriously). */
  waitFor(partition: number, afterId: string): Promise<void>;
  /** Wakes every waiter. */
  wakeAll(): void;
  /** This process no longer works on `partition` (its workers stopped): what it took may be given to another. */
  forget?(partition: number): void;
  stop(): Promise<void>;
}

/** How long one blocked read lasts before it is issued again (to cover partitions that changed meanwhile). */
export const BLOCK_MS = 5000;

export class WakeWatcher implements PartitionWaker {
  private readonly blocking: Redis;
  private readonly control: Redis;
  private readonly streamOf: (partition: number) => string;
  private readonly blockMs: number;
  private readonly waiters = new WaiterList();
  private readonly partitionOfStream = new Map<string, number>();
  private running = false;
  private loop: Promise<void> | null = null;
  private wakeLoop: (() => void) | null = null;
  /** Partitions and ids of the read in flight, or null when not blocked. */
  private blockedOn: Map<number, string> | null = null;
  private blockingClientId: number | null = null;
  /** The read that CLIENT UNBLOCK was sent for, so its empty reply is not taken as a timeout. */
  private interruptedRead: Map<number, string> | null = null;
  /** Partitions whose workers were woken and are not waiting again yet, and the entry that woke them. */
  private readonly lingering = new Map<number, string>();
  /** Lingering partitions whose last entry found nobody waiting: dropped if the next one does too. */
  private readonly missed = new Set<number>();
  /**
   * Per partition, an entry a read returned that woke nobody: the next wait for an older id has
   * nothing to wait for. Used once, so that ids going backwards (a stream recreated by hand with
   * explicit ids) cost one spurious wake, never a loop of them.
   */
  private readonly unclaimed = new Map<number, string>();

  /** `blockMs`: how long one blocked read lasts (see {@link BLOCK_MS}). */
  constructor(blocking: Redis, control: Redis, streamOf: (partition: number) => string, blockMs = BLOCK_MS) {
    this.blocking = blocking;
    this.control = control;
    this.streamOf = streamOf;
    this.blockMs = blockMs;
  }

  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    this.blockingClientId = Number(await replyWithin(this.blocking.client('ID'), 'the wake connection\'s CLIENT ID'));
    // A reconnect gives the blocking connection a new client id.
    this.blocking.on('ready', () => {
      this.blocking.client('ID').then((id) => { this.blockingClientId = Number(id); }, () => {});
    });
    this.loop = this.run();
  }

  /** Resolves when partition `partition` has an entry after `afterId` (or on stop, or spuriously). */
  waitFor(partition: number, afterId: string): Promise<void> {
    if (!this.running) return Promise.resolve();
    const unclaimed = this.unclaimed.get(partition);
    if (unclaimed !== undefined && compareStreamIds(unclaimed, afterId) > 0) {
      this.unclaimed.delete(partition);
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      this.waiters.add(partition, afterId, resolve);
      const blockedId = this.blockedOn?.get(partition);
      if (this.blockedOn !== null && (blockedId === undefined || compareStreamIds(afterId, blockedId) < 0)) void this.interrupt();
      this.wakeLoop?.();
    });
  }

  /** Wakes every waiter (used on stop and by tests of shutdown). */
  wakeAll(): void {
    this.waiters.wakeAll();
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.wakeLoop?.();
    await this.interrupt();
    await this.loop;
    this.wakeAll();
  }

  private async run(): Promise<void> {
    while (this.running) {
      if (this.waiters.size === 0) {
        await new Promise<void>((resolve) => { this.wakeLoop = resolve; });
        this.wakeLoop = null;
        continue;
      }
      const on = new Map<number, string>();
      for (const p of this.waiters.partitions()) on.set(p, this.waiters.oldestAfterId(p)!);
      for (const [p, id] of this.lingering) if (!on.has(p)) on.set(p, id);
      const n = on.size;
      const args = new Array<string | number>(5 + 2 * n);
      args[0] = 'COUNT'; args[1] = 1; args[2] = 'BLOCK'; args[3] = this.blockMs; args[4] = 'STREAMS';
      let at = 5;
      for (const [p, id] of on) {
        const stream = this.streamOf(p);
        if (!this.partitionOfStream.has(stream)) this.partitionOfStream.set(stream, p);
        args[at] = stream;
        args[at + n] = id;
        at++;
      }
      this.blockedOn = on;
      let reply: [string, [string, string[]][]][] | null;
      try {
        reply = (await replyWithin(this.blocking.call('XREAD', ...args), 'the wake read', this.blockMs + REDIS_REPLY_TIMEOUT_MS)) as typeof reply;
      } catch (error) {
        // Redis down or restarting (or a reply that never came): wake everyone so workers notice
        // and back off on their own. A reply that never came leaves the connection's bookkeeping
        // in doubt: reconnect it (its client id is read again on 'ready'), as the Cluster watcher
        // replaces its connection.
        if (error instanceof NoReplyError) this.blocking.disconnect(true);
        this.blockedOn = null;
        this.interruptedRead = null;
        this.wakeAll();
        await new Promise((r) => setTimeout(r, 200));
        continue;
      } finally {
        this.blockedOn = null;
      }
      const interrupted = this.interruptedRead === on;
      this.interruptedRead = null;
      // A timeout (or an interruption) wakes nobody: the read is simply issued again, so an idle
      // process costs one command per blockMs, whatever its functions (and, see sharded-wake-watcher.ts, its partitions).
      if (reply === null) {
        if (!interrupted) {
          this.lingering.clear();
          this.missed.clear();
        }
        continue;
      }
      for (const [stream, entries] of reply) {
        const p = this.partitionOfStream.get(stream);
        const first = entries[0];
        if (p === undefined || first === undefined) continue;
        const id = first[0];
        if (this.waiters.wakePast(p, id) > 0) {
          this.lingering.set(p, id);
          this.missed.delete(p);
          this.unclaimed.delete(p);
          continue;
        }
        this.unclaimed.set(p, id);
        if (this.missed.has(p) || !this.lingering.has(p)) {
          this.lingering.delete(p);
          this.missed.delete(p);
        } else {
          this.lingering.set(p, id);
          this.missed.add(p);
        }
      }
    }
  }

  /**
   * Cuts the blocked read short. CLIENT UNBLOCK travels on another connection, so it can arrive
   * before Redis has started blocking; retry until it lands or the read has returned.
   */
  private async interrupt(): Promise<void> {
    const target = this.blockedOn;
    if (target === null || this.blockingClientId === null || this.interruptedRead === target) return;
    this.interruptedRead = target;
    for (let i = 0; i < 50 && this.blockedOn === target; i++) {
      const done = await this.control.client('UNBLOCK', this.blockingClientId).catch(() => 0);
      if (Number(done) === 1) return;
      await new Promise((r) => setTimeout(r, i < 5 ? 0 : 2));
    }
  }
}
