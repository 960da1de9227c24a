/**
 * What a function's isolates are watched for beyond isolated-vm's own limits, each watchdog tick:
 * a call it could not interrupt, an isolate that was disposed and still does not stop, and heap
 * growth that `memoryLimit` (a guideline) lets through.
 */
import { WEDGE_GRACE_MS, type LoadSpec } from '../protocol.ts';
import type { IsolateInstance } from './isolate-instance.ts';
import { recentRss } from './rss-sample.ts';

const HEAP_SAMPLE_MS = 250;
const MiB = 1024 * 1024;

/** What the guard does to a function's isolates. */
export interface IsolateGuardActions {
  /** Disposes `instance` (failing the invocation that ran on it). */
  kill(instance: IsolateInstance, kind: 'memory' | 'timeout', message: string): void;
  /** `instance` was disposed and its call still runs: only the process going away frees its thread. */
  unstoppable(instance: IsolateInstance): void;
}

/** Watches the isolates of one function version. */
export class IsolateGuard {
  readonly #limits: LoadSpec['limits'];
  readonly #actions: IsolateGuardActions;
  /** Disposed while a call ran on them, and when. */
  readonly #killedAt = new Map<IsolateInstance, number>();
  #heapSampledAt = 0;

  constructor(limits: LoadSpec['limits'], actions: IsolateGuardActions) {
    this.#limits = limits;
    this.#actions = actions;
  }

  /** `instance` is being disposed: if its call still runs, it must stop within the grace period. */
  disposing(instance: IsolateInstance): void {
    if (instance.running !== undefined) this.#killedAt.set(instance, Date.now());
  }

  /**
   * Disposed isolates whose call still runs: their thread can go on allocating (one huge fill),
   * so the process-wide RSS guard must count them as suspects, not blame a bystander.
   */
  stillRunning(): number {
    let n = 0;
    for (const inst of this.#killedAt.keys()) if (inst.running !== undefined) n++;
    return n;
  }

  /** Checks `instances` (the live list: a kill takes one out) at `now`. */
  tick(instances: readonly IsolateInstance[], now: number): void {
    const { timeoutMs, memoryMb } = this.#limits;
    for (const inst of [...instances]) {
      inst.sampleProgress(now);
      const call = inst.running;
      if (call === undefined || call.startedAt === 0) continue;
      const killedAt = this.#killedAt.get(inst);
      if (killedAt === undefined && now - call.startedAt > timeoutMs + WEDGE_GRACE_MS) {
        // isolated-vm did not manage to stop it (V8 does not interrupt some builtins, such as one
        // huge allocation's fill): dispose. Grown past its heap: a memory kill, else a timeout.
        const grewMb = Math.round((recentRss() - call.rssAtStart) / MiB);
        if (grewMb > memoryMb) this.#actions.kill(inst, 'memory', `exceeded memoryMb (${memoryMb} MiB): the process grew by ${grewMb} MiB in one uninterruptible operation`);
        else this.#actions.kill(inst, 'timeout', `exceeded timeoutMs (${timeoutMs} ms) and could not be interrupted`);
      }
    }
    for (const [inst, at] of this.#killedAt) {
      if (inst.running !== undefined && now - at > WEDGE_GRACE_MS) {
        this.#actions.unstoppable(inst);
        return;
      }
      if (inst.running === undefined) this.#killedAt.delete(inst);
    }
    if (now - this.#heapSampledAt >= HEAP_SAMPLE_MS) {
      this.#heapSampledAt = now;
      for (const inst of instances) if (inst.chains > 0) this.#sampleHeap(inst);
    }
  }

  #sampleHeap(instance: IsolateInstance): void {
    instance.isolate.getHeapStatistics().then((s) => {
      const used = s.used_heap_size + s.externally_allocated_size;
      if (used > this.#limits.memoryMb * 2 * MiB) this.#actions.kill(instance, 'memory', `exceeded memoryMb (${this.#limits.memoryMb} MiB): heap at ${Math.round(used / MiB)} MiB`);
    }, () => {});
  }
}
