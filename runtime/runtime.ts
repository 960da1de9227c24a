/**
 * The engine: a set of loaded functions, the partitions this process works on (all of them, or a
 * leased share), and a worker per (consumer group, partition). This file is the wiring; loading
 * and swapping functions is loading/function-set.ts, the workers are worker/worker-pool.ts.
 */
import { resolveLimits, RUNTIME_DEFAULTS } from './config.ts';
import { FnrunError } from './errors.ts';
import { RetentionTimer, type RetentionPolicy } from './events/retention.ts';
import type { FunctionBundle } from './loading/bundler.ts';
import type { FunctionHandle, InvocationRecord } from './loading/function-handle.ts';
import { EnvAccess, type EnvPolicyOptions } from './loading/env-policy.ts';
import { FunctionSet, type LoadFailure } from './loading/function-set.ts';
import { createJsonLogger, type Logger } from './logger.ts';
import { readGroupStats, type GroupStat } from './ops/group-stats.ts';
import { composeObservers, type RuntimeMetrics } from './ops/metrics.ts';
import { PartitionOwnership, type OwnershipOptions } from './ownership/partition-ownership.ts';
import { UnleasedOwnership } from './ownership/unleased-ownership.ts';
import { answersPingWithin, closeConnections, openConnections, type RuntimeConnections } from './redis/connections.ts';
import { Keys } from './redis/keys.ts';
import { SandboxHost } from './sandbox/host/host.ts';
import { createReporter } from './worker/reporter.ts';
import { WorkerPool } from './worker/worker-pool.ts';

export type { LoadFailure } from './loading/function-set.ts';

/**
 * How to run a {@link Runtime}.
 *
 * @example
 * ```ts
 * const runtime = await Runtime.create({ redis: 'redis://127.0.0.1:6379', functionsDir: './functions', leases: true });
 * await runtime.start();
 * process.once('SIGTERM', () => void runtime.stop());
 * ```
 */
export interface RuntimeOptions extends EnvPolicyOptions {
  /** Redis URL: `redis://`, `rediss://`, a unix socket path, `redis+cluster://…`, `redis+sentinel://…`. */
  redis: string;
  /** @defaultValue `'fnrun'` */
  namespace?: string;
  /** Partition count; must match the namespace's once it exists. @defaultValue the stored count, or 16 for a new namespace */
  partitions?: number;
  /** Load every function in this folder at start (see README "Function files"). */
  functionsDir?: string;
  /** Entries read per XREADGROUP. @defaultValue 100 */
  batchSize?: number;
  /** Largest event accepted. @defaultValue 1 MiB */
  maxEventBytes?: number;
  /** Entries read and not yet settled per (consumer group, partition) before reading pauses. @defaultValue 1000 */
  maxBuffered?: number;
  /** The same bound in bytes. @defaultValue 4 MiB */
  maxBufferedBytes?: number;
  /**
   * Bytes read and not yet settled by every worker of this process together: past it, a worker
   * holding a batch or 64 KiB pauses reading until some settle (backpressure, never loss).
   * @defaultValue 256 MiB, or a quarter of the heap limit if that is less
   */
  maxBufferedBytesPerProcess?: number;
  /** Most events of one key in one sandbox call. @defaultValue 100 */
  maxChain?: number;
  /**
   * Share the partitions with every other runtime on this namespace through leases (what
   * `fnrun start` does). Without it this process works on every partition, unfenced: run one.
   */
  leases?: OwnershipOptions | boolean;
  /** @defaultValue JSON lines on stderr at `info` */
  logger?: Logger;
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

/**
 * Runs functions: loads them into sandboxes, works on the namespace's partitions (all of them, or
 * with `leases` a share negotiated with every other runtime), and takes function changes while it
 * runs.
 *
 * @example
 * ```ts
 * import { Runtime } from 'fnrun';
 *
 * const runtime = await Runtime.create({ redis: process.env.REDIS_URL!, functionsDir: './functions' });
 * await runtime.start();
 * if (runtime.loadFailures.length > 0) console.error(runtime.loadFailures);
 * // … on SIGTERM:
 * await runtime.stop(); // finishes and commits the invocations in flight
 * ```
 */
export class Runtime {
  readonly keys: Keys;
  readonly partitions: number;
  readonly logger: Logger;
  readonly #opts: RuntimeOptions;
  readonly #connections: RuntimeConnections;
  readonly #sandbox: SandboxHost;
  readonly #set: FunctionSet;
  readonly #pool: WorkerPool;
  readonly #ownership: PartitionOwnership | UnleasedOwnership;
  readonly #retention: RetentionTimer | null;
  #state: 'new' | 'running' | 'stopped' = 'new';

