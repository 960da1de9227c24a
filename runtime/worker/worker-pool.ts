/**
 * The workers of this process: one per (consumer group, owned partition), started and stopped as
 * partitions are acquired and released and as functions come and go, each wired to its
 * collaborators (Redis source, commit queue, state cache, dispatcher, reporter), and what they
 * share: the wake watcher, the outbox relay and the dispatcher (which also counts the chains in
 * flight per function version, so a replaced version is unloaded only once idle).
 */
import { randomBytes } from 'node:crypto';
import { eventJson, type WireEvent } from '../events/wire.ts';
import type { FunctionHandle } from '../loading/function-handle.ts';
import type { Logger } from '../logger.ts';
import type { Keys } from '../redis/keys.ts';
import { connectionEpoch, isCluster, onConnectionLoss, type Redis } from '../redis/redis.ts';
import type { ScriptedRedis } from '../redis/scripts.ts';
import { writeCommit } from './commit.ts';
import { CommitQueue } from './commit-queue.ts';
import type { ConsumerGroup } from '../loading/group-plan.ts';
import { Dispatcher, type ChainRunner } from './dispatcher.ts';
import { encodeEmits } from './emits.ts';
import { OutboxRelay } from './outbox-relay.ts';
import { PartitionWorker } from './partition-worker.ts';
import { ReadAheadBudget } from './read-ahead-budget.ts';
import { redisSource } from './redis-source.ts';
import type { Report } from './reporter.ts';
import type { RunContext } from './run-context.ts';
import { settleMalformed, settleRun } from './run-settler.ts';
import { Sleeper } from './sleeper.ts';
import { StateCache } from './state-cache.ts';
import { SlotWakeWatcher } from './wake/slot-wake-watcher.ts';
import { ShardedWakeWatcher } from './wake/sharded-wake-watcher.ts';
import type { PartitionWaker } from './wake/wake-watcher.ts';

/** How the pool's workers read, run and commit (defaults in config.ts). */
export interface WorkerLimits {
  /** Entries per read. */
  batchSize: number;
  /** Entries read and not settled per (group, partition) before reading pauses. */
  maxBuffered: number;
  maxBufferedBytes: number;
  /** What every worker of the process may hold together (see read-ahead-budget.ts). */
  maxBufferedBytesPerProcess: number;
  /** Most events of one key in one chain. */
  maxChain: number;
  maxEventBytes: number;
}

export interface WorkerPoolOptions {
  redis: ScriptedRedis;
  /** The wake watcher's blocking connection; null on a Cluster, where it opens one per partition with `connectWatcher`. */
  blocking: Redis | null;
  connectWatcher(): Promise<Redis>;
  keys: Keys;
  partitions: number;
  /** Where the chains run (the sandbox host). */
  sandbox: ChainRunner;
  /** The newest loaded version of a function. */
  resolve(name: string): FunctionHandle | undefined;
  limits: WorkerLimits;
  logger: Logger;
  report: Report;
  /**
   * A worker was fenced: its lease was taken over, or (with `error` saying so) Redis lost one of its
   * commits. `token` is the lease token the worker ran with: a worker of an earlier holding of the
   * partition, still finishing, reports a fence that says nothing about the current one.
   */
  onFenced(partition: number, token: string, error?: Error): void;
  /** False when the leases held may have run out (see PartitionOwnership.leasesFresh); always true without leases. */
  leasesFresh(): boolean;
  now(): number;
  random(): number;
}

interface Running {
  group: ConsumerGroup;
  workers: Map<number, { worker: PartitionWorker; sleeper: Sleeper }>;
}

export class WorkerPool {
  readonly #o: WorkerPoolOptions;
  readonly #watcher: PartitionWaker;
  readonly #relay: OutboxRelay;
  readonly #dispatcher: Dispatcher;
  readonly #budget: ReadAheadBudget;
  /** On a Redis Cluster, emits to other partitions go through the outbox. */
  readonly #outboxEmits: boolean;
  readonly #connectionEpoch: () => number;
  readonly #running = new Map<string, Running>();
  /** Partitions worked on now, with their lease tokens ('' when unfenced). */
  readonly #owned = new Map<number, string>();
  /** Functions seen using state: their runs get the key's state with the chain. */
  readonly #usesState = new Set<string>();
  readonly #commitPrefix = randomBytes(6).toString('hex');
  #commitSeq = 0;

