/**
 * The engine: loads functions, and runs one worker per (consumer group, partition) it owns.
 * Functions can be added, replaced and removed while it runs (the dev loop, deploys): a change
 * takes effect between batches, and an old version is unloaded once its last batch settled.
 */
import type { Redis } from 'ioredis';
import { bundleFunction, type FunctionBundle } from './loading/bundler.ts';
import { planGroups, type ConsumerGroup } from './worker/consumer-group.ts';
import { discoverFunctions } from './loading/discover.ts';
import { FnrunError, ManifestError } from './errors.ts';
import type { FunctionHandle, InvocationRecord } from './loading/function-handle.ts';
import { loadFunction } from './loading/function-loader.ts';
import type { SettleContext } from './worker/function-settler.ts';
import { InflightTracker } from './worker/inflight.ts';
import { InvokeCoalescer } from './worker/invoke-coalescer.ts';
import { Keys } from './redis/keys.ts';
import type { RuntimeMetrics } from './ops/metrics.ts';
import { trimStream, type RetentionPolicy } from './events/retention.ts';
import { parseGroupsInfo } from './redis/stream-info.ts';
import { createJsonLogger, type Logger } from './logger.ts';
import { resolvePartitions } from './redis/namespace.ts';
import { PartitionOwnership, type OwnershipOptions } from './ownership/partition-ownership.ts';
import { PartitionWorker } from './worker/partition-worker.ts';
import { OutboxRelay } from './worker/outbox-relay.ts';
import { connectionEpoch, connectRedis, isCluster, onConnectionLoss } from './redis/redis.ts';
import { SandboxHost } from './sandbox/host/host.ts';
import { withScripts, type ScriptedRedis } from './redis/scripts.ts';
import { SlotWakeWatcher } from './worker/wake/slot-wake-watcher.ts';
import { WakeWatcher, type PartitionWaker } from './worker/wake/wake-watcher.ts';
import { DEFAULT_MAX_EVENT_BYTES } from './events/wire.ts';
import { crossSlotPipeline } from './redis/pipeline.ts';

export interface RuntimeOptions {
  /** Redis URL: `redis://`, `rediss://`, or a unix socket path. */
  redis: string;
  /** @defaultValue `'fnrun'` */
  namespace?: string;
  /** Partition count; must match the namespace's once it exists. @defaultValue the stored count, or 16 for a new namespace */
  partitions?: number;
  /** Load every function in this folder at start (see README "Function files"). */
  functionsDir?: string;
  /** Entries read per XREADGROUP and invoked per sandbox call. @defaultValue 100 */
  batchSize?: number;
  /** @defaultValue 1 MiB */
  maxEventBytes?: number;
  /**
   * Share the partitions with every other runtime on this namespace through leases (what
   * `fnrun start` does). Without it this process works on every partition, unfenced: run one.
   */
  leases?: OwnershipOptions | boolean;
  /** @defaultValue JSON lines on stderr at `info` */
  logger?: Logger;
  /** Where `ctx.env` values come from (only names a manifest declares are passed). @defaultValue `process.env` */
  env?: Readonly<Record<string, string | undefined>>;
  /** Called after every invocation outcome (also retries and dead letters), on the hot path: keep it cheap. */
  onInvocation?: (record: InvocationRecord) => void;
  /** Prometheus metrics to record into (see `startHttpServer` for serving them). */
  metrics?: RuntimeMetrics;
  /**
   * Trim the owned partition streams by age and/or length every `intervalMs` (default 60 s),
   * never past an entry some consumer group has not completed. @defaultValue no trimming
   */
  retention?: RetentionPolicy & { intervalMs?: number };
}

/** A function that could not be loaded; the others run regardless. */
export interface LoadFailure {
  name: string;
  file: string;
  error: Error;
}

type WorkerContext = Omit<SettleContext, 'sleep' | 'stopping' | 'group' | 'pk' | 'partition' | 'fence'>;

export class Runtime {
  readonly keys: Keys;
  readonly partitions: number;
  readonly logger: Logger;
  /** Functions that failed to build or load at start; the others run. */
  loadFailures: LoadFailure[] = [];
  private readonly opts: RuntimeOptions;
  private readonly redis: ScriptedRedis;
  /** The wake watcher's blocking connection; null on a Cluster, where it opens one per partition. */
  private readonly blocking: Redis | null;
  private readonly sandbox: SandboxHost;
  private readonly watcher: PartitionWaker;
  private readonly relay: OutboxRelay;
  private readonly inflight = new InflightTracker();
  private readonly handles = new Map<string, FunctionHandle>();
  private readonly running = new Map<string, { group: ConsumerGroup; workers: Map<number, PartitionWorker> }>();
  private readonly ctx: WorkerContext;
  /** Partitions worked on now, with their lease tokens ('' when unfenced). */
  private readonly owned = new Map<number, string>();
  private readonly ownership: PartitionOwnership | null;
  /** Function changes apply one at a time, in call order. */
  private changes: Promise<unknown> = Promise.resolve();
  private state: 'new' | 'running' | 'stopped' = 'new';
  private retentionTimer: NodeJS.Timeout | null = null;

