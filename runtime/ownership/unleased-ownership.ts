/**
 * The ownership of a runtime without leases: every partition, from start to stop, unfenced. The
 * same face as {@link PartitionOwnership}, so the runtime wires either one the same way.
 */
import type { Logger } from '../logger.ts';
import { isLostCommit } from '../redis/reply-errors.ts';
import type { PartitionOwnership } from './partition-ownership.ts';

export class UnleasedOwnership implements Pick<PartitionOwnership, 'start' | 'stop' | 'lost' | 'leasesFresh'> {
  /** No lease identity: this process shares nothing. */
  readonly memberId = null;
  readonly #partitions: number;
  readonly #add: (partition: number) => void;
  readonly #remove: (partition: number) => Promise<void>;
  readonly #logger: Logger;
  #stopped = false;
  /** Partitions being restarted: a worker and its commit queue both report the same lost commit. */
  readonly #restarting = new Set<number>();

  /** `add` starts the work on a partition (with no lease token), `remove` stops it. */
  constructor(partitions: number, add: (partition: number) => void, remove: (partition: number) => Promise<void>, logger: Logger) {
    this.#partitions = partitions;
    this.#add = add;
    this.#remove = remove;
    this.#logger = logger;
  }

  /** No leases to doubt. */
  leasesFresh(): boolean {
    return true;
  }

  /** Takes every partition. */
  async start(): Promise<void> {
    for (let p = 0; p < this.#partitions; p++) this.#add(p);
  }

  /** Nothing to hand over: nobody else is waiting for these partitions. */
  async stop(): Promise<void> {
    this.#stopped = true;
  }

  /**
   * An unleased commit is fenced when Redis lost an earlier one (a failover, a restart without
   * fsync): the partition's workers start again, from its pending entries. (No token to check: a
   * restart waits for the old workers to stop, so none of theirs reports after it.)
   */
  lost(partition: number, _token: string, error?: Error): void {
    if (!isLostCommit(error)) {
      this.#logger.error({ partition, err: error }, 'a commit was fenced without leases: is another runtime working on this namespace?');
      return;
    }
    if (this.#restarting.has(partition)) return;
    this.#restarting.add(partition);
    this.#logger.warn({ partition }, `Redis lost a commit of partition ${partition} (a failover, or a restart without fsync): reading it again from its pending entries`);
    void this.#remove(partition).then(() => {
      if (!this.#stopped) this.#add(partition);
    }, (e: unknown) => this.#logger.error({ partition, err: e }, 'could not restart a partition after a lost commit')).finally(() => this.#restarting.delete(partition));
  }
}
