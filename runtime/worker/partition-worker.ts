/**
 * The loop of one consumer group on one partition: read entries (the pending ones first, in id
 * order, then new ones), queue them per key, and hand each key's run to the settler while other
 * keys' runs are in flight; wait for new entries when idle.
 *
 * What waits is bounded: past `maxBuffered` entries (or `maxBufferedBytes`) read and not yet
 * settled — typically behind keys whose events are in retry backoff — the worker stops reading
 * until runs settle (backpressure: the entries stay in the stream, nothing is lost). So does a
 * worker holding a batch or more (or {@link BUDGET_FLOOR_BYTES}) while the whole process holds
 * `maxBufferedBytesPerProcess` (read-ahead-budget.ts).
 *
 * Its collaborators come in as {@link PartitionWorkerDeps}, so unit tests drive it with stubs.
 */
import type { DecodedEntry, MalformedEntry, WireEvent } from '../events/wire.ts';
import { isMalformed } from '../events/wire.ts';
import type { Logger } from '../logger.ts';
import { isFenced, isLostCommit, isNoGroup } from '../redis/reply-errors.ts';
import { compareStreamIds } from '../redis/stream-id.ts';
import { reconnectDelayMs } from '../policy/backoff.ts';
import type { CommitQueue, Settler } from './commit-queue.ts';
import { KeyQueues, type Run } from './key-queues.ts';
import type { ReadAheadBudget } from './read-ahead-budget.ts';
import type { Prior, RunItem } from './run-context.ts';

/** What a read brought. */
export interface ReadResult {
  entries: DecodedEntry[];
  /** When a `'>'` read found nothing: the stream's last entry id, where to wait from. */
  tipId: string | null;
  /**
   * Set when entries of the partition were delivered elsewhere after this worker's previous read
   * (to a process whose lease ran out, or again after a failover): `entries` is then empty, and these are the ids the read took,
   * to give back; the pending list must be read again, in id order, before anything later runs.
   */
  overtaken?: readonly string[];
}

/** Where a worker's entries come from. */
export interface PartitionSource {
  /** Creates the consumer group if missing. */
  ensureGroup(): Promise<void>;
  /**
   * Up to `count` entries: pending ones after id `cursor`, or new ones for `'>'` (guarded against
   * another reader, see {@link ReadResult.overtaken}). When a `'>'` read finds nothing, `tipId` is
   * the stream's last entry id: where to wait from.
   */
  read(cursor: string, count: number): Promise<ReadResult>;
  /**
   * Ids whose completion was committed while they were not pending (the read that delivered them
   * was lost in a failover; see commit.lua): a redelivery of one is acknowledged, not run.
   */
  settled(): Promise<readonly string[]>;
  /** For pending entries: deliveries, failure records and done marks. */
  prior(ids: readonly string[]): Promise<Map<string, Prior>>;
  /** Resolves once the stream has an entry after `afterId` (or spuriously, or on stop). */
  wait(afterId: string): Promise<void>;
  /** Moves whenever the connection dropped: pending entries may need a re-read. */
  connectionEpoch(): number;
}

/** The worker's collaborators. */
export interface PartitionWorkerDeps {
  readonly source: PartitionSource;
  readonly commits: CommitQueue;
  /** Settles one key's run; resolves with how many of its items, from the first, are settled. */
  settle(items: readonly QueuedItem[]): Promise<number>;
  /** Dead-letters a malformed entry for every member that may want it, and acks it. */
  settleMalformed(entry: MalformedEntry): void;
  /** True when some member subscribes to the event. */
  wanted(entry: WireEvent): boolean;
  /**
   * Whether a run taken now would start at once, and how to hear when one would (see dispatcher.ts):
   * runs are taken only then, so each holds everything its key queued meanwhile. Without it, every
   * ready run is taken and started at once.
   */
  readonly room?: { has(): boolean; when(wake: () => void): () => void };
  /** The group's members, for releasing unstarted entries on stop. */
  members(): readonly Settler[];
  readonly ordering: 'key' | 'partition';
  readonly batchSize: number;
  readonly maxBuffered: number;
  readonly maxBufferedBytes: number;
  /**
   * What every worker of the process holds together (see read-ahead-budget.ts): while it is full,
   * this worker reads only while it holds less than a batch and {@link BUDGET_FLOOR_BYTES}.
   */
  readonly budget?: ReadAheadBudget;
  readonly maxChain: number;
  /** Resolves true after `ms`, false at once when the worker stops. */
  sleep(ms: number): Promise<boolean>;
  /** A read or commit was fenced: the partition's lease moved to another process, or Redis lost a commit (`error` says which). */
  onFenced(error: Error): void;
  readonly logger: Logger;
  readonly where: Record<string, unknown>;
  /** A stop still unfinished after this long is logged, with what it waits for. @defaultValue 10000 */
  readonly stopWarnMs?: number;
}