  constructor(o: WorkerPoolOptions) {
    this.#o = o;
    const streamOf = (p: number) => o.keys.partition(p).events;
    let openFailedAt = -Infinity;
    const openFailed = (error: unknown) => {
      // Once a minute at most: it is retried with a backoff for as long as it fails.
      if (o.now() - openFailedAt < 60_000) return;
      openFailedAt = o.now();
      o.logger.warn({ err: error }, 'could not open a connection for a wake read (retried with a backoff): meanwhile the idle workers of its partitions poll every few seconds');
    };
    this.#watcher = o.blocking !== null
      ? new ShardedWakeWatcher(o.blocking, o.redis, o.connectWatcher, streamOf, o.partitions, openFailed)
      : new SlotWakeWatcher(o.connectWatcher, streamOf);
    // Idle workers must notice a lost connection too: their pending entries may need a re-read.
    onConnectionLoss(o.redis, () => this.#watcher.wakeAll());
    this.#relay = new OutboxRelay(o.redis, o.keys, o.logger, (p) => this.#owned.has(p));
    this.#dispatcher = new Dispatcher(o.sandbox);
    let warnedAt = -Infinity;
    this.#budget = new ReadAheadBudget(o.limits.maxBufferedBytesPerProcess, (bytes, limit) => {
      // Once a minute at most: in an outage the budget may fill and drain many times a second.
      if (o.now() - warnedAt < 60_000) return;
      warnedAt = o.now();
      o.logger.warn({ bufferedBytes: bytes, maxBufferedBytesPerProcess: limit }, 'this process holds maxBufferedBytesPerProcess of entries read and not yet settled (held keys waiting for their retries?): workers holding a batch or 64 KiB stop reading until some settle; entries stay in the stream');
    });
    this.#outboxEmits = isCluster(o.redis);
    this.#connectionEpoch = connectionEpoch(o.redis);
  }

  /** Starts the wake watcher; workers start as groups are applied and partitions added. */
  start(): Promise<void> {
    return this.#watcher.start();
  }

  /** Resolves once no chain runs on a sandbox id (its version can be unloaded). */
  idle(sandboxId: string): Promise<void> {
    return this.#dispatcher.idle(sandboxId);
  }

  get owned(): ReadonlyMap<number, string> {
    return this.#owned;
  }

  /** Bytes read ahead and not yet settled by every worker, and the bound (maxBufferedBytesPerProcess). */
  get readAhead(): { bytes: number; limit: number } {
    return { bytes: this.#budget.bytes, limit: this.#budget.limit };
  }

  /** The groups running now. */
  groups(): ConsumerGroup[] {
    return [...this.#running.values()].map((r) => r.group);
  }

  /** Reconciles running workers with `plan`: new groups start on every owned partition, gone ones stop. */
  async apply(plan: readonly ConsumerGroup[]): Promise<void> {
    const stopping: Promise<void>[] = [];
    for (const planned of plan) {
      const current = this.#running.get(planned.name);
      if (current) {
        current.group.members = planned.members;
        current.group.mode = planned.mode;
        continue;
      }
      const run: Running = { group: planned, workers: new Map() };
      this.#running.set(planned.name, run);
      for (const [p, token] of this.#owned) this.#startWorker(run, p, token);
    }
    for (const [name, run] of this.#running) {
      if (plan.some((g) => g.name === name)) continue;
      this.#running.delete(name);
      for (const w of run.workers.values()) stopping.push(this.#stopWorker(w));
    }
    // Stopping workers may be waiting on the watcher; new ones start reading by themselves.
    if (stopping.length > 0) this.#watcher.wakeAll();
    await Promise.all(stopping);
  }

  addPartition(p: number, token: string): void {
    this.#owned.set(p, token);
    // Whatever an earlier owner committed to the outbox but did not relay.
    this.#relay.kick(p);
    for (const run of this.#running.values()) this.#startWorker(run, p, token);
  }

  /** Stops every worker of `p`: each finishes the chains in flight and commits first. */
  async removePartition(p: number): Promise<void> {
    this.#owned.delete(p);
    const stopping: Promise<void>[] = [];
    for (const run of this.#running.values()) {
      const w = run.workers.get(p);
      if (!w) continue;
      run.workers.delete(p);
      stopping.push(this.#stopWorker(w));
    }
    this.#watcher.wakeAll();
    await Promise.all(stopping);
    // Its place in a wake read may go to another partition (unless it was taken again meanwhile).
    if (!this.#owned.has(p)) this.#watcher.forget?.(p);
  }

  /** Resolves once every running worker's consumer group exists: events appended after that are theirs, even with `startFrom: 'latest'`. */
  async groupsReady(): Promise<void> {
    await Promise.all([...this.#running.values()].flatMap((r) => [...r.workers.values()].map((w) => w.worker.ready)));
  }

  /** Stops every worker (finishing and committing what is in flight), then the relay and the watcher. */
  async stop(): Promise<void> {
    const all = [...this.#running.values()].flatMap((r) => [...r.workers.values()]);
    const stopping = all.map((w) => this.#stopWorker(w));
    this.#watcher.wakeAll();
    await Promise.all(stopping);
    await this.#relay.stop();
    await this.#watcher.stop();
  }

  #stopWorker(w: { worker: PartitionWorker; sleeper: Sleeper }): Promise<void> {
    const done = w.worker.stop();
    w.sleeper.wakeAll();
    return done;
  }

  #startWorker(run: Running, p: number, token: string): void {
    const o = this.#o;
    const group = run.group;
    const pk = o.keys.partition(p);
    const where = { group: group.name, partition: p };
    const sleeper = new Sleeper();
    const latest = (m: FunctionHandle) => o.resolve(m.name) ?? m;
    const members = () => group.members.map(latest);
    const wanted = (e: WireEvent) => group.members.some((m) => {
      const fn = latest(m);
      return fn.matches(e.type) && (e.target === null || e.target === fn.name);
    });
    let worker: PartitionWorker | null = null;
    const commits = new CommitQueue({
      write: (batch, id, previous) => writeCommit({ redis: o.redis, pk, group: group.name, members: group.members.map((m) => m.name), marks: group.members.length > 1 }, batch, id, token, previous),
      fenced: (error) => o.onFenced(p, token, error),
      notPending: (ids) => worker?.completedElsewhere(ids),
      nextCommitId: () => `${this.#commitPrefix}:${++this.#commitSeq}`,
      sleep: (ms) => sleeper.sleep(ms),
      logger: o.logger,
      where,
    });
    const state = new StateCache(async (hashes) => {
      const pipeline = o.redis.pipeline();
      for (const h of hashes) pipeline.hgetall(h);
      const replies = (await pipeline.exec()) ?? [];
      return replies.map(([error, value]) => {
        if (error) throw error;
        return value as Record<string, string>;
      });
    });
    const routing = { keys: o.keys, pk, partition: p, partitions: o.partitions, maxEventBytes: o.limits.maxEventBytes, outbox: this.#outboxEmits };
    const ctx: RunContext = {
      partition: p,
      group,
      resolve: o.resolve,
      dispatch: (fn, job) => this.#dispatcher.run(fn, job),
      commits,
      state,
      stateHash: (fn, key) => pk.state(fn, key),
      usesState: this.#usesState,
      encodeEmits: (emits, hops, now) => encodeEmits(routing, emits, hops, now),
      // Stable across attempts and redeliveries; a replay keeps the original event's.
      idempotencyKey: (fn, e) => `${o.keys.namespace}:${fn}:${p}:${replayedId(e) ?? e.id}`,
      eventJson: (e) => eventJson(e, p),
      relayOutbox: (committed) => void committed.then(() => this.#relay.kick(p), () => {}),
      report: o.report,
      sleep: (ms) => sleeper.sleep(ms),
      stopping: () => worker?.stopping ?? true,
      now: o.now,
      random: o.random,
      maxChain: o.limits.maxChain,
    };
    worker = new PartitionWorker({
      source: redisSource({
        redis: o.redis, pk, partition: p, group: group.name, token, leaseFresh: () => o.leasesFresh(), maxEventBytes: o.limits.maxEventBytes, watcher: this.#watcher,
        members: () => group.members.map((m) => m.name), startFrom: () => group.startFrom, connectionEpoch: this.#connectionEpoch,
      }),
      commits,
      settle: (items) => settleRun(ctx, items),
      settleMalformed: (entry) => settleMalformed(ctx, entry),
      wanted,
      // Gated on the group's first member, whose chain of a run goes first (all members' in a
      // parallel group): the dispatcher still bounds every member's own chains.
      room: {
        has: () => this.#dispatcher.hasRoom(latest(group.members[0]!)),
        when: (wake) => this.#dispatcher.whenRoom(latest(group.members[0]!), wake),
      },
      members,
      ordering: group.members.some((m) => latest(m).manifest.ordering === 'partition') ? 'partition' : 'key',
      batchSize: o.limits.batchSize,
      maxBuffered: o.limits.maxBuffered,
      maxBufferedBytes: o.limits.maxBufferedBytes,
      budget: this.#budget,
      maxChain: o.limits.maxChain,
      sleep: (ms) => sleeper.sleep(ms),
      onFenced: (error) => o.onFenced(p, token, error),
      logger: o.logger,
      where,
    });
    run.workers.set(p, { worker, sleeper });
    worker.start();
  }
}

/** The original event id of a DLQ replay (its `fnrun-replay-of` header), if it is one. */
function replayedId(e: WireEvent): string | null {
  if (e.target === null || e.headersText === null) return null;
  const m = /"fnrun-replay-of":"([^"]+)"/.exec(e.headersText);
  return m?.[1] ?? null;
}