  private constructor(opts: RuntimeOptions, redis: Redis, blocking: Redis | null, partitions: number, keys: Keys) {
    this.opts = opts;
    this.redis = withScripts(redis);
    this.blocking = blocking;
    this.partitions = partitions;
    this.keys = keys;
    this.logger = opts.logger ?? createJsonLogger();
    this.sandbox = new SandboxHost({ onCrash: (info: { reason: string }) => this.logger.error(info, 'sandbox process replaced') });
    const streamOf = (p: number) => keys.partition(p).events;
    this.watcher = blocking !== null
      ? new WakeWatcher(blocking, this.redis, streamOf)
      : new SlotWakeWatcher(() => connectRedis(opts.redis, 'fnrun-watch'), streamOf);
    // Idle workers must notice a lost connection too: their pending entries may need a re-read.
    onConnectionLoss(this.redis, () => this.watcher.wakeAll());
    this.relay = new OutboxRelay(this.redis, keys, this.logger, (p) => this.owned.has(p));
    opts.metrics?.attach({
      groupStats: () => this.groupStats(),
      sandboxMemory: async () => (this.state === 'running' ? await this.sandbox.status() : null),
    });
    this.ownership = opts.leases
      ? new PartitionOwnership(this.redis, keys, partitions, {
        acquired: (p, token) => this.addPartition(p, token),
        released: (p) => this.removePartition(p),
      }, this.logger, opts.leases === true ? {} : opts.leases)
      : null;
    this.ctx = {
      redis: this.redis,
      keys,
      partitions,
      invoker: new InvokeCoalescer(this.sandbox),
      inflight: this.inflight,
      resolve: (name) => this.handles.get(name),
      batchSize: opts.batchSize ?? 100,
      maxEventBytes: opts.maxEventBytes ?? DEFAULT_MAX_EVENT_BYTES,
      connectionEpoch: connectionEpoch(redis),
      outboxEmits: isCluster(redis),
      relayOutbox: (p) => this.relay.kick(p),
      logger: this.logger,
      onInvocation: composeObservers(opts.onInvocation, opts.metrics),
      now: Date.now,
      random: Math.random,
    };
  }

  /** Connects to Redis and checks the namespace; call {@link start} next. */
  static async create(opts: RuntimeOptions): Promise<Runtime> {
    const keys = new Keys(opts.namespace ?? 'fnrun');
    const redis = await connectRedis(opts.redis, 'fnrun');
    let blocking: Redis | null = null;
    try {
      const partitions = await resolvePartitions(redis, keys, opts.partitions);
      if (!isCluster(redis)) blocking = await connectRedis(opts.redis, 'fnrun-watch');
      return new Runtime(opts, redis, blocking, partitions, keys);
    } catch (error) {
      redis.disconnect();
      blocking?.disconnect();
      throw error;
    }
  }

  /** The functions running now. */
  get functions(): FunctionHandle[] {
    return [...this.handles.values()];
  }

  /**
   * Loads the functions (from `functionsDir` and `bundles`), then starts reading. A function that
   * fails to build or load is reported in {@link loadFailures} and the logs; the others still run.
   */
  async start(bundles: readonly FunctionBundle[] = []): Promise<void> {
    if (this.state !== 'new') throw new FnrunError('ERR_CONFIG', 'a runtime can be started once');
    this.state = 'running';
    await this.sandbox.start();
    await this.watcher.start();
    const all = [...bundles];
    if (this.opts.functionsDir) {
      for (const { name, entry } of await discoverFunctions(this.opts.functionsDir)) {
        try {
          all.push(await bundleFunction({ name, entry }));
        } catch (error) {
          this.fail(name, entry, error);
        }
      }
    }
    const loaded: FunctionHandle[] = [];
    for (const bundle of all) {
      try {
        loaded.push(await loadFunction(this.sandbox, bundle, bundle.hash.slice(0, 12), this.opts.env ?? process.env));
      } catch (error) {
        this.fail(bundle.name, bundle.entry, error);
      }
    }
    // A group whose members disagree keeps its first members; the one that disagrees is reported.
    for (;;) {
      try {
        planGroups(loaded);
        break;
      } catch (error) {
        const culprit = error instanceof ManifestError ? loaded.findIndex((h) => h.file === error.file || h.name === error.file) : -1;
        if (culprit < 0) throw error;
        const [bad] = loaded.splice(culprit, 1);
        this.fail(bad!.name, bad!.file, error);
        await this.sandbox.unload(bad!.sandboxId);
      }
    }
    for (const h of loaded) this.handles.set(h.name, h);
    await this.applyPlan();
    if (this.ownership) await this.ownership.start();
    else for (let p = 0; p < this.partitions; p++) await this.addPartition(p, '');
    if (this.opts.retention) this.scheduleRetention(this.opts.retention);
    this.logger.info({ functions: this.functions.map((f) => `${f.name}@${f.version}`), partitions: [...this.owned.keys()] }, 'fnrun runtime started');
  }