/** A queued event: a run item, plus whether it was handed to the sandbox. */
export interface QueuedItem extends RunItem {
  readonly id: string;
  readonly key: string | null;
  readonly bytes: number;
  started: boolean;
}

/**
 * While the process's read-ahead is full, a worker still reads if it holds less than a batch and
 * less than this: every (function, partition) keeps going, and the process holds at most its
 * bound plus this and one read per worker.
 */
export const BUDGET_FLOOR_BYTES = 64 * 1024;

export class PartitionWorker {
  readonly #deps: PartitionWorkerDeps;
  readonly #queues: KeyQueues<QueuedItem>;
  /** Ids read and not settled: a re-read of the pending list must not queue them twice. */
  readonly #known = new Set<string>();
  /** Runs out now, and what stop() waits on once it is down to none. */
  #runs = 0;
  #noRuns: PromiseWithResolvers<void> | null = null;
  #bufferedBytes = 0;
  /** Completed while not pending (see {@link PartitionSource.settled}); dropped once reads pass the last of them. */
  readonly #completed = new Set<string>();
  #completedUpTo = '0-0';
  /** Settled ids waiting for the commit that acks them (see #finish). */
  #forgetting: { after: Promise<void>; ids: string[] } | null = null;
  #stopping = false;
  /** What the read loop awaits now: a stop that hangs says which step never returned. */
  #step = 'not started';
  #loop: Promise<void> | null = null;
  #room: (() => void) | null = null;
  /** Takes back the request to be woken when the process's read-ahead has room, while one is out. */
  #cancelBudgetWait: (() => void) | null = null;
  /** The buffered bytes went back to the process's budget (once, when the loop and its runs are over). */
  #returnedBudget = false;
  #loopDone = false;
  /** Takes back the request to be woken when a slot frees (see {@link PartitionWorkerDeps.room}), while one is out. */
  #cancelSlotWait: (() => void) | null = null;
  readonly #ready = Promise.withResolvers<void>();
  /** Ends the read loop's current wait; stop() calls it (see #untilStopped). */
  #endWait: (() => void) | null = null;

  constructor(deps: PartitionWorkerDeps) {
    this.#deps = deps;
    this.#queues = new KeyQueues(deps.ordering);
  }

  /** Entries read and not yet settled. */
  get buffered(): number {
    return this.#queues.size;
  }

  /** True once stopping: runs finish the chain in flight, then stop. */
  get stopping(): boolean {
    return this.#stopping;
  }

  /** Resolves once the consumer group exists on the stream (or the worker stopped first). */
  get ready(): Promise<void> {
    return this.#ready.promise;
  }

