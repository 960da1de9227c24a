/**
 * The events of one partition waiting for one consumer group, queued per key: a key's events are
 * handed out as a **run** (its consecutive queued events, in id order), and the key is held until
 * that run is settled, so one key's events never run concurrently or out of order while different
 * keys run at once. With `ordering: 'partition'` the whole partition is one key. Events without a
 * key have no order: each is a lane of its own.
 *
 * Pure data structure: no I/O, no timers (unit-tested in test/unit/key-queues.test.ts).
 */

/** What a queued entry needs to say about itself. */
export interface Keyed {
  readonly id: string;
  /** The event's key; null: any order. */
  readonly key: string | null;
}

/** One key's queue (opaque outside this module). */
export interface Lane<E> {
  /** The key; null for the partition's one lane, or an unkeyed event's own. */
  readonly key: string | null;
  entries: E[];
  /** Index of the first entry not yet handed out. */
  head: number;
  held: boolean;
  /** Waiting in the ready list. */
  ready: boolean;
}

/** A run handed out: settle it, then {@link KeyQueues.release} its lane. */
export interface Run<E> {
  readonly lane: Lane<E>;
  readonly entries: readonly E[];
}

export class KeyQueues<E extends Keyed> {
  readonly #byPartition: boolean;
  /** Keyed lanes by key; the partition's one lane and unkeyed events' lanes are in #unkeyed. */
  readonly #lanes = new Map<string, Lane<E>>();
  readonly #unkeyed = new Set<Lane<E>>();
  /** Lanes with entries and no run out, in the order their head entry arrived. */
  #ready: Lane<E>[] = [];
  #readyHead = 0;
  #size = 0;
  /** The partition's one lane (ordering 'partition'), while it has entries. */
  #partitionLane: Lane<E> | null = null;

  constructor(ordering: 'key' | 'partition') {
    this.#byPartition = ordering === 'partition';
  }

  /** Entries queued and not yet settled (including those of runs handed out). */
  get size(): number {
    return this.#size;
  }

  /** Lanes with a run out. */
  get held(): number {
    let n = 0;
    for (const lane of this.#lanes.values()) if (lane.held) n++;
    for (const lane of this.#unkeyed) if (lane.held) n++;
    return n;
  }

  /** Appends an entry behind the earlier ones of its key. */
  push(entry: E): void {
    const key = this.#byPartition ? null : entry.key;
    let lane = key === null ? (this.#byPartition ? this.#partitionLane : null) : this.#lanes.get(key);
    if (lane === null || lane === undefined) {
      lane = { key, entries: [], head: 0, held: false, ready: false };
      if (key !== null) this.#lanes.set(key, lane);
      else {
        this.#unkeyed.add(lane);
        if (this.#byPartition) this.#partitionLane = lane;
      }
    }
    lane.entries.push(entry);
    this.#size++;
    if (!lane.held && !lane.ready) this.#markReady(lane);
  }

  /** The next run (at most `max` entries of one lane), holding its lane; null when none is ready. */
  take(max: number): Run<E> | null {
    while (this.#readyHead < this.#ready.length) {
      const lane = this.#ready[this.#readyHead++]!;
      lane.ready = false;
      if (lane.held || lane.head >= lane.entries.length) continue;
      const end = Math.min(lane.entries.length, lane.head + Math.max(1, max));
      const entries = lane.entries.slice(lane.head, end);
      lane.head = end;
      lane.held = true;
      this.#compactReady();
      return { lane, entries };
    }
    this.#compactReady();
    return null;
  }

  /**
   * Ends a run: its first `settled` entries are done (the rest go back to the front of the lane,
   * in order, e.g. after a stop), and the lane's later entries become ready.
   */
  release(run: Run<E>, settled = run.entries.length): void {
    const lane = run.lane;
    if (!lane.held || !this.#has(lane)) return;
    lane.held = false;
    const back = run.entries.length - settled;
    lane.head -= back;
    lane.entries.splice(0, lane.head);
    this.#size -= lane.head;
    lane.head = 0;
    if (lane.entries.length === 0) this.#drop(lane);
    else if (!lane.ready) this.#markReady(lane);
  }

  /** Every entry not handed out in a run now (for a graceful stop: they were never started). */
  unstarted(): E[] {
    const out: E[] = [];
    for (const lanes of [this.#lanes.values(), this.#unkeyed] as Iterable<Lane<E>>[]) {
      for (const lane of lanes) for (let i = lane.head; i < lane.entries.length; i++) out.push(lane.entries[i]!);
    }
    return out;
  }

  #has(lane: Lane<E>): boolean {
    return lane.key === null ? this.#unkeyed.has(lane) : this.#lanes.get(lane.key) === lane;
  }

  #drop(lane: Lane<E>): void {
    if (lane.key !== null) this.#lanes.delete(lane.key);
    else {
      this.#unkeyed.delete(lane);
      if (this.#partitionLane === lane) this.#partitionLane = null;
    }
  }

  #markReady(lane: Lane<E>): void {
    lane.ready = true;
    this.#ready.push(lane);
  }

  /**
   * Drops the lanes taken from the ready list. All at once when it is empty (the usual case below
   * saturation: taken lanes kept until 1,024 of them live on, survive scavenges and are promoted).
   */
  #compactReady(): void {
    if (this.#readyHead === this.#ready.length) {
      this.#ready.length = 0;
      this.#readyHead = 0;
    } else if (this.#readyHead > 1024 && this.#readyHead * 2 > this.#ready.length) {
      this.#ready = this.#ready.slice(this.#readyHead);
      this.#readyHead = 0;
    }
  }
}
