/**
 * The bytes read ahead and not yet settled by every worker of this process together, and the
 * bound on them (`maxBufferedBytesPerProcess`).
 *
 * Each worker's own bound (`maxBuffered`, `maxBufferedBytes`) is per (function or group,
 * partition), so alone it lets a process hold workers × that much: 20 functions on 256 partitions,
 * all failing while a downstream is down, could pile up 20 GiB behind their held keys and crash the
 * process, which would then read the same entries again after its restart. At this bound, a
 * worker that holds a batch or more (or 64 KiB, partition-worker.ts `BUDGET_FLOOR_BYTES`) stops
 * reading until settled entries anywhere in the process bring the total under it; one holding less
 * may still read, so no function or partition is starved by another's held keys (it only reads
 * ahead less). Entries stay in the stream: backpressure, never loss.
 *
 * When the budget has room again, every worker waiting for it is woken, and each reads at most
 * once before it looks again: the process holds at most the bound plus, per worker, what it may
 * always hold and two reads (one below that floor, one as the budget opened).
 */
export class ReadAheadBudget {
  readonly #limit: number;
  #bytes = 0;
  #full = false;
  readonly #waiting = new Set<() => void>();
  readonly #onFull: (bytes: number, limit: number) => void;

  /** `onFull` is told each time the budget fills up (for a log line). */
  constructor(limitBytes: number, onFull: (bytes: number, limit: number) => void = () => {}) {
    this.#limit = limitBytes;
    this.#onFull = onFull;
  }

  /** Bytes held by every worker now. */
  get bytes(): number {
    return this.#bytes;
  }

  get limit(): number {
    return this.#limit;
  }

  /** True while the process holds its bound or more. */
  get full(): boolean {
    return this.#full;
  }

  /** A worker read entries of `bytes` (its estimate: see PartitionWorker). */
  add(bytes: number): void {
    this.#bytes += bytes;
    if (!this.#full && this.#bytes >= this.#limit) {
      this.#full = true;
      this.#onFull(this.#bytes, this.#limit);
    }
  }

  /** A worker settled entries of `bytes`, or dropped them as it stopped. */
  release(bytes: number): void {
    this.#bytes -= bytes;
    if (this.#full && this.#bytes < this.#limit) {
      this.#full = false;
      const waiting = [...this.#waiting];
      this.#waiting.clear();
      for (const wake of waiting) wake();
    }
  }

  /** Calls `wake` once the budget has room (on the next microtask if it has now); returns a cancel. */
  whenRoom(wake: () => void): () => void {
    if (!this.#full) {
      queueMicrotask(wake);
      return () => {};
    }
    this.#waiting.add(wake);
    return () => { this.#waiting.delete(wake); };
  }
}
