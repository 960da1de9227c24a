/**
 * Workers waiting for their partition to move past an entry id: the bookkeeping both wake
 * watchers share (wake-watcher.ts on one server, slot-wake-watcher.ts on a Cluster).
 */
import { compareStreamIds } from '../../redis/stream-id.ts';

interface Waiter {
  afterId: string;
  resolve: () => void;
}

export class WaiterList {
  private readonly byPartition = new Map<number, Waiter[]>();

  /** Number of partitions with waiters. */
  get size(): number {
    return this.byPartition.size;
  }

  partitions(): IterableIterator<number> {
    return this.byPartition.keys();
  }

  add(partition: number, afterId: string, resolve: () => void): void {
    let list = this.byPartition.get(partition);
    if (list === undefined) this.byPartition.set(partition, (list = []));
    list.push({ afterId, resolve });
  }

  /** The oldest id `partition`'s waiters wait past (what a read must cover), or undefined. */
  oldestAfterId(partition: number): string | undefined {
    const list = this.byPartition.get(partition);
    if (list === undefined || list.length === 0) return undefined;
    let min = list[0]!.afterId;
    for (const w of list) if (compareStreamIds(w.afterId, min) < 0) min = w.afterId;
    return min;
  }

  /** Resolves the waiters of `partition` that entry `entryId` is past; returns how many. */
  wakePast(partition: number, entryId: string): number {
    const list = this.byPartition.get(partition);
    if (list === undefined) return 0;
    // In place: this runs for every entry that wakes a partition.
    let kept = 0;
    for (const w of list) {
      if (compareStreamIds(w.afterId, entryId) < 0) w.resolve();
      else list[kept++] = w;
    }
    const woken = list.length - kept;
    list.length = kept;
    if (kept === 0) this.byPartition.delete(partition);
    return woken;
  }

  wake(partition: number): void {
    for (const w of this.byPartition.get(partition) ?? []) w.resolve();
    this.byPartition.delete(partition);
  }

  wakeAll(): void {
    for (const list of this.byPartition.values()) for (const w of list) w.resolve();
    this.byPartition.clear();
  }
}
