/**
 * The `fnrun start` processes of a chaos run (a fixed number of slots, each restarted as new
 * incarnations), and the view of partition ownership the harness judges recovery by.
 */
import type { Redis } from 'ioredis';
import type { Keys } from '../../runtime/index.ts';
import { crossSlotPipeline } from '../../runtime/redis/pipeline.ts';
import { sleep } from './options.ts';
import { StartProcess, type HandlingSink } from './start-process.ts';

export class ProcessPool {
  /** The live incarnation of each slot. */
  readonly slots: StartProcess[] = [];
  /** Every process ever started, in order (handlings name them by index here). */
  readonly history: StartProcess[] = [];
  /** `proc <slot>.<inc>` of each history entry. */
  readonly names: string[] = [];
  private readonly args: string[];
  private readonly sink: HandlingSink;

  constructor(args: string[], sink: HandlingSink) {
    this.args = args;
    this.sink = sink;
  }

  start(slot: number): StartProcess {
    const inc = this.history.filter((p) => p.slot === slot).length;
    const proc = new StartProcess({ slot, inc, index: this.history.length, args: this.args, sink: this.sink });
    this.slots[slot] = proc;
    this.history.push(proc);
    this.names.push(proc.shortName);
    return proc;
  }

  async awaitReady(proc: StartProcess): Promise<void> {
    const deadline = Date.now() + 60_000;
    while (proc.member === null) {
      if (!proc.alive) throw new Error(`${proc.name} exited (${JSON.stringify(proc.exit)}) before it was ready: ${proc.stderr.slice(-2000)}`);
      if (Date.now() > deadline) throw new Error(`${proc.name} not ready after 60 s:\n${proc.tail.join('\n')}\n${proc.stderr.slice(-2000)}`);
      await sleep(50);
    }
  }

  /** Cleanup: kills every process group still there and waits for the processes to exit. */
  async killAll(): Promise<void> {
    for (const p of this.history) p.killGroup();
    await Promise.all(this.history.map((p) => p.exited));
  }
}

/** The pid inside a lease token `<host>:<pid>:<random>|<epoch>`. */
export function pidOf(token: string): number {
  const member = token.split('|')[0]!;
  const parts = member.split(':');
  return Number(parts[parts.length - 2]);
}

export class OwnershipWatch {
  private readonly redis: Redis;
  private readonly keys: Keys;
  private readonly partitions: number;
  private readonly pool: ProcessPool;
  private readonly processes: number;
  private readonly leaseTtlMs: number;

  constructor(o: { redis: Redis; keys: Keys; partitions: number; pool: ProcessPool; processes: number; leaseTtlMs: number }) {
    this.redis = o.redis;
    this.keys = o.keys;
    this.partitions = o.partitions;
    this.pool = o.pool;
    this.processes = o.processes;
    this.leaseTtlMs = o.leaseTtlMs;
  }

  /** Lease tokens of every partition (null: unowned), or null when Redis does not answer. */
  async leases(): Promise<(string | null)[] | null> {
    try {
      // One GET per partition: on a Cluster the leases live in different slots (no MGET).
      const pipeline = crossSlotPipeline(this.redis);
      for (let p = 0; p < this.partitions; p++) pipeline.get(this.keys.partition(p).lease);
      const replies = (await pipeline.exec()) ?? [];
      return replies.map(([error, value]) => {
        if (error) throw error;
        return value as string | null;
      });
    } catch {
      return null;
    }
  }

  /** Every partition leased to a running, unpaused process, all processes with a share, none above ceil(P/N). */
  balanced(tokens: (string | null)[]): boolean {
    const live = new Set(this.pool.slots.filter((p) => p.alive && !p.paused).map((p) => p.pid));
    if (live.size !== this.processes) return false;
    const counts = new Map<number, number>();
    for (const t of tokens) {
      if (t === null) return false;
      const pid = pidOf(t);
      if (!live.has(pid)) return false;
      counts.set(pid, (counts.get(pid) ?? 0) + 1);
    }
    return counts.size === this.processes && [...counts.values()].every((c) => c <= Math.ceil(this.partitions / this.processes));
  }

  /**
   * Recovered: balanced, and no lease changed hands (same member and epoch) over one lease TTL.
   * An owner that could not renew during the fault gives its partitions up within 80% of a TTL
   * (README), so a TTL without a change means the fault's after-effects on ownership are over.
   * Returns the time the stable interval ended: the fault's window ends there.
   */
  async awaitRecovered(what: string): Promise<number> {
    const deadline = Date.now() + 90_000;
    for (;;) {
      const dead = this.pool.slots.find((p) => !p.alive);
      if (dead) throw new Error(`${dead.name} exited (${JSON.stringify(dead.exit)}) while waiting for recovery after ${what}: ${dead.stderr.slice(-1500)}`);
      const a = await this.leases();
      if (a !== null && this.balanced(a)) {
        await sleep(this.leaseTtlMs);
        const b = await this.leases();
        if (b !== null && this.balanced(b) && a.every((t, i) => t === b[i])) return Date.now();
      } else {
        await sleep(100);
      }
      if (Date.now() > deadline) {
        const now = await this.leases();
        throw new Error(`not recovered 90 s after ${what}: leases ${JSON.stringify(now)}; processes ${this.pool.slots.map((p) => `${p.name} alive=${p.alive} paused=${p.paused}`).join(', ')}`);
      }
    }
  }

  /** Waits until no partition is leased to `pid` (a paused process's partitions were taken over). */
  async awaitTakenFrom(pid: number, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const tokens = await this.leases();
      if (tokens !== null && tokens.every((t) => t !== null && pidOf(t) !== pid)) return true;
      if (Date.now() > deadline) return false;
      await sleep(100);
    }
  }
}