  private constructor(opts: RuntimeOptions, connections: RuntimeConnections, keys: Keys) {
    const { redis, blocking, leases, connectWatcher, partitions } = connections;
    this.#opts = opts;
    this.#connections = connections;
    this.partitions = partitions;
    this.keys = keys;
    this.logger = opts.logger ?? createJsonLogger();
    this.#sandbox = new SandboxHost({ onCrash: (info: { reason: string }) => this.logger.error(info, 'sandbox process replaced') });
    this.#set = new FunctionSet({
      sandbox: this.#sandbox,
      idle: (id) => this.#pool.idle(id),
      envAccess: new EnvAccess(opts),
      logger: this.logger,
      apply: (plan) => this.#pool.apply(plan),
    });
    const onInvocation = composeObservers(opts.onInvocation, opts.metrics);
    this.#pool = new WorkerPool({
      redis, blocking, connectWatcher, keys, partitions, sandbox: this.#sandbox, limits: resolveLimits(opts),
      resolve: (name) => this.#set.resolve(name), logger: this.logger, report: createReporter(this.logger, onInvocation),
      onFenced: (p, token, error) => this.#ownership.lost(p, token, error), leasesFresh: () => this.#ownership.leasesFresh(), now: Date.now, random: Math.random,
    });
    opts.metrics?.attach({
      groupStats: () => this.groupStats(),
      sandboxMemory: async () => (this.#state === 'running' ? await this.#sandbox.status() : null),
    });
    this.#ownership = opts.leases
      ? new PartitionOwnership(leases ?? redis, keys, partitions, {
        acquired: async (p, token) => this.#pool.addPartition(p, token),
        released: (p) => this.#pool.removePartition(p),
      }, this.logger, opts.leases === true ? {} : opts.leases)
      : new UnleasedOwnership(partitions, (p) => this.#pool.addPartition(p, ''), (p) => this.#pool.removePartition(p), this.logger);
    this.#retention = opts.retention
      ? new RetentionTimer({ redis, policy: opts.retention, owned: () => this.ownedPartitions, streamOf: (p) => keys.partition(p).events, logger: this.logger })
      : null;
  }

  /** Connects to Redis and checks the namespace and the options; call {@link start} next. */
  static async create(opts: RuntimeOptions): Promise<Runtime> {
    resolveLimits(opts);
    const keys = new Keys(opts.namespace ?? RUNTIME_DEFAULTS.namespace);
    return openConnections(opts.redis, keys, opts.partitions, { leases: Boolean(opts.leases) }, (connections) => new Runtime(opts, connections, keys));
  }

  /** The functions running now. */
  get functions(): FunctionHandle[] {
    return this.#set.functions;
  }

  /**
   * Functions that are not running because they failed to build or load (at start, or a later
   * load of a function that was not running), or because their group's owner refused or stopped
   * them; the others run. An entry goes once its function loads.
   */
  get loadFailures(): LoadFailure[] {
    return this.#set.loadFailures;
  }

  /**
   * Loads the functions (from `functionsDir` and `bundles`), then starts reading. A function that
   * fails to build or load is reported in {@link loadFailures} and the logs; the others still run.
   * Resolves once the consumer groups of the partitions this process holds exist, so an event
   * published after that is handled even by a function with `startFrom: 'latest'` (with leases,
   * partitions taken later create theirs when taken).
   */
  async start(bundles: readonly FunctionBundle[] = []): Promise<void> {
    if (this.#state !== 'new') throw new FnrunError('ERR_CONFIG', 'a runtime can be started once');
    this.#state = 'running';
    await this.#sandbox.start();
    await this.#pool.start();
    await this.#set.loadInitial(bundles, this.#opts.functionsDir);
    await this.#ownership.start();
    // So that an event published once start() resolved is handled, even by a new 'latest' group.
    await this.#pool.groupsReady();
    this.#retention?.start();
    this.logger.info({ functions: this.functions.map((f) => `${f.name}@${f.version}`), partitions: this.ownedPartitions }, 'fnrun runtime started');
  }

  /**
   * Loads `bundle` as the new version of its function (or a new function) and swaps it in: new
   * chains use it, those in flight finish on the old one. On any error (bad manifest, load
   * failure, a group conflict) the old version keeps running and the error is thrown. A shared
   * group's owner is the member that joined it first: `rank` says when this one did (lower
   * first; the registry's deploy order), by default after every function loaded before
   * (README "Consumer groups").
   */
  upsertFunction(bundle: FunctionBundle, version?: string, rank?: number): Promise<FunctionHandle> {
    return this.#set.upsert(bundle, version, rank);
  }

  /**
   * {@link upsertFunction} for several functions at once (they load side by side, the workers are
   * re-planned once): each outcome is what upserting them one by one, in order, would give.
   */
  upsertFunctions(changes: readonly { bundle: FunctionBundle; version?: string; rank?: number }[]): Promise<PromiseSettledResult<FunctionHandle>[]> {
    return this.#set.upsertMany(changes);
  }

  /** Stops a function: its workers finish their chains in flight; its consumer groups stay in Redis. */
  removeFunction(name: string): Promise<void> {
    return this.#set.remove(name);
  }

  /**
   * Stops reading, finishes and commits the invocations in flight, hands the partitions over,
   * closes everything. Idempotent. While Redis refuses the commits (down, or a slot half-moved)
   * it keeps retrying them: bound it yourself if you must exit (the CLI exits after a limit;
   * whatever was not acknowledged is redelivered to the next owner).
   */
  async stop(): Promise<void> {
    if (this.#state === 'stopped') return;
    const wasRunning = this.#state === 'running';
    this.#state = 'stopped';
    if (wasRunning) {
      this.#retention?.stop();
      await this.#set.settled();
      // Drain and hand partitions over first, so other processes take them at once.
      await this.#ownership.stop();
      await this.#pool.stop();
      await this.#sandbox.stop();
    }
    await closeConnections(this.#connections);
  }

  /** True once started and until stopped. */
  get isRunning(): boolean {
    return this.#state === 'running';
  }

  /** Why this runtime cannot do its job now (for `/readyz`), or null when it can. */
  async notReady(): Promise<string | null> {
    if (this.#state !== 'running') return 'the runtime is not running';
    return (await answersPingWithin(this.#connections.redis, 1000)) ? null : 'Redis does not answer';
  }

  /** Lag and pending per (function, owned partition), from XINFO GROUPS: one pipeline. */
  async groupStats(): Promise<GroupStat[]> {
    return readGroupStats(this.#connections.redis, this.keys, this.ownedPartitions, () => this.#pool.groups());
  }

  /** The identity this process uses in partition leases, when it shares partitions. */
  get memberId(): string | null {
    return this.#ownership.memberId;
  }

  /** Bytes read ahead and not yet settled by every worker of this process, and their bound (`maxBufferedBytesPerProcess`). */
  get readAhead(): { bytes: number; limit: number } {
    return this.#pool.readAhead;
  }

  /** Partitions this process works on now. */
  get ownedPartitions(): number[] {
    return [...this.#pool.owned.keys()].sort((a, b) => a - b);
  }
}