  /** Starts reading (creating the consumer group first; retried while Redis is unreachable). */
  start(): void {
    this.#loop ??= this.#run().finally(() => {
      this.#loopDone = true;
      this.#returnBudget();
    });
  }

  /**
   * Stops reading, lets the runs in flight finish the chain they are in, commits, and records the
   * entries that never started as handed over unstarted. Idempotent.
   */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.#ready.resolve();
    this.#endWait?.();
    this.#cancelSlotWait?.();
    this.#cancelSlotWait = null;
    // Every step below should end within a handler timeout or a Redis reconnect; one that does not
    // holds a hand-over or a shutdown, and is otherwise silent: say which step it is.
    let waitingFor = () => `its read loop (${this.#step})`;
    const d = this.#deps;
    const warnMs = d.stopWarnMs ?? 10_000;
    const slow = setTimeout(() => d.logger.warn({ ...d.where, waitingFor: waitingFor() }, `worker not stopped after ${warnMs / 1000} s: still waiting for ${waitingFor()}`), warnMs);
    slow.unref();
    try {
      await this.#loop;
      waitingFor = () => `${this.#runs} run(s) in flight`;
      if (this.#runs > 0) await (this.#noRuns ??= Promise.withResolvers<void>()).promise;
      const { commits } = d;
      if (commits.fenced) return;
      const unstarted = this.#queues.unstarted().filter((item) => !item.started).map((item) => item.id);
      commits.released(d.members(), unstarted);
      waitingFor = () => 'its last commit';
      await commits.flush().catch(() => {});
    } finally {
      clearTimeout(slow);
    }
  }

  async #run(): Promise<void> {
    const d = this.#deps;
    const { source } = d;
    let ready = false;
    let recovering = true;
    let cursor = '0-0';
    let failures = 0;
    let seenEpoch = source.connectionEpoch();
    /** The last id of a `'>'` read that came back short: the stream had no more, so wait past it (no empty read first). */
    let waitFrom: string | null = null;
    while (!this.#stopping) {
      try {
        if (!ready) {
          this.#step = 'creating the consumer group';
          await source.ensureGroup();
          ready = true;
          this.#ready.resolve();
        }
        // A reconnect since the last read: a read whose reply was lost (ioredis resent it), or acks a
        // failover dropped, leave entries pending that nobody works on: re-read the pending list.
        const epoch = source.connectionEpoch();
        if (epoch !== seenEpoch) {
          seenEpoch = epoch;
          recovering = true;
          cursor = '0-0';
        }
        if (this.#full()) {
          // Its own bound, or the process's (then any settle in the process may make room).
          const own = this.#ownBoundReached();
          this.#step = own ? 'room in its buffer' : 'room in the process\'s read-ahead (maxBufferedBytesPerProcess)';
          await this.#untilStopped(new Promise<void>((resolve) => {
            this.#room = resolve;
            if (!own) this.#cancelBudgetWait = d.budget!.whenRoom(resolve);
          }));
          this.#room = null;
          this.#cancelBudgetWait?.();
          this.#cancelBudgetWait = null;
          continue;
        }
        if (waitFrom !== null) {
          const from = waitFrom;
          waitFrom = null;
          if (!recovering) {
            await this.#newEntriesAfter(from);
            continue;
          }
        }
        // Each recovery pass starts with what earlier commits recorded as completed though not pending.
        this.#step = 'the settled-ids lookup (HKEYS)';
        if (recovering && cursor === '0-0') this.completedElsewhere(await source.settled());
        this.#step = 'a read (Redis)';
        const { entries, tipId, overtaken } = await source.read(recovering ? cursor : '>', d.batchSize);
        if (source.connectionEpoch() !== epoch) continue;
        if (overtaken !== undefined) {
          // Somebody else read since this worker's last read: a process whose lease ran out, or a
          // failover that lost pending entries, which are delivered again.
          d.logger.warn({ ...d.where, givenBack: overtaken.length }, 'entries of this partition were delivered elsewhere since this worker\'s last read (a process whose lease ran out, or a failover): reading the pending list again, in id order');
          // Read and never started: their redelivery in the re-read is not an attempt.
          this.#step = 'giving back the entries of an overtaken read (Redis)';
          if (overtaken.length > 0) {
            d.commits.released(d.members(), overtaken);
            await d.commits.flush();
          }
          recovering = true;
          cursor = '0-0';
          continue;
        }
        if (recovering) {
          if (entries.length === 0) {
            recovering = false;
            continue;
          }
          cursor = entries[entries.length - 1]!.id;
          const fresh = entries.filter((e) => !this.#known.has(e.id));
          this.#step = 'the pending entries\' delivery counts and failure records (Redis)';
          const prior = fresh.length === 0 ? new Map<string, Prior>() : await source.prior(fresh.map((e) => e.id));
          this.#feed(fresh, prior);
          continue;
        }
        if (entries.length === 0) {
          // Everything up to the stream's last entry was delivered: wait for one past it.
          await this.#newEntriesAfter(tipId ?? '0-0');
          continue;
        }
        this.#feed(entries, null);
        if (entries.length < d.batchSize) waitFrom = entries[entries.length - 1]!.id;
        // New entries come in id order: past the last recorded id, none of them can come again.
        if (this.#completed.size > 0 && compareStreamIds(entries[entries.length - 1]!.id, this.#completedUpTo) > 0) this.#completed.clear();
        failures = 0;
      } catch (error) {
        if (isFenced(error)) return this.#fenced(error as Error);
        if (isNoGroup(error)) {
          // The stream or its group is gone (deleted by hand, or Redis restarted without its data):
          // recreate it and say so loudly; events appended before that are not known to this group.
          ready = false;
          d.logger.error(d.where, 'consumer group missing (NOGROUP): recreating it; was the stream deleted or Redis restarted without persistence?');
        }
        recovering = true;
        cursor = '0-0';
        failures++;
        d.logger.error({ ...d.where, err: error }, 'partition worker error; retrying');
        this.#step = 'a backoff after an error';
        await d.sleep(reconnectDelayMs(failures, 100, 5000));
      }
    }
  }

  /** Waits for an entry after `id` (or a spurious wake, or the stop). */
  #newEntriesAfter(id: string): Promise<void> {
    this.#step = 'new entries';
    // Not even asked for once stopping: a wait registered after the stop's wake-up would stay in
    // the wake read (and its shard) until an entry came.
    if (this.#stopping) return Promise.resolve();
    return this.#untilStopped(this.#deps.source.wait(id));
  }

  /**
   * `wait`, ended early by stop() — also when it begins after stop's wake-up (a read was in
   * flight). Not a Promise.race with a promise stop() resolves: every race leaves a reaction on
   * that promise, holding the race's result, until the worker stops; one per wait, a leak that
   * grew the main process by about 0.75 MB a second at 2,000 events/s and made each scavenge long.
   */
  #untilStopped(wait: Promise<unknown>): Promise<void> {
    if (this.#stopping) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const end = () => {
        if (this.#endWait === end) this.#endWait = null;
        resolve();
      };
      this.#endWait = end;
      wait.then(end, (error: unknown) => {
        if (this.#endWait === end) this.#endWait = null;
        reject(error);
      });
    });
  }

  #full(): boolean {
    if (this.#ownBoundReached()) return true;
    const { budget, batchSize } = this.#deps;
    return budget !== undefined && budget.full && (this.#queues.size >= batchSize || this.#bufferedBytes >= BUDGET_FLOOR_BYTES);
  }

  #ownBoundReached(): boolean {
    return this.#queues.size >= this.#deps.maxBuffered || this.#bufferedBytes >= this.#deps.maxBufferedBytes;
  }

  /** Events whose completion a commit recorded although they were not pending: their redelivery is acked, not run. */
  completedElsewhere(ids: readonly string[]): void {
    for (const id of ids) {
      this.#completed.add(id);
      if (compareStreamIds(id, this.#completedUpTo) > 0) this.#completedUpTo = id;
    }
  }

  #feed(entries: readonly DecodedEntry[], prior: Map<string, Prior> | null): void {
    const d = this.#deps;
    const before = this.#bufferedBytes;
    for (const e of entries) {
      if (this.#known.has(e.id)) continue;
      if (this.#completed.delete(e.id)) {
        d.commits.acked(e.id); // completed before a failover lost its read: not run again
        continue;
      }
      if (isMalformed(e)) {
        d.settleMalformed(e);
        continue;
      }
      if (!d.wanted(e)) {
        d.commits.acked(e.id); // no member subscribes: done
        continue;
      }
      const bytes = e.dataText.length + (e.key?.length ?? 0) + (e.headersText?.length ?? 0) + 64;
      this.#known.add(e.id);
      this.#bufferedBytes += bytes;
      this.#queues.push({ id: e.id, key: e.key, entry: e, prior: prior?.get(e.id) ?? null, bytes, started: false });
    }
    if (this.#bufferedBytes !== before) d.budget?.add(this.#bufferedBytes - before);
    this.#pump();
  }

  #pump(): void {
    if (this.#stopping) return;
    const { room, maxChain } = this.#deps;
    for (;;) {
      if (room !== undefined && !room.has()) return this.#awaitSlot(room);
      const run = this.#queues.take(maxChain);
      if (run === null) return;
      this.#start(run);
    }
  }

  #awaitSlot(room: NonNullable<PartitionWorkerDeps['room']>): void {
    if (this.#cancelSlotWait !== null) return;
    this.#cancelSlotWait = room.when(() => {
      this.#cancelSlotWait = null;
      this.#pump();
    });
  }

  #start(run: Run<QueuedItem>): void {
    this.#runs++;
    this.#deps.settle(run.entries).then(
      (settled) => this.#ended(run, settled),
      (error: unknown) => {
        if (isFenced(error)) this.#fenced(error as Error);
        else this.#deps.logger.error({ ...this.#deps.where, err: error }, 'a run failed; its events stay pending');
        this.#ended(run, 0);
      },
    );
  }

  #ended(run: Run<QueuedItem>, settled: number): void {
    try {
      this.#finish(run, settled);
    } finally {
      if (--this.#runs === 0) {
        this.#returnBudget();
        if (this.#noRuns !== null) {
          this.#noRuns.resolve();
          this.#noRuns = null;
        }
      }
    }
  }

  /** Once the read loop ended (a stop) and no run is out, nothing more settles: what is still queued stops counting against the process. */
  #returnBudget(): void {
    if (!this.#loopDone || this.#runs > 0) return;
    this.#giveBackBudget();
  }

  #giveBackBudget(): void {
    if (this.#returnedBudget) return;
    this.#returnedBudget = true;
    this.#deps.budget?.release(this.#bufferedBytes);
  }

  #finish(run: Run<QueuedItem>, settled: number): void {
    // Forgotten only once the commit acking them replied: a re-read of the pending list (after a
    // reconnect) sent before that commit returns them, and its reply arrives first (one connection,
    // replies in order), while they are still known — so they are not queued and run again.
    if (settled > 0) {
      const ids = this.#forgetOnCommit(this.#deps.commits.flush());
      let bytes = 0;
      for (let i = 0; i < settled; i++) {
        const item = run.entries[i]!;
        ids.push(item.id);
        bytes += item.bytes;
      }
      this.#bufferedBytes -= bytes;
      if (!this.#returnedBudget) this.#deps.budget?.release(bytes);
    }
    this.#queues.release(run, settled);
    this.#room?.();
    // Unsettled items stay queued for the next run; a run that settled nothing (its function is
    // being replaced) is not retried in a hot loop.
    if (settled > 0) this.#pump();
    else setTimeout(() => this.#pump(), 50).unref();
  }

  /** The ids to forget once `committed` settles: one list (and one callback) per commit, not per run. */
  #forgetOnCommit(committed: Promise<void>): string[] {
    const f = this.#forgetting;
    if (f !== null && f.after === committed) return f.ids;
    const next = { after: committed, ids: [] as string[] };
    this.#forgetting = next;
    const forget = () => {
      for (const id of next.ids) this.#known.delete(id);
      if (this.#forgetting === next) this.#forgetting = null;
    };
    committed.then(forget, forget);
    return next.ids;
  }

  #fenced(error: Error): void {
    if (this.#stopping) return;
    this.#stopping = true;
    this.#room?.();
    this.#endWait?.();
    this.#cancelSlotWait?.();
    this.#cancelSlotWait = null;
    // Its entries are the next worker's now (read again from the pending list), and a fenced worker
    // is not always stopped by its owner, nor are its runs in backoff woken: give them back at once.
    this.#giveBackBudget();
    this.#deps.logger.warn(this.#deps.where, isLostCommit(error) ? 'Redis lost a commit of this worker; worker stopped (its partition is read again from its pending entries)' : 'partition lease lost; worker stopped');
    this.#deps.onFenced(error);
  }
}
