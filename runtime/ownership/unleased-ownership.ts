/**
 * The ownership of a runtime without leases: every partition, from start to stop, unfenced. The
 * same face as {@link PartitionOwnership}, so the runtime wires either one the same way.
 */
import type { Logger } from '../logger.ts';
import type { PartitionOwnership } from './partition-ownership.ts';

export class UnleasedOwnership implements Pick<PartitionOwnership, 'start' | 'stop' | 'lost'> {
  /** No lease identity: this process shares nothing. */
  readonly memberId = null;
  readonly #partitions: number;
  readonly #add: (partition: number) => void;
  readonly #logger: Logger;

  /** `add` starts the work on a partition (with no lease token). */
  constructor(partitions: number, add: (partition: number) => void, logger: Logger) {
    this.#partitions = partitions;
    this.#add = add;
    this.#logger = logger;
  }

  /** Takes every partition. */
  async start(): Promise<void> {
    for (let p = 0; p < this.#partitions; p++) this.#add(p);
  }

  /** Nothing to hand over: nobody else is waiting for these partitions. */
  async stop(): Promise<void> {}

  /** Only another process writing to the namespace can fence an unleased commit: it is an operator error, logged. */
  lost(partition: number): void {
    this.#logger.error({ partition }, 'a commit was fenced without leases: is another runtime working on this namespace?');
  }
}