  /**
   * Loads `bundle` as the new version of its function (or a new function) and swaps it in between
   * batches. On any error (bad manifest, load failure, group conflict) the old version keeps running
   * and the error is thrown.
   */
  upsertFunction(bundle: FunctionBundle, version = bundle.hash.slice(0, 12)): Promise<FunctionHandle> {
    return this.serial(async () => {
      const old = this.handles.get(bundle.name);
      if (old?.version === version) return old;
      const handle = await loadFunction(this.sandbox, bundle, version, this.opts.env ?? process.env);
      try {
        planGroups([...[...this.handles.values()].filter((h) => h.name !== bundle.name), handle]);
      } catch (error) {
        await this.sandbox.unload(handle.sandboxId);
        throw error;
      }
      this.handles.set(handle.name, handle);
      await this.applyPlan();
      if (old) this.unloadWhenIdle(old);
      return handle;
    });
  }

  /** Stops a function: its workers finish their batch; its consumer groups stay in Redis. */
  removeFunction(name: string): Promise<void> {
    return this.serial(async () => {
      const old = this.handles.get(name);
      if (!old) return;
      this.handles.delete(name);
      await this.applyPlan();
      this.unloadWhenIdle(old);
    });
  }

  /** Stops reading, finishes and commits the invocations in flight, closes everything. Idempotent. */
  async stop(): Promise<void> {
    if (this.state === 'stopped') return;
    const wasRunning = this.state === 'running';
    this.state = 'stopped';
    if (wasRunning) {
      if (this.retentionTimer) clearTimeout(this.retentionTimer);
      await this.changes.catch(() => {});
      // Drain and hand partitions over first, so other processes take them at once.
      await this.ownership?.stop();
      const workers = [...this.running.values()].flatMap((r) => [...r.workers.values()]);
      const stopping = workers.map((w) => w.stop());
      this.watcher.wakeAll();
      await Promise.all(stopping);
      await this.relay.stop();
      await this.watcher.stop();
      await this.sandbox.stop();
    }
    await Promise.allSettled([this.redis.quit(), this.blocking?.quit()]);
    this.redis.disconnect();
    this.blocking?.disconnect();
  }

  /** True once started and until stopped. */
  get isRunning(): boolean {
    return this.state === 'running';
  }

