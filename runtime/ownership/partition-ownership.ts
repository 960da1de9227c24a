/**
 * Shares a namespace's partitions among every process on the same Redis.
 *
 * Each process heartbeats into a members set (Redis' clock); every process computes the same
 * balanced assignment from the live members (assignment.ts); each partition has a lease
 * `<member>|<epoch>` with a TTL, renewed every heartbeat. A process acquires the partitions assigned
 * to it once their previous owner released them (or its lease expired), and releases the ones no
 * longer assigned after draining them. Every commit of a worker checks the lease token in the same
 * Lua call (fencing), so a process that lost its lease — paused, cut off — changes nothing; what its
 * reads could still take, the holder finds (worker/redis-source.ts).
 */
import { hostname } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import { resolveLeases } from '../config.ts';
import { assignPartitions } from '../policy/assignment.ts';
import { leaseToken, type Keys } from '../redis/keys.ts';
import type { Logger } from '../logger.ts';
import type { ScriptedRedis } from '../redis/scripts.ts';
import { crossSlotPipeline } from '../redis/pipeline.ts';
import { isCluster } from '../redis/redis.ts';
import { logOutages } from '../redis/outage-log.ts';
import { isLostCommit } from '../redis/reply-errors.ts';


export interface OwnershipOptions {
  /** @defaultValue `<hostname>:<pid>:<random>` */
  memberId?: string;
  /** Lease time-to-live: how long a dead process's partitions wait before others take them (at least 500). @defaultValue 10000 */
  leaseTtlMs?: number;
  /** Heartbeat and renewal period; must be at most a third of the lease TTL. @defaultValue leaseTtlMs / 5 */
  heartbeatMs?: number;
}

export interface OwnershipHandlers {
  /** Start working on `partition`; `token` must accompany every read and commit. */
  acquired(partition: number, token: string): Promise<void>;
  /** Stop working on `partition`: finish and commit the batch in flight, then resolve. */
  released(partition: number): Promise<void>;
}

export class PartitionOwnership {
  readonly memberId: string;
  readonly leaseTtlMs: number;
  private readonly heartbeatMs: number;
  private readonly redis: ScriptedRedis;
  private readonly keys: Keys;
  private readonly partitions: number;
  private readonly handlers: OwnershipHandlers;
  private readonly logger: Logger;
  private readonly held = new Map<number, string>();
  /** Partitions being drained before their lease is released. */
  private readonly releasing = new Map<number, Promise<void>>();
  private lastRenewedAt = 0;
  /** The same moment on the monotonic clock (performance.now()), for {@link leasesFresh}. */
  private renewedAtMono = -Infinity;
  private timer: NodeJS.Timeout | null = null;
  private guard: NodeJS.Timeout | null = null;
  private tick: Promise<void> = Promise.resolve();
  private running = false;
  /** Live members at the last round, to say why partitions moved. */
  private members: readonly string[] = [];
  /** Partitions this process lost (fenced, not renewed) and has not held since. */
  private readonly lostHere = new Set<number>();
  private stopOutageLog: (() => void) | null = null;
  /**
   * This process's event-loop delay since the last renewal: when renewals come back late, it tells
   * a busy process (a long synchronous stretch, a GC pause, a starved CPU) from a slow Redis.
   */
  private readonly loopDelay = monitorEventLoopDelay({ resolution: 20 });