  /** Why this runtime cannot do its job now (for `/readyz`), or null when it can. */
  async notReady(): Promise<string | null> {
    if (this.state !== 'running') return 'the runtime is not running';
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => { timer = setTimeout(() => resolve('timeout'), 1000); });
    try {
      const pong = await Promise.race([this.redis.ping().catch(() => 'error'), timeout]);
      if (pong !== 'PONG') return 'Redis does not answer';
    } finally {
      clearTimeout(timer);
    }
    return null;
  }

  /** Lag and pending per (function, owned partition), from XINFO GROUPS: one pipeline. */
  async groupStats(): Promise<{ fn: string; partition: number; lag: number | null; pending: number }[]> {
    const partitions = [...this.owned.keys()];
    const pipeline = crossSlotPipeline(this.redis);
    for (const p of partitions) pipeline.xinfo('GROUPS', this.keys.partition(p).events);
    const replies = (await pipeline.exec()) ?? [];
    const out: { fn: string; partition: number; lag: number | null; pending: number }[] = [];
    partitions.forEach((p, i) => {
      const [error, groups] = replies[i] ?? [null, []];
      if (error) return;
      for (const g of parseGroupsInfo(groups as unknown[])) {
        const run = this.running.get(g.name);
        if (!run) continue;
        for (const member of run.group.members) out.push({ fn: member.name, partition: p, lag: g.lag, pending: g.pending });
      }
    });
    return out;
  }

  /** The identity this process uses in partition leases, when it shares partitions. */
  get memberId(): string | null {
    return this.ownership?.memberId ?? null;
  }

  /** Partitions this process works on now. */
  get ownedPartitions(): number[] {
    return [...this.owned.keys()].sort((a, b) => a - b);
  }

  /** Reconciles running workers with the current functions' groups. */
  private async applyPlan(): Promise<void> {
    const plan = planGroups([...this.handles.values()]);
    const starting: Promise<void>[] = [];
    for (const planned of plan) {
      const current = this.running.get(planned.name);
      if (current) {
        current.group.members = planned.members;
        current.group.mode = planned.mode;
        continue;
      }
      const run = { group: planned, workers: new Map<number, PartitionWorker>() };
      this.running.set(planned.name, run);
      for (const [p, token] of this.owned) starting.push(this.startWorker(run, p, token));
    }
    const stopping: Promise<void>[] = [];
    for (const [name, run] of this.running) {
      if (plan.some((g) => g.name === name)) continue;
      this.running.delete(name);
      stopping.push(...[...run.workers.values()].map((w) => w.stop()));
    }
    if (stopping.length > 0) this.watcher.wakeAll();
    await Promise.all([...starting, ...stopping]);
  }

  private startWorker(run: { group: ConsumerGroup; workers: Map<number, PartitionWorker> }, p: number, token: string): Promise<void> {
    const worker = new PartitionWorker(run.group, p, this.ctx, this.watcher, token, (lost) => this.fenced(lost));
    run.workers.set(p, worker);
    return worker.start();
  }

  private async addPartition(p: number, token: string): Promise<void> {
    this.owned.set(p, token);
    // Whatever an earlier owner committed to the outbox but did not relay.
    this.relay.kick(p);
    await Promise.all([...this.running.values()].map((run) => this.startWorker(run, p, token)));
  }

  /** Stops every worker of `p`: each finishes and commits its batch first. */
  private async removePartition(p: number): Promise<void> {
    this.owned.delete(p);
    const stopping: Promise<void>[] = [];
    for (const run of this.running.values()) {
      const worker = run.workers.get(p);
      if (!worker) continue;
      run.workers.delete(p);
      stopping.push(worker.stop());
    }
    this.watcher.wakeAll();
    await Promise.all(stopping);
  }

  private fenced(p: number): void {
    if (this.ownership) this.ownership.lost(p);
    else this.logger.error({ partition: p }, 'a commit was fenced without leases: is another runtime working on this namespace?');
  }

  /** Trims every owned partition, then schedules the next round. */
  private scheduleRetention(policy: RetentionPolicy & { intervalMs?: number }): void {
    this.retentionTimer = setTimeout(async () => {
      for (const p of [...this.owned.keys()]) {
        if (this.state !== 'running') return;
        try {
          const { trimmed, heldBackBy } = await trimStream(this.redis, this.keys.partition(p).events, policy, Date.now());
          if (trimmed > 0 || heldBackBy) this.logger.debug({ partition: p, trimmed, heldBackBy }, 'retention');
        } catch (error) {
          this.logger.warn({ err: error, partition: p }, 'retention failed; will retry');
        }
      }
      if (this.state === 'running') this.scheduleRetention(policy);
    }, policy.intervalMs ?? 60_000);
  }

  private unloadWhenIdle(handle: FunctionHandle): void {
    void this.inflight.idle(handle.sandboxId).then(() => this.sandbox.unload(handle.sandboxId)).catch((error: unknown) => {
      this.logger.warn({ err: error, function: handle.name }, 'could not unload an old function version');
    });
  }

  private serial<T>(change: () => Promise<T>): Promise<T> {
    const run = this.changes.then(change);
    this.changes = run.catch(() => undefined);
    return run;
  }

  private fail(name: string, file: string, error: unknown): void {
    const err = error instanceof Error ? error : new Error(String(error));
    this.loadFailures.push({ name, file, error: err });
    this.logger.error({ function: name, file, err }, `function ${name} not loaded: ${err.message}`);
  }
}

function composeObservers(onInvocation: ((r: InvocationRecord) => void) | undefined, metrics: RuntimeMetrics | undefined): ((r: InvocationRecord) => void) | undefined {
  if (!metrics) return onInvocation;
  if (!onInvocation) return (r) => metrics.record(r);
  return (r) => {
    metrics.record(r);
    onInvocation(r);
  };
}