  constructor(redis: ScriptedRedis, keys: Keys, partitions: number, handlers: OwnershipHandlers, logger: Logger, opts: OwnershipOptions = {}) {
    this.redis = redis;
    this.keys = keys;
    this.partitions = partitions;
    this.handlers = handlers;
    this.logger = logger;
    const lease = resolveLeases(opts);
    this.memberId = lease.memberId ?? `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
    this.leaseTtlMs = lease.leaseTtlMs;
    this.heartbeatMs = lease.heartbeatMs;
  }

  /** Partitions held now, with their tokens. */
  get owned(): ReadonlyMap<number, string> {
    return this.held;
  }

  /** Joins and takes a first share; resolves after the first round. */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    this.stopOutageLog = logOutages(this.redis, this.logger, 'partition leases cannot be renewed meanwhile; after most of a lease TTL this process lets its partitions go');
    this.loopDelay.enable();
    await this.round();
    this.schedule();
    // Self-fencing runs on its own timer: a round can hang on an unreachable Redis. If renewals have
    // not been confirmed for most of a TTL, others may own these partitions already: let go of them.
    this.guard = setInterval(() => {
      const silentMs = Date.now() - this.lastRenewedAt;
      if (this.held.size === 0 || silentMs <= this.leaseTtlMs * 0.8) return;
      const delayMs = Math.round(this.loopDelay.max / 1e6);
      const cause = delayMs >= this.leaseTtlMs * 0.25
        ? `this process's event loop was blocked for up to ${delayMs} ms meanwhile (a long synchronous stretch, a GC pause, or no CPU to spare)`
        : `Redis unreachable or too slow; this process's event loop was delayed by at most ${delayMs} ms`;
      this.drop([...this.held.keys()], `leases not renewed for ${(silentMs / 1000).toFixed(1)} s (${cause}); other processes may own them now`);
    }, this.heartbeatMs);
  }

  /**
   * True while every lease held is surely still this process's: the last renewal round, which
   * renewed or acquired each of them, began less than 80% of a TTL ago (monotonic clock; Redis
   * started each lease's TTL after that). A paused process finds it false as soon as it runs again:
   * its workers then read through the fenced script only (see worker/redis-source.ts).
   */
  leasesFresh(): boolean {
    return performance.now() - this.renewedAtMono <= this.leaseTtlMs * 0.8;
  }

  /**
   * Called by a worker whose read or commit was fenced: the partition is gone (taken up again at
   * the next round when it is still assigned here, with a new token, from its pending entries).
   * A worker of an earlier holding (its `token` is not the one held now) is ignored: it is still
   * finishing after that holding was dropped, and its fence says nothing about the current one —
   * dropping the current one for it would re-run the new workers' events, round after round.
   */
  lost(partition: number, token: string, error?: Error): void {
    if (this.held.get(partition) !== token) return;
    this.drop([partition], isLostCommit(error)
      ? 'Redis lost a commit of this process (a failover, or a restart without fsync): the partition is read again from its pending entries'
      : 'a read or commit was fenced: another process holds the lease now');
  }

  /** Stops working on `partitions` at once (their leases are gone or going), saying why. */
  private drop(partitions: readonly number[], reason: string): void {
    const gone = partitions.filter((p) => this.held.delete(p));
    if (gone.length === 0) return;
    for (const p of gone) this.lostHere.add(p);
    this.logger.warn({ partitions: gone, reason }, `partitions lost: ${gone.join(', ')} (${reason})`);
    // Not awaited before the partition may be taken again: a stop that hangs (seen once, after a
    // Redis restart) must not keep a partition unowned. The old workers are fenced meanwhile.
    for (const partition of gone) {
      void this.handlers.released(partition).catch((error: unknown) => this.logger.error({ err: error, partition }, 'could not stop a fenced partition'));
    }
  }

  /** Drains and releases every partition, then leaves, so others take over at once. Idempotent. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    if (this.guard) clearInterval(this.guard);
    this.loopDelay.disable();
    this.stopOutageLog?.();
    await this.tick;
    await Promise.all([...this.releasing.values(), ...[...this.held.keys()].map((p) => this.release(p))]);
    await this.redis.fnrunHeartbeat(this.keys.members, this.memberId, this.memberTtlMs, 1).catch(() => {});
  }

  /** A member is dead once silent for a lease TTL. */
  private get memberTtlMs(): number {
    return this.leaseTtlMs;
  }

  private schedule(): void {
    if (!this.running) return;
    this.timer = setTimeout(() => {
      this.tick = this.round().catch((error: unknown) => this.logger.error({ err: error }, 'partition ownership round failed')).finally(() => this.schedule());
    }, this.heartbeatMs);
  }

  private async round(): Promise<void> {
    const startedAt = Date.now();
    const startedAtMono = performance.now();
    const members = await this.redis.fnrunHeartbeat(this.keys.members, this.memberId, this.memberTtlMs, 0);
    const live = members.includes(this.memberId) ? members : [...members, this.memberId];
    const owner = assignPartitions(live, this.partitions);

    // Renew first: draining a partition that moves away can take a while, and must not let the
    // leases of the partitions that stay expire meanwhile.
    const renewing = [...this.held.keys()];
    const wanted = owner.flatMap((m, p) => (m === this.memberId && !this.held.has(p) && !this.releasing.has(p) ? [p] : []));
    const epochs = await this.acquire(renewing, wanted);
    this.lastRenewedAt = startedAt;
    this.renewedAtMono = startedAtMono;
    this.loopDelay.reset();
    const acquired: Promise<void>[] = [];
    const refused: number[] = [];
    const gained: number[] = [];
    [...renewing, ...wanted].forEach((p, i) => {
      const epoch = epochs[i] ?? 0;
      const token = epoch > 0 ? leaseToken(this.memberId, epoch) : null;
      if (i < renewing.length) {
        if (token !== this.held.get(p)) refused.push(p);
      } else if (token !== null) {
        this.held.set(p, token);
        gained.push(p);
        acquired.push(this.handlers.acquired(p, token));
      }
    });
    this.drop(refused, 'the lease could not be renewed: it expired and another process took it');
    const why = this.membersChange(live);
    if (gained.length > 0) {
      const again = gained.every((p) => this.lostHere.has(p));
      const reason = why ?? (again ? 'acquired again after this process had lost them' : 'their previous owner released them or its lease expired');
      for (const p of gained) this.lostHere.delete(p);
      this.logger.info({ partitions: gained, reason, members: live.length }, `partitions gained: ${gained.join(', ')} (${reason})`);
    }
    await Promise.all(acquired);

    // Hand over what moved away, in the background: the next rounds keep renewing the rest.
    const moving = [...this.held.keys()].filter((p) => owner[p] !== this.memberId && !this.releasing.has(p));
    if (moving.length > 0) {
      const reason = `assigned to another process${why ? ` (${why})` : ''}`;
      this.logger.info({ partitions: moving, reason, members: live.length }, `handing partitions over: ${moving.join(', ')} (${reason})`);
    }
    for (const p of [...this.held.keys()]) {
      if (owner[p] === this.memberId) continue;
      const releasing = this.release(p)
        .catch((error: unknown) => this.logger.error({ err: error, partition: p }, 'could not hand a partition over'))
        .finally(() => this.releasing.delete(p));
      this.releasing.set(p, releasing);
    }
  }

  /**
   * Renews `renewing` and tries to acquire `wanted`: the epoch each is held with now (0: another
   * member holds it, or the call failed). One script call on one server; one per partition on a
   * Cluster, where each partition is a slot of its own.
   */
  private async acquire(renewing: readonly number[], wanted: readonly number[]): Promise<number[]> {
    const all = [...renewing.map((p) => [p, 0] as const), ...wanted.map((p) => [p, 1] as const)];
    if (all.length === 0) return [];
    const call = (pairs: readonly (readonly [number, 0 | 1])[]) => {
      const keys = pairs.flatMap(([p]) => { const pk = this.keys.partition(p); return [pk.lease, pk.leaseEpoch]; });
      return [keys.length, keys, [this.memberId, this.leaseTtlMs, ...pairs.map(([, fresh]) => fresh)]] as const;
    };
    if (!isCluster(this.redis)) {
      // A failed call fails the round (logged); the guard lets the partitions go if it lasts.
      const reply = await this.redis.fnrunLeaseAcquire(...call(all));
      return all.map((_, i) => Number(reply[i] ?? 0));
    }
    const pipeline = crossSlotPipeline(this.redis) as unknown as ScriptedRedis & { exec(): Promise<[Error | null, unknown][] | null> };
    for (const pair of all) pipeline.fnrunLeaseAcquire(...call([pair]));
    const replies = (await pipeline.exec()) ?? [];
    return all.map((_, i) => {
      const [error, reply] = replies[i] ?? [new Error('no reply')];
      return error ? 0 : Number((reply as number[])[0] ?? 0);
    });
  }

  /** How the live members changed since the last round, in words; null when they did not. */
  private membersChange(members: readonly string[]): string | null {
    const before = new Set(this.members);
    const now = new Set(members);
    const first = this.members.length === 0;
    this.members = members;
    if (first) return `joined: ${members.length} live process(es) share ${this.partitions} partitions`;
    const joined = members.filter((m) => !before.has(m) && m !== this.memberId);
    const left = [...before].filter((m) => !now.has(m));
    if (joined.length === 0 && left.length === 0) return null;
    return [...joined.map((m) => `${m} joined`), ...left.map((m) => `${m} left or stopped heartbeating`)].join(', ') + `; ${members.length} live now`;
  }

  private async release(partition: number): Promise<void> {
    const token = this.held.get(partition);
    if (token === undefined) return;
    this.held.delete(partition);
    await this.handlers.released(partition);
    await this.redis.fnrunLeaseRelease(this.keys.partition(partition).lease, token).catch(() => {});
  }
}
